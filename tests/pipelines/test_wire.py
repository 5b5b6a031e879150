"""Shuffled records cross as bytes and come back equal, feature names restored."""

import collections
import os
import subprocess
import sys

from pipelines import impression_join
from pipelines import wire
from features import spec as spec_lib
from pipelines.impression_join import JoinedImpression
from pipelines.log_records import Click, DetailEvent, Impression, Log

NAMES = ["impression_id", "price", "position", "segment"]
IMPRESSION = Impression("imp1", "u1", 1_767_571_200_000,
                        {"impression_id": "imp1", "price": 12.5, "position": 3,
                         "segment": None}, "impressions-0.jsonl.gz")


def test_impression_round_trip_restores_names_and_types():
  encoded = wire.batch_to_wire(Log.IMPRESSIONS, [wire.impression_fields(IMPRESSION)])
  assert isinstance(encoded, bytes)
  [group] = wire.by_impression(wire.by_log([encoded])).values()
  decoded = wire.impression_from_fields(group[Log.IMPRESSIONS][0], NAMES)
  assert decoded == IMPRESSION
  assert decoded.canonical() == IMPRESSION.canonical()  # Dedupe compares this.


def test_joined_records_cross_as_columns_without_the_source():
  joined = JoinedImpression(IMPRESSION, 1, IMPRESSION.ts_ms + 5, (0,),
                            (700.0, 1, 0, 0, 0))
  unclicked = JoinedImpression(IMPRESSION._replace(impression_id="imp2"), 0, -1,
                               None, None)
  encoded = wire.joined_batch_to_wire([wire.joined_fields(joined),
                                       wire.joined_fields(unclicked)])
  decoded = wire.joined_batch_from_wire(encoded)
  assert [wire.joined_order(fields) for fields in decoded] == [
      ("u1", IMPRESSION.ts_ms, "imp1"), ("u1", IMPRESSION.ts_ms, "imp2")]
  columns = wire.JoinedColumns.of(decoded, len(NAMES))
  assert columns == wire.JoinedColumns(
      ("imp1", "imp2"), ("u1", "u1"), (IMPRESSION.ts_ms,) * 2,
      [(v, v) for v in IMPRESSION.values.values()], (1, 0),
      (IMPRESSION.ts_ms + 5, -1), ((0,), None), ((700.0, 1, 0, 0, 0), None))
  assert "impressions-0.jsonl.gz" not in str(decoded)  # The source stays behind.
  assert wire.JoinedColumns.of([], len(NAMES)).values == [()] * len(NAMES)


def test_a_lone_impression_joins_as_the_general_join_does():
  [group] = wire.by_impression(wire.by_log([wire.batch_to_wire(
      Log.IMPRESSIONS, [wire.impression_fields(IMPRESSION)])])).values()
  [joined] = wire.lone_impressions_joined(group[Log.IMPRESSIONS])
  general = impression_join.join_impression(
      [IMPRESSION], [], [], impression_join.JoinRules.from_spec(spec_lib.DEFAULT_SPEC))
  assert joined == wire.joined_fields(general.joined)
  assert not general.dead_letters and not +general.outcomes and not +general.notes


def test_a_join_bucket_regroups_by_impression_and_log():
  other = IMPRESSION._replace(impression_id="imp2")
  click = Click("imp1", 5, "clicks.jsonl")
  view = DetailEvent("imp2", 6, "view", (700,), "detail.jsonl")
  records = wire.by_log([
      wire.batch_to_wire(Log.CLICKS, [tuple(click)]),
      wire.batch_to_wire(Log.IMPRESSIONS, [wire.impression_fields(IMPRESSION)]),
      wire.batch_to_wire(Log.DETAIL_PAGES, [tuple(view)]),
      wire.batch_to_wire(Log.IMPRESSIONS, [wire.impression_fields(other)]),
      wire.batch_to_wire(Log.CLICKS, [tuple(click)])])
  assert list(wire.by_impression(records, ids={"imp2"})) == ["imp2"]
  groups = wire.by_impression(records)
  assert sorted(groups) == ["imp1", "imp2"]
  decoded = {
      impression_id: (
          [wire.impression_from_fields(f, NAMES) for f in group[Log.IMPRESSIONS]],
          [wire.record_from_fields(f, Click) for f in group[Log.CLICKS]],
          [wire.record_from_fields(f, DetailEvent) for f in group[Log.DETAIL_PAGES]])
      for impression_id, group in groups.items()}
  assert decoded == {"imp1": ([IMPRESSION], [click, click], []),
                     "imp2": ([other], [], [view])}


def test_join_keys_are_buckets_every_process_agrees_on():
  ids = [f"imp{i}" for i in range(100_000)]
  keys = [wire.join_key(i) for i in ids]
  assert set(keys) <= set(range(wire.JOIN_BUCKETS))
  # ~3 ids a bucket: spread over most buckets, and none much larger than that.
  sizes = collections.Counter(keys)
  assert len(sizes) > 0.8 * wire.JOIN_BUCKETS and max(sizes.values()) <= 15
  # Workers are other processes, with other string hash seeds.
  code = ("from pipelines import wire\n"
          "print([wire.join_key(f'imp{i}') for i in range(0, 100_000, 997)])")
  for seed in ("1", "2"):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": seed})
    assert result.stdout.strip() == str(keys[::997])


def test_a_shuffle_bucket_is_the_key_hash_modulo_the_buckets():
  ids = [f"imp{i}" for i in range(10_000)]
  assert [wire.bucket(i, 256) for i in ids] == [wire.join_key(i) % 256 for i in ids]
  assert collections.Counter(wire.bucket(i, 7) for i in ids).keys() == set(range(7))
  assert wire.buckets(ids, 256) == [wire.bucket(i, 256) for i in ids]


def test_batches_fill_per_bucket_and_drain_when_too_many_wait(monkeypatch):
  monkeypatch.setattr(wire, "BATCH_RECORDS", 3)
  monkeypatch.setattr(wire, "BUFFERED_RECORDS", 5)
  batches = wire.Batches(lambda records: tuple(records))
  assert batches.extend([0, 1, 0], ["a", "b", "c"]) == []
  assert batches.extend([0], ["d"]) == [(0, ("a", "c", "d"))]  # Bucket 0 is full.
  assert batches.extend([1, 2, 2, 1], ["e", "f", "g", "h"]) == [
      (1, ("b", "e", "h"))]
  # Five wait: every bucket goes.
  assert batches.extend([3, 3, 4], ["i", "j", "k"]) == [
      (2, ("f", "g")), (3, ("i", "j")), (4, ("k",))]
  assert batches.drain() == []
