"""features.inference.sampling: what a sample of the logs counts, by JSON type."""

import json

import numpy as np
import pytest

from features.inference import sampling
from log_lines import write_lines


def test_value_stats_count_each_json_type_apart():
  stats = sampling.ValueStats()
  stats.absorb([None, "", "a", "a", 3, 2.5, True, {"k": 1}, [1]])
  assert (stats.nulls, stats.empties, stats.strings, stats.ints, stats.floats,
          stats.bools, stats.objects, stats.lists) == (1, 1, 2, 1, 1, 1, 1, 1)
  assert stats.seen == 9  # Every value: the key was there.
  assert stats.carried == 7  # Less null and "".
  assert stats.categories == 4  # "a", "a", 3, True.
  # Numbers in sample order; the boolean is no number.
  assert list(stats.numbers) == [3.0, 2.5]


def test_booleans_count_as_their_tokens_not_as_one_and_zero():
  stats = sampling.ValueStats()
  stats.absorb([True, 1, False, 0, "x", None, ""])
  assert dict(stats.counts) == {"true": 1, 1: 1, "false": 1, 0: 1, "x": 1}
  assert stats.distinct_ints() == 2
  assert stats.singletons() == 5 and stats.distinct_text() == "5"


def test_absorb_hands_back_the_objects_to_walk():
  stats = sampling.ValueStats()
  assert stats.absorb([{"a": 1}, "s", {"b": 2}]) == [{"a": 1}, {"b": 2}]
  assert stats.absorb(["t"]) == []


def test_counting_stops_past_the_cap(monkeypatch):
  monkeypatch.setattr(sampling, "DISTINCT_CAP", 3)
  stats = sampling.ValueStats()
  stats.absorb(["a", "b", "c"])
  assert not stats.capped
  stats.absorb(["d"])
  assert stats.capped and stats.distinct_text() == ">0k"
  stats.absorb(["e", "f"])
  assert len(stats.counts) == 4  # Not counted once capped.


def test_an_integer_past_a_double_is_an_infinite_number():
  stats = sampling.ValueStats()
  stats.absorb([1, 10 ** 400])
  assert stats.ints == 2
  assert list(stats.numbers) == [1.0, np.inf]


@pytest.mark.parametrize("part,whole,text", [
    (3, 1000, "3 of 1,000 (0.3%)"),
    (1, 10_000, "1 of 10,000 (<0.1%)"),  # Not 0.0%: there is one.
    (9_999, 10_000, "9,999 of 10,000 (>99.9%)"),  # Not 100.0%: one is missing.
    (0, 10, "0 of 10 (0.0%)"),
    (7, 0, "7"),  # Of nothing: the count alone.
])
def test_percent_says_a_share_that_rounds_to_an_end_is_not_there(part, whole, text):
  assert sampling.percent(part, whole) == text


def test_codes_by_record_mark_the_missing_and_the_unseen_records():
  codes = sampling.Codes()
  # Records 0, 2, 3, 4 carry the key; record 1 lacks it; 5 records in all.
  codes.absorb(["x", "", "y", "x"], [0, 2, 3, 4], strings=True)
  codes.absorb([None], [5], strings=False)
  assert codes.by_record(6).tolist() == [0, -1, -1, 2, 0, -1]


def test_codes_read_booleans_and_integers_as_the_job_does():
  codes = sampling.Codes()
  codes.absorb([True, "true", 3, 2.5], [0, 1, 2, 3], strings=False)
  # True is the token "true"; a float is no category.
  assert codes.by_record(4).tolist() == [0, 0, 1, -1]


def _impression(i, **changes):
  return json.dumps({"impression_id": f"imp{i}", "user_id": f"u{i}",
                     "ts_ms": 1000 + i, "user": {"geo": {"city": f"c{i}"}},
                     "item": {"shop": f"s{i % 2}"}, **changes})


def test_an_impression_sample_reads_nested_keys_and_skips_lines_that_are_no_object(
    tmp_path):
  write_lines(str(tmp_path / "b.jsonl"), [_impression(2), "[1, 2]", _impression(3)])
  write_lines(str(tmp_path / "a.jsonl.gz"),
              [_impression(0), "{broken", _impression(1, item="none")])
  imp = sampling.ImpressionSample()
  sample = imp.read(f"{tmp_path}/*", limit=5)
  # Files in name order; the 6th line (impression 3) is past the limit.
  assert (sample.files, sample.files_read, sample.lines, sample.skipped) == (2, 2, 5, 2)
  assert sample.first_skipped.endswith("a.jsonl.gz line 2")
  assert imp.records == 3 and imp.ids == ["imp0", "imp1", "imp2"]
  assert imp.objects == {"user": 3, "item": 2}  # Impression 1's item is a string.
  assert imp.stats[("user", "geo", "city")].strings == 3
  assert imp.stats[("user", "geo")].objects == 3
  # Counted in `objects` alone: a user / item that is no object is no field.
  assert ("impression", "item") not in imp.stats
  assert imp.item_codes[("item", "shop")].by_record(3).tolist() == [0, -1, 0]
  assert sample.describe() == (f"5 lines of {tmp_path}/* (all 2 files), 2 skipped "
                               f"(the first: {tmp_path}/a.jsonl.gz line 2)")


def test_a_detail_sample_keeps_lines_with_an_event_and_their_finite_numbers(tmp_path):
  lines = [{"impression_id": "imp0", "ts_ms": 5, "event": "view", "dwell_ms": 30},
           {"impression_id": "imp0", "ts_ms": 6, "event": "", "dwell_ms": 1},
           {"impression_id": "imp1", "ts_ms": 7, "event": "view", "dwell_ms": "n/a"},
           {"impression_id": "imp1", "ts_ms": 8, "event": "cart", "qty": 2.5}]
  write_lines(str(tmp_path / "d.jsonl"), [json.dumps(line) for line in lines])
  details = sampling.DetailSample()
  sample = details.read(f"{tmp_path}/*", limit=10)
  assert (sample.lines, sample.skipped) == (4, 1)  # The line whose event is "".
  assert details.lines == {"view": 2, "cart": 1}
  assert details.events == ["view", "view", "cart"]
  # The event keys are no fields.
  assert set(details.fields["view"]) == {"dwell_ms"}
  assert details.fields["view"]["dwell_ms"].strings == 1
  view_lines, view_numbers = details.numbers["view", "dwell_ms"]
  assert (list(view_lines), list(view_numbers)) == ([0], [30.0])
  assert list(details.numbers["cart", "qty"][1]) == [2.5]


def test_a_pattern_without_files_names_its_flag(tmp_path):
  with pytest.raises(ValueError, match=r"--clicks='.*nothing\*' matches no file"):
    sampling.ClickSample().read(f"{tmp_path}/nothing*", limit=1)
