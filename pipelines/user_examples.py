"""The join's third step: one user bucket's joined impressions -> example dicts per split.

The bucket's point-in-time history and cross features are computed at once
(`user_history.bucket_history`) on the impressions' wire fields, the split is
assigned from the eval start, and the examples per UTC day and label become
run-report facts.
"""

from __future__ import annotations

import collections
import itertools
import operator
from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from features import run_report
from features import spec as spec_lib
from features import time_split
from pipelines import gc_pause
from pipelines import impression_join
from pipelines import user_history
from pipelines import user_state
from pipelines import wire

# Examples per list handed on from the user buckets to serializing and statistics.
EXAMPLES_PER_LIST = 256


@beam.typehints.with_input_types(tuple[int, Iterable[wire.WireBatch]], int)
@beam.typehints.with_output_types(list[dict[str, Any]])
class AddHistoryFn(beam.DoFn):
  """One user bucket's joined impressions -> its example dicts in each split, in
  lists of about `EXAMPLES_PER_LIST`, tagged with the split.

  The split is assigned here, from a side input computed before the user grouping,
  so the examples flow straight on to encoding without another materialisation. A
  list travels on as one element: what follows (serializing, writing, statistics)
  needs no element per example.

  With `snapshot`, every user's state at the side input `state_boundary` (the
  midnight after the last day) goes out on 'state' as lists of rows (user, click
  ts_ms, attributes); in a daily join the bucket's batches also hold the users'
  state after yesterday (`user_state`), whose clicks enter each user's history.
  """

  FACTS = "facts"
  STATE = "state"

  def __init__(self, spec: spec_lib.FeatureSpec,
               snapshot: user_state.SnapshotRules | None = None):
    super().__init__()
    self._value_names = [f.name for f in spec.logged()]
    self._history = user_history.HistoryRules.from_spec(spec)
    self._snapshot = snapshot
    rules = impression_join.JoinRules.from_spec(spec)
    self._click = rules.click_label
    self._labels = tuple(name for name, _, _ in rules.labels)
    # What an impression without a click has: every label and aggregate 0.
    self._no_labels = (0,) * len(self._labels)
    self._no_post_events = tuple(spec[name].parse_default for name in rules.post_events)
    # An example's values are gathered as (logged, click, labels, post events,
    # history) and keyed in the spec's order, which the statistics transpose fastest.
    gathered = (*self._value_names, self._click, *self._labels, *rules.post_events,
                *self._history.names)
    self._example_names = tuple(n for n in spec.names if n in gathered)
    self._arrange = operator.itemgetter(*(gathered.index(n)
                                          for n in self._example_names))
    self._attribute_indices = [self._value_names.index(a)
                               for a in self._history.attributes]

  def start_bundle(self):
    # (UTC day index, label or None for the examples) -> count, over the bundle: a
    # fact per user would cost a shuffled element per user, day and label.
    self._day_counts: collections.Counter = collections.Counter()

  def process(self, bucket_and_batches, eval_start: int,
              state_boundary=None):  # An int; Beam's hints refuse an Optional.
    with gc_pause.paused():
      yield from self._add_history(bucket_and_batches, eval_start, state_boundary)

  def _add_history(self, bucket_and_batches, eval_start: int,
                   state_boundary: int | None):
    _, batches = bucket_and_batches
    rows: list[tuple] = []  # `wire.joined_fields`
    carried: list[user_history.UserClick] = []
    for batch in batches:
      if wire.is_state_batch(batch):
        carried.extend((user, ts_ms, tuple(attributes)) for user, ts_ms, attributes
                       in wire.state_batch_from_wire(batch))
      else:
        rows.extend(wire.joined_batch_from_wire(batch))
    # Output independent of the batches' order: by user, then time.
    rows.sort(key=wire.joined_order)
    joined = wire.JoinedColumns.of(rows, len(self._value_names))
    attributes = [joined.values[i] for i in self._attribute_indices]
    clicks = [(user, ts_ms, tuple(column[i] for column in attributes))
              for i, (user, click, ts_ms) in
              enumerate(zip(joined.users, joined.clicks, joined.click_ts_ms)) if click]
    history = user_history.bucket_history(joined.users, joined.ts_ms, attributes,
                                          [*clicks, *carried], self._history)
    if rows:
      yield from self._examples(joined, history, eval_start)
    if self._snapshot is not None:
      yield from self._state(clicks, carried, state_boundary)

  def _examples(self, joined: wire.JoinedColumns, history: list[list],
                eval_start: int):
    """The bucket's example lists per split, handed on as each user's are complete.

    The dicts are built from columns, a row at a time only where a dict must be.
    """
    labels = [row or self._no_labels for row in joined.labels]
    post_events = [row or self._no_post_events for row in joined.post_events]
    columns = [*joined.values, joined.clicks, *zip(*labels), *zip(*post_events),
               *history]
    names = self._example_names
    examples = [dict(zip(names, row)) for row in zip(*self._arrange(columns))]
    splits = [time_split.split_of(ts_ms, eval_start) for ts_ms in joined.ts_ms]
    by_split: dict[str, list[dict[str, Any]]] = {}
    for start, end in _user_ranges(joined.users):
      for split, same in itertools.groupby(range(start, end), splits.__getitem__):
        by_split.setdefault(split, []).extend(examples[i] for i in same)
      # Handed on while the examples are fresh in the CPU's caches: what follows
      # (serializing, statistics) runs on each list at once, in this worker.
      for split, listed in list(by_split.items()):
        if len(listed) >= EXAMPLES_PER_LIST:
          yield beam.pvalue.TaggedOutput(split, by_split.pop(split))
    for split, listed in by_split.items():
      yield beam.pvalue.TaggedOutput(split, listed)
    days = collections.Counter(ts_ms // run_report.DAY_MS for ts_ms in joined.ts_ms)
    day_counts = self._day_counts
    day_counts.update({(day, None): count for day, count in days.items()})
    for ts_ms, click, row_labels in zip(joined.ts_ms, joined.clicks, labels):
      if click:
        day = ts_ms // run_report.DAY_MS
        day_counts[day, self._click] += 1
        for label, value in zip(self._labels, row_labels):
          if value:
            day_counts[day, label] += 1

  def _state(self, clicks: list[user_history.UserClick],
             carried: list[user_history.UserClick], boundary: int):
    """Every user's state at `boundary` (`user_state.prune`), as one list of rows."""
    by_user: dict[str, list[user_history.HistoryClick]] = collections.defaultdict(list)
    for user, ts_ms, attributes in [*carried, *clicks]:
      by_user[user].append(user_history.HistoryClick(ts_ms, attributes))
    rows = [(user, c.ts_ms, c.attributes) for user in sorted(by_user)
            for c in user_state.prune(by_user[user], boundary, self._snapshot)]
    if rows:
      yield beam.pvalue.TaggedOutput(self.STATE, rows)

  def finish_bundle(self):
    for (day, label), n in self._day_counts.items():
      date = run_report.utc_day(day * run_report.DAY_MS)
      key = (run_report.day_examples(date) if label is None
             else run_report.day_positives(label, date))
      yield beam.pvalue.TaggedOutput(self.FACTS,
                                     GlobalWindows.windowed_value(run_report.fact(key, n)))


def _user_ranges(users: Sequence[str]) -> Iterator[tuple[int, int]]:
  """[start, end) of each user's rows, `users` grouped by user."""
  start = 0
  for _, rows in itertools.groupby(users):
    end = start + sum(1 for _ in rows)
    yield start, end
    start = end
