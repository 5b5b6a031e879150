"""The join's third step: one user bucket's joined impressions -> example dicts per split.

Each user's impressions are swept in time order for the point-in-time history and
cross features (`user_history`), the split is assigned from the eval start, and the
examples per UTC day and label become run-report facts.
"""

from __future__ import annotations

import collections
import operator
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from features import run_report
from features import spec as spec_lib
from features import time_split
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

  def start_bundle(self):
    # (UTC day index, label or None for the examples) -> count, over the bundle: a
    # fact per user would cost a shuffled element per user, day and label.
    self._day_counts: collections.Counter = collections.Counter()

  def process(self, bucket_and_batches, eval_start: int,
              state_boundary=None):  # An int; Beam's hints refuse an Optional.
    _, batches = bucket_and_batches
    by_user: dict[str, list[tuple]] = collections.defaultdict(list)
    carried: dict[str, list[user_history.HistoryClick]] = collections.defaultdict(list)
    for batch in batches:
      if wire.is_state_batch(batch):
        for user, ts_ms, attributes in wire.state_batch_from_wire(batch):
          carried[user].append(user_history.HistoryClick(ts_ms, tuple(attributes)))
        continue
      for joined in wire.joined_batch_from_wire(batch):
        by_user[wire.joined_user(joined)].append(joined)
    by_split: dict[str, list[dict[str, Any]]] = {}
    state_rows: list[tuple] = []
    # Output independent of the batches' order.
    for user in sorted(by_user.keys() | carried.keys()):
      impressions = [wire.joined_from_fields(j, self._value_names)
                     for j in by_user.get(user, ())]
      self._add_examples(impressions, carried.get(user, ()), eval_start, by_split)
      if self._snapshot is not None:
        state_rows.extend((user, c.ts_ms, c.attributes) for c in user_state.prune(
            [*carried.get(user, ()),
             *user_history.counted_clicks(impressions, self._history)],
            state_boundary, self._snapshot))
      # Handed on while the examples are fresh in the CPU's caches: what follows
      # (serializing, statistics) runs on each list at once, in this worker.
      for split, examples in list(by_split.items()):
        if len(examples) >= EXAMPLES_PER_LIST:
          yield beam.pvalue.TaggedOutput(split, by_split.pop(split))
    for split, examples in by_split.items():
      yield beam.pvalue.TaggedOutput(split, examples)
    if state_rows:
      yield beam.pvalue.TaggedOutput(self.STATE, state_rows)

  def _add_examples(self, impressions: list[impression_join.JoinedImpression],
                    carried: Iterable[user_history.HistoryClick], eval_start: int,
                    by_split: dict[str, list[dict[str, Any]]]):
    """One user's examples, appended to their splits' lists."""
    day_counts = self._day_counts
    for joined, history in user_history.with_history(impressions, self._history,
                                                     carried):
      labels = joined.labels or self._no_labels
      values = dict(zip(self._example_names, self._arrange((
          *joined.impression.values.values(), joined.click, *labels,
          *(joined.post_events or self._no_post_events), *history))))
      split = time_split.split_of(joined.impression.ts_ms, eval_start)
      by_split.setdefault(split, []).append(values)
      day = joined.impression.ts_ms // run_report.DAY_MS
      day_counts[day, None] += 1
      if joined.click:
        day_counts[day, self._click] += 1
        for label, value in zip(self._labels, labels):
          if value:
            day_counts[day, label] += 1

  def finish_bundle(self):
    for (day, label), n in self._day_counts.items():
      date = run_report.utc_day(day * run_report.DAY_MS)
      key = (run_report.day_examples(date) if label is None
             else run_report.day_positives(label, date))
      yield beam.pvalue.TaggedOutput(self.FACTS,
                                     GlobalWindows.windowed_value(run_report.fact(key, n)))
