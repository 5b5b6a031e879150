"""features.inference.derived: crosses, histories and leaks, on given measures."""

import types

import numpy as np
import pytest

from features.inference import defaults
from features.inference import derived
from features.inference.measures import Candidate, Lift
from features.inference.proposal import Entry, Grouping, Names, Proposal


def _grouping(name, distinct, covered=True, coded=False):
  return Grouping(name, ("item", name), distinct, covered, coded)


def _proposer(categories, lifts=None, candidates=None, clicks=10, records=100):
  """A Proposer's fields as derived reads them: each category's `lift` and each
  (event, field)'s `candidate` given; any other measure asked for fails."""
  lifts, candidates = lifts or {}, candidates or {}
  measures = types.SimpleNamespace(
      records=records, clicks=clicks, click_source="the sampled click lines",
      measured=np.ones(records, bool), lift=lambda codes: lifts[codes],
      candidate=lambda label, event, field: candidates[label, event, field])
  # A category's codes stand for it: `lift` is handed its name.
  item_codes = {g.path: types.SimpleNamespace(by_record=lambda n, name=g.name: name)
                for g in categories}
  return types.SimpleNamespace(
      item_categories=categories, measures=measures,
      imp=types.SimpleNamespace(item_codes=item_codes), names=Names(),
      out=Proposal(identity={"user": "user_id", "item": "item_id"}),
      conversion_label="purchase")


# A fifth of the impressions where the user clicked the value before: click rates 0.8
# vs 0.05, 0.5 vs 0.1, 0.4 vs 0.1 (each significant; the last on 200 impressions),
# and 0.1 vs 0.2 (a lift below 1).
STRONG, MEDIUM, WEAK = (Lift(100, 20, 16, 4, 2.0, 1.0), Lift(100, 20, 10, 8, 2.0, 1.0),
                        Lift(200, 40, 16, 16, 2.0, 1.0))
BELOW_ONE = Lift(100, 20, 2, 16, 1.0, 0.0)


def test_the_crosses_of_most_information_that_pass_are_chosen():
  assert STRONG.bits > MEDIUM.bits > WEAK.bits and all(
      lift.chosen for lift in (STRONG, MEDIUM, WEAK)) and not BELOW_ONE.chosen
  p = _proposer([_grouping("brand", 50), _grouping("shop", 40),
                 _grouping("category", 12), _grouping("color", 8),
                 _grouping("single", 1), _grouping("huge", 200_000)],
                lifts={"brand": WEAK, "shop": STRONG, "category": MEDIUM,
                       "color": BELOW_ONE})
  chosen = derived.grouping_attributes(p)
  assert list(chosen) == ["shop", "category"]  # CROSSES, by bits.
  assert chosen["shop"] == ("Chosen by its measure on the sample: "
                            f"{STRONG.describe('shop')}.")
  (note,) = p.out.notes
  assert note.startswith("Histories and crosses:")
  assert "On 100 of 100 (100.0%) sampled impressions" in note
  # Measured in order of information; one value or past the cap: not a candidate.
  assert note.index("shop:") < note.index("category:") < note.index("brand:")
  assert "single" not in note and "huge" not in note


def test_without_a_click_a_coarse_and_a_fine_name_are_chosen_by_their_values():
  p = _proposer([_grouping("rating", 5, coded=True), _grouping("shop", 40),
                 _grouping("category", 12), _grouping("brand", 2000, covered=False),
                 _grouping("flag", 2)], clicks=0)
  chosen = derived.grouping_attributes(p)
  # Covered names first (not the integer codes, not the partly read brand); of them
  # the fewest values, then the most.
  assert list(chosen) == ["category", "shop"]
  assert chosen["category"] == ("Chosen by its number of values (no attribute passes "
                                "the measure; see the header).")
  assert "None passes (no click in the sample)" in p.out.notes[0]


@pytest.mark.parametrize("categories,chosen", [
    # No other of the coarse one's tier: the next one ranked.
    ([("category", 12, True, False), ("rating", 5, True, True)],
     ["category", "rating"]),
    ([("category", 12, True, False)], ["category"]),
    ([("flag", 2, True, False), ("sku", 20_000, True, False)], []),  # Out of range.
])
def test_by_their_values_the_fine_one_falls_back_to_the_next_tier(categories, chosen):
  p = _proposer([_grouping(*c) for c in categories], clicks=0)
  assert list(derived.grouping_attributes(p)) == chosen


def test_histories_list_the_items_and_each_attribute_clicked():
  p = _proposer([])
  entries = derived.behaviour(p, {"category": "Why category."})
  length = defaults.proposed().history_length
  assert [e.body for e in entries] == [
      {"name": f"hist_{of}s", "kind": "sequence",
       "derive": {"op": "history", "of": of}, "max_length": length,
       "description": f"The {of} of the user's last {length} clicks before the "
                      "impression."}
      for of in ("item_id", "category")]
  assert entries[0].comments == ["The user's clicked item_ids; they share item_id's "
                                 "vocabulary."]
  assert entries[1].comments[-1] == "Why category."


def test_crosses_count_clicks_sharing_the_attribute_privileged_for_ctr():
  p = _proposer([_grouping("brand_id", 1200)])
  (entry,) = derived.cross(p, {"brand_id": "Why brand."})
  window = defaults.proposed().cross_window
  assert entry.body["name"] == f"user_brand_clicks_{window}"  # _id dropped.
  assert entry.body["derive"] == {"op": "clicks_sharing", "of": "brand_id",
                                  "window": window}
  assert entry.body["privileged_in"] == ["ctr"]
  assert "(1,200 brand_id values in the sample)" in entry.comments[0]
  assert entry.comments[1] == "Why brand."


def test_post_event_aggregates_are_privileged_for_cvr_unless_they_leak():
  p = _proposer([], candidates={
      ("purchase", "view", None): Candidate(0.99, clicked=100, positives=40),
      ("purchase", "view", "dwell_ms"): Candidate(0.6, clicked=100, positives=40)})
  p.out.events = {"view": Entry({"fields": {"dwell_ms": {}}}, []),
                  "purchase": Entry({}, [])}
  count, dwell = derived.post_event(p, "purchase")
  assert count.body["derive"] == {"op": "count", "event": "view",
                                  "before": "purchase"}
  assert count.body["excluded_from"] == ["ctr", "cvr"]
  assert "privileged_in" not in count.body and "A leak" in count.comments[1]
  assert (dwell.body["name"], dwell.body["derive"]) == (
      "view_dwell_ms_total", {"op": "sum", "event": "view", "field": "dwell_ms"})
  assert (dwell.body["privileged_in"], dwell.body["excluded_from"]) == (["cvr"],
                                                                        ["ctr"])
  assert p.out.notes == [
      f"Leaks: view_count: a univariate AUC against 'purchase' at or beyond "
      f"{derived.LEAK_AUC} (or its mirror), so excluded from every task, not "
      "privileged (see each comment)."]


def test_without_a_conversion_there_is_no_post_event_feature():
  assert derived.post_event(_proposer([]), None) == []
