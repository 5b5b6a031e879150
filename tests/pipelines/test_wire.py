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


def test_joined_round_trip_leaves_the_source():
  joined = JoinedImpression(IMPRESSION, 1, IMPRESSION.ts_ms + 5, (0,),
                            (700.0, 1, 0, 0, 0))
  encoded = wire.joined_batch_to_wire([wire.joined_fields(joined)])
  [fields] = wire.joined_batch_from_wire(encoded)
  assert wire.joined_user(fields) == IMPRESSION.user_id
  assert wire.joined_from_fields(fields, NAMES) == joined._replace(
      impression=IMPRESSION._replace(source=""))
  unclicked = JoinedImpression(IMPRESSION, 0, -1, None, None)
  [fields] = wire.joined_batch_from_wire(
      wire.joined_batch_to_wire([wire.joined_fields(unclicked)]))
  decoded = wire.joined_from_fields(fields, NAMES)
  assert (decoded.labels, decoded.post_events) == (None, None)


def test_a_lone_impression_joins_as_the_general_join_does():
  [group] = wire.by_impression(wire.by_log([wire.batch_to_wire(
      Log.IMPRESSIONS, [wire.impression_fields(IMPRESSION)])])).values()
  user_id, ts_ms, joined = wire.lone_impression_joined(group[Log.IMPRESSIONS][0])
  general = impression_join.join_impression(
      [IMPRESSION], [], [], impression_join.JoinRules.from_spec(spec_lib.DEFAULT_SPEC))
  assert (user_id, ts_ms) == (IMPRESSION.user_id, IMPRESSION.ts_ms)
  assert wire.joined_from_fields(joined, NAMES) == wire.joined_from_fields(
      wire.joined_fields(general.joined), NAMES)
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
