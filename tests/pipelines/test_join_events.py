"""Tests for pipelines/join_events.py: one join bucket's tagged batches -> joined
impressions in the batch of their user's bucket, dead letters naming the file,
outcome facts, and the bundle's latest joined impression ts."""

import collections
import json

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

from features import run_report
from pipelines import columnar_parse
from pipelines import day_window
from pipelines import join_events
from pipelines import wire
from pipelines.log_records import DeadLetter, Log
from test_columnar_parse import CLICK, SPEC, TS, impression

DAY = run_report.DAY_MS
BUCKETS = 4
IMPRESSIONS_FILE = "/logs/impressions/impressions-0.jsonl"
CLICKS_FILE = "/logs/clicks/clicks-0.jsonl"
FILES = [IMPRESSIONS_FILE, CLICKS_FILE]
# read_logs.source_ids: a file stands for its index among the sorted paths.
SOURCE = {CLICKS_FILE: "0", IMPRESSIONS_FILE: "1"}
Join = join_events.JoinImpressionFn


def run_bundle(fn, elements, *side_inputs):
  """One bundle of `fn` (start_bundle, process per element, finish_bundle): its main
  outputs and its tagged ones by tag, windowed values unwrapped."""
  fn.setup()
  fn.start_bundle()
  outputs = [out for element in elements for out in fn.process(element, *side_inputs)]
  outputs += list(fn.finish_bundle() or ())
  main, tagged = [], {}
  for out in outputs:
    tag, value = ((out.tag, out.value) if isinstance(out, beam.pvalue.TaggedOutput)
                  else (None, out))
    if isinstance(value, WindowedValue):
      value = value.value
    (main if tag is None else tagged.setdefault(tag, [])).append(value)
  return main, tagged


def impression_batch(*lines):
  """Impression lines -> one batch of their wire fields, from IMPRESSIONS_FILE."""
  fields = columnar_parse.ColumnarParser(Log.IMPRESSIONS, SPEC)(
      list(lines), SOURCE[IMPRESSIONS_FILE])
  return wire.batch_to_wire(Log.IMPRESSIONS, fields)


def click_batch(*clicks):
  """Click dicts -> one batch of their wire fields, from CLICKS_FILE."""
  fields = columnar_parse.ColumnarParser(Log.CLICKS, SPEC)(
      [json.dumps(c).encode() for c in clicks], SOURCE[CLICKS_FILE])
  return wire.batch_to_wire(Log.CLICKS, fields)


def joined_by_id(main):
  """Main outputs -> impression_id -> (user bucket of its batch, joined fields)."""
  rows = {}
  for bucket, batch in main:
    for fields in wire.joined_batch_from_wire(batch):
      assert fields[0] not in rows, f"{fields[0]} joined twice"
      rows[fields[0]] = bucket, fields
  return rows


def facts(tagged):
  summed = collections.Counter()
  for key, n in tagged.get(Join.FACTS, []):
    summed[key] += n
  return summed


def test_a_lone_impression_and_a_clicked_one_join_in_their_user_s_bucket():
  # impression(n): user u{n % 4}, ts TS + n. The click on imp1 is at TS + 5, within
  # the 30 min click window, so imp1 has click 1 at TS + 5; no detail event: no
  # purchase, and the post events are 0 (dwell_ms_total a sum, so 0.0).
  main, tagged = run_bundle(Join(SPEC, FILES, BUCKETS), [
      (0, [impression_batch(impression(0), impression(1)), click_batch(CLICK)])])
  rows = joined_by_id(main)
  assert set(rows) == {"imp0", "imp1"}
  (bucket0, lone), (bucket1, clicked) = rows["imp0"], rows["imp1"]
  assert bucket0 == wire.bucket("u0", BUCKETS)
  assert bucket1 == wire.bucket("u1", BUCKETS)
  # joined fields: (id, user, ts, values, click, click ts, labels, post events).
  assert lone[:3] == ("imp0", "u0", TS)
  assert lone[4:] == (0, -1, None, None)
  assert clicked[:3] == ("imp1", "u1", TS + 1)
  assert clicked[4:] == (1, TS + 5, (0,), (0.0, 0, 0, 0, 0))
  names = [f.name for f in SPEC.logged()]
  assert dict(zip(names, clicked[3]))["item_id"] == "i1"
  assert Join.DEAD not in tagged
  assert facts(tagged) == {run_report.outcome("clicks", run_report.JOINED): 1}


def test_users_of_one_bucket_share_its_batch():
  # u0..u3 over 2 buckets: every user's impressions in the batch of wire.bucket(user).
  main, _ = run_bundle(Join(SPEC, FILES, 2), [
      (0, [impression_batch(*map(impression, range(8)))])])
  assert len(main) == len({bucket for bucket, _ in main})  # One batch per bucket.
  rows = joined_by_id(main)
  assert len(rows) == 8
  assert all(bucket == wire.bucket(fields[1], 2) for bucket, fields in rows.values())


def test_an_orphan_click_is_a_dead_letter_naming_its_file_and_reason():
  main, tagged = run_bundle(Join(SPEC, FILES, BUCKETS), [
      (0, [impression_batch(impression(0)),
           click_batch(dict(CLICK, impression_id="imp9"))])])
  assert set(joined_by_id(main)) == {"imp0"}
  [dead] = tagged[Join.DEAD]
  assert isinstance(dead, DeadLetter)
  assert (dead.log, dead.source, dead.reason) == ("clicks", CLICKS_FILE, "orphan_event")
  assert json.loads(dead.record) == {"impression_id": "imp9", "ts_ms": TS + 5}
  assert not facts(tagged)  # An orphan is not joined.


def test_duplicate_lines_are_counted_as_duplicates():
  # imp1 logged twice and clicked twice, the same lines: one example with one
  # click, a duplicate of each log, and the click kept is joined.
  main, tagged = run_bundle(Join(SPEC, FILES, BUCKETS), [
      (0, [impression_batch(impression(1), impression(1)), click_batch(CLICK, CLICK)])])
  rows = joined_by_id(main)
  assert list(rows) == ["imp1"]
  assert rows["imp1"][1][4:6] == (1, TS + 5)
  assert Join.DEAD not in tagged
  assert facts(tagged) == {
      run_report.outcome("impressions", run_report.DUPLICATE): 1,
      run_report.outcome("clicks", run_report.DUPLICATE): 1,
      run_report.outcome("clicks", run_report.JOINED): 1}


def test_an_impression_logged_again_with_other_content_is_a_conflict():
  main, tagged = run_bundle(Join(SPEC, FILES, BUCKETS), [
      (0, [impression_batch(impression(1), impression(1, position=8))])])
  assert list(joined_by_id(main)) == ["imp1"]
  [dead] = tagged[Join.DEAD]
  assert (dead.log, dead.source, dead.reason) == (
      "impressions", IMPRESSIONS_FILE, "conflicting_duplicate")


def test_max_ts_is_the_latest_joined_impression_s_over_the_bundle():
  # Two join buckets in one bundle. Joined: imp3 (TS + 3, lone), imp7 (TS + 7, with
  # a click) and imp2 (TS + 2, lone); the orphan click at TS + 50 joins nothing, so
  # the max is imp7's ts, the latest, reached through the general join.
  _, tagged = run_bundle(Join(SPEC, FILES, BUCKETS), [
      (0, [impression_batch(impression(3))]),
      (1, [impression_batch(impression(7), impression(2)),
           click_batch(dict(CLICK, impression_id="imp7", ts_ms=TS + 8),
                       dict(CLICK, impression_id="imp9", ts_ms=TS + 50))])])
  assert tagged[Join.MAX_TS] == [TS + 7]


def test_max_ts_counts_a_lone_impression_of_an_earlier_bucket():
  _, tagged = run_bundle(Join(SPEC, FILES, BUCKETS), [
      (0, [impression_batch(impression(9))]),
      (1, [impression_batch(impression(4))])])
  assert tagged[Join.MAX_TS] == [TS + 9]


def test_a_bundle_without_a_joined_impression_has_no_max_ts():
  main, tagged = run_bundle(Join(SPEC, FILES, BUCKETS), [
      (0, [click_batch(dict(CLICK, impression_id="imp9"))])])
  assert not main
  assert Join.MAX_TS not in tagged
  assert len(tagged[Join.DEAD]) == 1


def test_a_daily_join_joins_only_its_day_s_impressions_and_counts_the_rest():
  # The join of 2026-01-06 (TS is 2026-01-05 00:00 UTC). imp1, of the day before,
  # is another day's (its run joined it), and so is the day's click on it (joined
  # earlier). imp2, late in the day, is clicked 2 s later, after midnight: the click
  # completes imp2's label but is the next day's line, counted there.
  window = day_window.DayWindow.of("2026-01-06", SPEC)
  late = TS + 2 * DAY - 1000
  main, tagged = run_bundle(Join(SPEC, FILES, BUCKETS, window), [
      (0, [impression_batch(impression(1), impression(2, ts_ms=late)),
           click_batch(dict(CLICK, ts_ms=TS + DAY + 10),
                       dict(CLICK, impression_id="imp2", ts_ms=late + 2000))])])
  rows = joined_by_id(main)
  assert list(rows) == ["imp2"]
  assert rows["imp2"][1][4:6] == (1, late + 2000)
  assert Join.DEAD not in tagged
  assert facts(tagged) == {
      run_report.outcome("impressions", run_report.ANOTHER_DAY): 1,
      run_report.outcome("clicks", run_report.JOINED_EARLIER): 1,
      run_report.outcome("clicks", run_report.ANOTHER_DAY): 1}
  assert tagged[Join.MAX_TS] == [late]
