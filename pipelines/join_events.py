"""The join's second step: one join bucket's records -> joined impressions, batched per
user bucket.

Events meet their impression here (`impression_join` holds the label and leak rules);
the joined impressions leave for the user grouping, and every line not joined leaves
as a dead letter or a counted outcome.
"""

from __future__ import annotations

import collections
from typing import Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from features import run_report
from features import spec as spec_lib
from pipelines import day_window
from pipelines import gc_pause
from pipelines import impression_join
from pipelines import log_records
from pipelines import read_logs
from pipelines import wire
from pipelines.log_records import Log

_EVENT_LOGS = (Log.CLICKS, Log.DETAIL_PAGES)


@beam.typehints.with_input_types(tuple[int, Iterable[wire.WireBatch]])
@beam.typehints.with_output_types(tuple[int, wire.WireBatch])
class JoinImpressionFn(beam.DoFn):
  """One join bucket's batches -> (user bucket, `wire.joined_batch_to_wire` of the
  joined impressions of its users), dead letters, facts, and the latest joined
  impression's ts_ms per bundle on 'max_ts'.

  Lone impressions (no duplicate, no event: ~95% of ids) are joined on their decoded
  wire form (`wire.lone_impressions_joined`); every other id goes through
  `impression_join.join_impression`. Joined impressions are gathered per user bucket
  over the bundle, so a batch holds the users' impressions from many join buckets.

  With a `window` (a daily join), only the day's impressions are joined; the
  other days' lines that reached the join are context (`_own_records`).
  """
  DEAD = "dead"
  FACTS = "facts"
  MAX_TS = "max_ts"

  def __init__(self, spec: spec_lib.FeatureSpec, files: Iterable[str], buckets: int,
               window: day_window.DayWindow | None = None):
    super().__init__()
    self._rules = impression_join.JoinRules.from_spec(spec)
    self._paths = {i: path for path, i in read_logs.source_ids(files).items()}
    self._value_names = [f.name for f in spec.logged()]
    self._buckets = buckets
    self._window = window

  def start_bundle(self):
    self._max_ts = None
    self._batches = wire.Batches(wire.joined_batch_to_wire)
    # (log, outcome) -> lines owned by another day's run, over the bundle.
    self._elsewhere: collections.Counter = collections.Counter()

  def process(self, keyed_batches):
    with gc_pause.paused():
      yield from self._join_bucket(keyed_batches)

  def _join_bucket(self, keyed_batches):
    _, batches = keyed_batches
    records = wire.by_log(batches)
    if self._window is not None:
      records = self._own_records(records)
    impressions = records[Log.IMPRESSIONS]
    # Ids with an event or a second impression line take the general join.
    joined_ids = {fields[0] for log in _EVENT_LOGS for fields in records[log]}
    ids = collections.Counter(fields[0] for fields in impressions)
    if len(ids) < len(impressions):
      joined_ids.update(i for i, n in ids.items() if n > 1)
    lone = [fields for fields in impressions if fields[0] not in joined_ids]
    timestamps = list(map(wire.impression_ts, lone))
    if self._max_ts is not None:
      timestamps.append(self._max_ts)
    max_ts = max(timestamps, default=None)
    yield from self._batches.extend(
        wire.buckets(map(wire.impression_user, lone), self._buckets),
        wire.lone_impressions_joined(lone))
    for group in wire.by_impression(records, joined_ids).values():
      result = self._join(group)
      yield from self._side_outputs(result)
      if result.joined is None:
        continue
      impression = result.joined.impression
      if max_ts is None or impression.ts_ms > max_ts:
        max_ts = impression.ts_ms
      yield from self._batches.extend([wire.bucket(impression.user_id, self._buckets)],
                                      [wire.joined_fields(result.joined)])
    self._max_ts = max_ts

  def _own_records(self, records: dict[Log, list[tuple]]) -> dict[Log, list[tuple]]:
    """A daily join's records -> those its join takes: the day's impressions, and
    the events on them or, unless an impression of the lookback has their id (that
    day's run joined them), of the day (orphans, as in a full join).

    Every other day's line is counted as another day's; an event of the day on a
    lookback impression as joined earlier.
    """
    window, elsewhere = self._window, self._elsewhere
    ts_field = wire.TS_FIELD[Log.IMPRESSIONS]
    own = [f for f in records[Log.IMPRESSIONS]
           if window.start_ms <= f[ts_field] < window.end_ms]
    own_ids = {f[0] for f in own}
    earlier_ids = {f[0] for f in records[Log.IMPRESSIONS]} - own_ids
    elsewhere[Log.IMPRESSIONS, run_report.ANOTHER_DAY] += (
        len(records[Log.IMPRESSIONS]) - len(own))
    kept = {Log.IMPRESSIONS: own}
    for log in _EVENT_LOGS:
      kept[log] = []
      ts_field = wire.TS_FIELD[log]
      for fields in records[log]:
        if fields[ts_field] >= window.end_ms:
          elsewhere[log, run_report.ANOTHER_DAY] += 1
          if fields[0] in own_ids:
            kept[log].append(fields)
        elif fields[0] in own_ids or fields[0] not in earlier_ids:
          kept[log].append(fields)
        else:
          elsewhere[log, run_report.JOINED_EARLIER] += 1
    return kept

  def _join(self, group: dict[Log, list[tuple]]) -> impression_join.JoinResult:
    clicks = [wire.record_from_fields(c, log_records.Click) for c in group[Log.CLICKS]]
    details = [wire.record_from_fields(d, log_records.DetailEvent)
               for d in group[Log.DETAIL_PAGES]]
    result = impression_join.join_impression(
        [wire.impression_from_fields(i, self._value_names)
         for i in group[Log.IMPRESSIONS]], clicks, details, self._rules)
    if self._window is not None:
      end = self._window.end_ms
      for log, events in ((Log.CLICKS, clicks), (Log.DETAIL_PAGES, details)):
        _discount(result, log, [e for e in events if e.ts_ms >= end])
    return result

  def _side_outputs(self, result: impression_join.JoinResult):
    for dead in result.dead_letters:
      Metrics.counter(read_logs.NAMESPACE, f"dead_letter.{dead.reason}").inc()
      yield beam.pvalue.TaggedOutput(self.DEAD,
                                     dead._replace(source=self._paths[dead.source]))
    # Zero counts are common (every impression counts its clicks) and would cost a
    # shuffled element each.
    for (log, outcome), n in result.outcomes.items():
      if n:
        yield beam.pvalue.TaggedOutput(self.FACTS,
                                       run_report.fact(run_report.outcome(log, outcome), n))
    for note, n in result.notes.items():
      if n:
        yield beam.pvalue.TaggedOutput(self.FACTS, run_report.fact(run_report.note(note), n))

  def finish_bundle(self):
    for (log, what), n in self._elsewhere.items():
      yield beam.pvalue.TaggedOutput(self.FACTS, GlobalWindows.windowed_value(
          run_report.fact(run_report.outcome(log.value, what), n)))
    for batch in self._batches.drain():
      yield GlobalWindows.windowed_value(batch)
    if self._max_ts is not None:
      yield beam.pvalue.TaggedOutput(self.MAX_TS,
                                     GlobalWindows.windowed_value(self._max_ts))


def _discount(result: impression_join.JoinResult, log: Log,
              later: list[log_records.Click | log_records.DetailEvent]) -> None:
  """Takes the events of later days out of `result`'s accounting: they completed
  the labels, and their own day's run counts them (`JoinImpressionFn` counted them
  as another day's). A later event has a later ts than every event of the day, so
  its duplicates are among `later` only."""
  copies = collections.Counter(event.canonical() for event in later)
  dead = {d.record for d in result.dead_letters if d.log == log.value}
  for record, n in copies.items():
    result.outcomes[log.value, run_report.DUPLICATE] -= n - 1
    if record not in dead:
      result.outcomes[log.value, run_report.JOINED] -= 1
  result.dead_letters[:] = [d for d in result.dead_letters
                            if d.log != log.value or d.record not in copies]
