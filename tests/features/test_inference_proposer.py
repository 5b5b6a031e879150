"""features.inference.proposer: how each logged key is proposed, or why not."""

import json

import pytest

from features.inference import proposer as proposer_lib
from features.inference.measures import Measures
from features.inference.sampling import DetailSample, ImpressionSample, ValueStats
from log_lines import write_lines

T0 = 1_767_571_200_000  # 2026-01-05 00:00 UTC.
N = 30  # Impressions: over MAX_CODES distinct ages and brand ids.


def _impression(i):
  record = {"impression_id": f"imp{i}", "request_id": f"req{i}", "user_id": f"u{i % 5}",
            "item_id": f"i{i}", "ts_ms": T0 + i, "position": i % 4,
            "user": {"tier": i % 3 + 1, "age": 20 + i,
                     "mixed": {"a": 1} if i % 2 else "s"},
            "item": {"brand_id": 1000 + i, "price": 1.5 + i, "shop": f"s{i % 4}"}}
  if i == 0:
    del record["item"]
  return json.dumps(record)


def _propose(tmp_path, impressions, min_share=0.99):
  write_lines(str(tmp_path / "i" / "i.jsonl"), impressions)
  write_lines(str(tmp_path / "d" / "d.jsonl"), [json.dumps(
      {"impression_id": "imp1", "ts_ms": T0 + 1000, "event": "view"})])
  imp, details = ImpressionSample(), DetailSample()
  imp.read(f"{tmp_path}/i/*", 1000)
  details.read(f"{tmp_path}/d/*", 1000)
  proposer = proposer_lib.Proposer(imp, details, Measures(imp, details, None),
                                   min_share)
  return proposer, proposer.propose()


@pytest.fixture(name="proposed")
def _proposed(tmp_path):
  return _propose(tmp_path, [_impression(i) for i in range(N)])


def _entries(proposal):
  return {e.body["name"]: e for _, entries in proposal.sections for e in entries}


def test_integers_are_codes_ids_or_quantities_by_their_values_and_name(proposed):
  _, proposal = proposed
  entries = _entries(proposal)
  kinds = {name: entries[name].body["kind"] for name in
           ("tier", "brand_id", "age", "price", "shop")}
  assert kinds == {"tier": "categorical",  # 3 distinct integers: codes.
                   "brand_id": "categorical",  # Integers named like an id.
                   "age": "numeric", "price": "numeric", "shop": "categorical"}
  assert entries["tier"].comments[1].startswith(
      f"Categorical: integers with at most {proposer_lib.MAX_CODES} distinct")
  assert (entries["age"].body["dtype"], entries["price"].body["dtype"]) == (
      "int64", "float32")
  # Ages 20..49: 10 x 49 -> [0, 1000]; the median 34.5 to two digits, an integer.
  assert (entries["age"].body["bounds"], entries["age"].body["default"]) == (
      [0, 1000], 34)


def test_position_is_numeric_and_privileged_for_every_task(proposed):
  _, proposal = proposed
  position = _entries(proposal)["position"].body
  assert position["kind"] == "numeric" and position["group"] == "context"
  assert position["privileged_in"] == list(proposal.tasks) and "ctr" in proposal.tasks


def test_identity_and_metadata_are_read_from_the_contracts_fields(proposed):
  _, proposal = proposed
  assert proposal.identity == {"request": "request_id", "user": "user_id",
                               "item": "item_id"}
  metadata = dict(proposal.sections)[
      "Metadata: tracing, time and grouping; never model inputs."]
  assert [(e.body["name"], e.body["dtype"]) for e in metadata] == [
      ("impression_id", "string"), ("request_id", "string"), ("ts_ms", "int64")]


def test_a_key_neither_category_nor_number_is_not_proposed_and_frees_its_name(
    proposed):
  proposer, proposal = proposed
  # user.mixed: half strings, half objects (too few to be an object whose keys count).
  assert "mixed" not in _entries(proposal) and "mixed" not in proposer.names.taken
  assert ("Not proposed: user.mixed, neither a category nor a number on 99.0% of the "
          "sampled records that carry it: 15 strings, 0 numbers, 0 booleans, 15 "
          "objects or lists.") in proposal.notes


def test_item_categories_are_kept_as_grouping_candidates(proposed):
  proposer, _ = proposed
  groupings = {g.name: g for g in proposer.item_categories}
  assert set(groupings) == {"brand_id", "shop"}
  # 29 of 30 records have an item: under 99% of them, so not covered.
  assert (groupings["shop"].distinct, groupings["shop"].covered,
          groupings["shop"].coded) == (4, False, False)


def test_a_record_without_its_item_object_is_noted_as_a_dead_letter(proposed):
  _, proposal = proposed
  assert ("`item` is absent or not an object on 1 of 30 (3.3%) sampled records: the "
          "job requires an object, so those lines are dead letters at join time."
          ) in proposal.notes


def test_no_usable_impression_or_no_item_id_is_refused(tmp_path):
  with pytest.raises(ValueError, match="no impression line in the sample is a JSON"):
    _propose(tmp_path / "empty", ["[1]"])
  without_item = [json.dumps({**json.loads(_impression(i)), "item_id": None})
                  for i in range(3)]
  with pytest.raises(ValueError, match="no sampled impression has `item_id`"):
    _propose(tmp_path / "anonymous", without_item)


def test_sources_are_ordered_user_then_item_then_top_level():
  paths = [("impression", "a"), ("item", "b"), ("user", "z"), ("item", "a"),
           ("user", "a", "b")]
  ordered = sorted(((p, ValueStats()) for p in paths), key=proposer_lib.source_order)
  assert [p for p, _ in ordered] == [("user", "a", "b"), ("user", "z"), ("item", "a"),
                                     ("item", "b"), ("impression", "a")]
