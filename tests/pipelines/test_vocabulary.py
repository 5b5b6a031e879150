"""Token selection: frequency order, ties by token, thresholds and caps, a base
dataset's tokens kept where they were; growth from counts by day (a window for
min_count, retirement in place) and the vocabulary version a dataset records."""

import dataclasses
import glob
import shutil

import pytest

from features import dataset as dataset_lib
from features import spec as spec_lib
from pipelines import vocabulary
from pipelines import vocabulary_counts
from world_fixtures import run_join


def test_most_frequent_first_ties_by_token_rare_dropped_and_capped():
  counts = [("b", 3), ("a", 3), ("c", 5), ("rare", 1), ("d", 2)]
  assert vocabulary.select_tokens(counts, min_count=2, max_tokens=None) == [
      "c", "a", "b", "d"]
  assert vocabulary.select_tokens(counts, min_count=2, max_tokens=2) == ["c", "a"]
  assert vocabulary.select_tokens(counts, min_count=10, max_tokens=None) == []


def test_a_base_keeps_its_order_and_new_tokens_follow_by_frequency():
  counts = [("b", 3), ("a", 3), ("c", 5), ("rare", 1), ("new", 4)]
  base = ["a", "gone", "c"]
  assert vocabulary.select_tokens(counts, 2, None, base) == [
      "a", "gone", "c", "new", "b"]
  # A cap leaves room for the base first: its tokens are never dropped.
  assert vocabulary.select_tokens(counts, 2, 4, base) == ["a", "gone", "c", "new"]
  assert vocabulary.select_tokens(counts, 2, 2, base) == base


def test_a_join_that_extends_a_base_keeps_every_base_tokens_index(tiny_world,
                                                                 tmp_path):
  # Yesterday's dataset: the logs of the first days; today's: all of them.
  yesterday_raw = tmp_path / "raw"
  for log in ("impressions", "clicks", "detail_pages"):
    (yesterday_raw / log).mkdir(parents=True)
    for path in sorted(glob.glob(f"{tiny_world.raw_dir}/{log}/*"))[:-1]:
      shutil.copy(path, yesterday_raw / log)
  base, today = str(tmp_path / "base"), str(tmp_path / "today")
  run_join(str(yesterday_raw), base, eval_days=1)
  run_join(tiny_world.raw_dir, today, base_vocabulary_dir=base)
  report = dataset_lib.PublishedDataset.open(today).report
  assert report.data["vocabulary_base"] == {
      "data_dir": base,
      "run_id": dataset_lib.PublishedDataset.open(base).report.data["run_id"],
      "vocabulary_version": 1}
  assert report.data["vocabulary_version"] == 2
  grew = 0
  for name in dataset_lib.PublishedDataset.open(today).spec.vocabularies():
    old = vocabulary.read_tokens(base, name)
    new = vocabulary.read_tokens(today, name)
    assert new[:len(old)] == old, name
    grew += len(new) > len(old)
  assert grew  # Some vocabulary has tokens first seen in the last day.


# --- Growing from counts by day: a window for min_count, a horizon for retirement --

ITEMS = dataclasses.replace(spec_lib.DEFAULT_SPEC["item_id"], min_count=2,
                            min_count_days=2, retire_after_days=2)


def _days(base, carried, counted, settings=ITEMS):
  return vocabulary.grow(base, carried, counted, settings)


def test_a_new_token_is_counted_over_the_window_and_a_stale_one_retired():
  # Day 10: "b" is seen once, under min_count 2.
  day10 = _days([], None, {"a": {10: 3}, "b": {10: 1}})
  assert day10.tokens == ["a"]
  # Day 11: once more; over the 2-day window it reaches 2 and is appended.
  day11 = _days(day10.tokens, day10.carried, {"a": {11: 1}, "b": {11: 1},
                                              "c": {11: 1}})
  assert day11.tokens == ["a", "b"]
  # Day 12: the window is days 11-12: day 10's "b" no longer counts, "c" stays at 1.
  day12 = _days(day11.tokens, day11.carried, {"a": {12: 1}})
  assert day12.tokens == ["a", "b"]
  assert day12.carried["b"] == vocabulary_counts.TokenDays(11, {11: 1})
  assert day12.carried["c"] == vocabulary_counts.TokenDays(11, {11: 1})
  # Day 13: "b", last seen on day 11, is 2 days unseen: its line is retired in place.
  day13 = _days(day12.tokens, day12.carried, {"a": {13: 1}})
  assert day13.tokens == ["a", "[RETIRED]1"]
  assert set(day13.carried) == {"a"}  # "c" went stale before reaching min_count.
  # Day 14: "b" is back: a new token, at a new index; the retired line stays.
  day14 = _days(day13.tokens, day13.carried, {"a": {14: 1}, "b": {14: 2}})
  assert day14.tokens == ["a", "[RETIRED]1", "b"]


def test_without_a_window_min_count_counts_the_splits_own_days():
  settings = dataclasses.replace(ITEMS, min_count_days=None)
  day10 = _days([], None, {"b": {10: 1}}, settings)
  assert _days(day10.tokens, day10.carried, {"b": {11: 1}}, settings).tokens == []
  assert _days([], None, {"b": {10: 1, 11: 1}}, settings).tokens == ["b"]


def test_a_base_without_counts_is_seen_the_day_before():
  assert _days(["old"], None, {"a": {20: 2}}).tokens == ["old", "a"]
  assert _days(["old"], None, {"a": {20: 2, 21: 1}}).tokens == ["[RETIRED]0", "a"]


def test_a_counted_token_written_like_a_retired_line_is_refused():
  with pytest.raises(ValueError, match=r"item_id.*\[RETIRED\]7.*rename"):
    _days([], None, {"[RETIRED]7": {10: 5}})


def test_the_version_counts_the_vocabularies_extended(tmp_path):
  assert vocabulary.version_record(None) == {"vocabulary_version": 1}
  (tmp_path / "run_report.json").write_text('{"run_id": "r1", "vocabulary_version": 4}')
  assert vocabulary.version_record(str(tmp_path)) == {
      "vocabulary_version": 5,
      "vocabulary_base": {"data_dir": str(tmp_path), "run_id": "r1",
                          "vocabulary_version": 4}}
