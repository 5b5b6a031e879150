"""features.inference.rendering: the proposal as commented YAML that loads as the
mapping it was made from."""

import yaml

from features.inference import rendering
from features.inference.proposal import Entry, Proposal
from features.inference.sampling import LogSample
from proposal_text import comment_of

_LONG = "a description long enough that the row no longer fits on one line of the file"


def _render(proposal):
  return rendering.render(proposal, LogSample("imp/*", 1, 1, 10), LogSample("dp/*"),
                          None, 0.99)


def _proposal():
  proposal = Proposal(identity={"user": "user_id", "item": "item_id"})
  proposal.events["view"] = Entry({}, ["view: seen."])
  proposal.tasks["ctr"] = Entry({"label": "click", "examples": "all"}, ["CTR."])
  proposal.sections = [
      ("Numbers.", [Entry({"name": "price", "kind": "numeric", "bounds": [0.0, 1e38]},
                          ["Why price, at some length: " + "word " * 20 + "end."]),
                    Entry({"name": "note", "kind": "numeric", "description": _LONG},
                          ["Quoted: a comma."])]),
      ("Empty section.", [])]
  return proposal


def test_each_entry_sits_under_its_wrapped_comment():
  text = _render(_proposal())
  # The first entry of a section has the section's title above its comment.
  assert comment_of(text, "price").startswith("Numbers. Why price, at some length:")
  assert comment_of(text, "price").endswith("word end.")
  assert comment_of(text, "note") == "Quoted: a comma."
  assert max(len(line) for line in text.splitlines() if "#" in line) <= 88
  assert "  # Numbers." in text and "Empty section." not in text


def test_the_text_loads_as_the_proposal():
  parsed = yaml.safe_load(_render(_proposal()))
  assert parsed["identity"] == {"user": "user_id", "item": "item_id"}
  assert parsed["events"] == {"view": {}}
  assert parsed["features"][0]["bounds"] == [0.0, 1e38]  # A float, not "1e+38".
  assert parsed["features"][1]["description"] == _LONG


def test_a_row_that_fits_is_one_line_else_one_key_per_line():
  lines = _render(_proposal()).splitlines()
  assert "  - {name: price, kind: numeric, bounds: [0.0, 1.0e+38]}" in lines
  assert "  - name: note" in lines and f"    description: {_LONG}" in lines


def test_an_empty_section_is_bare():
  proposal = _proposal()
  proposal.events.clear()
  text = _render(proposal)
  assert "\nevents:\n" in text and yaml.safe_load(text)["events"] is None

