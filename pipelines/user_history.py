"""Point-in-time behaviour and cross features from one user's impressions.

The job groups joined impressions by user (the one per-key grouping it needs) and
sweeps them in time order. Only counted clicks with click ts strictly before an
impression's ts are visible to it, so a feature never sees its own label or anything
later: the user's click on this very impression happens at or after its ts. Which
sequences and cross counts exist is the spec's (`HistoryRules.from_spec`).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterable, Iterator, NamedTuple

from features import spec as spec_lib
from pipelines.impression_join import JoinedImpression

Op = spec_lib.Op


@dataclasses.dataclass(frozen=True)
class HistoryRules:
  """The spec's behaviour sequences and cross counts, compiled for the sweep.

  Attributes:
    names: The derived features, sequences then cross counts (what `with_history`
      yields, in this order).
    attributes: The logged features a click is remembered by.
    sequences: (index into `attributes`, max_length) per sequence.
    crosses: (index into `attributes`, window_ms) per cross count.
  """
  names: tuple[str, ...]
  attributes: tuple[str, ...]
  sequences: tuple[tuple[int, int], ...]
  crosses: tuple[tuple[int, int], ...]

  @classmethod
  def from_spec(cls, spec: spec_lib.FeatureSpec) -> HistoryRules:
    sequences, crosses = spec.derived(Op.HISTORY), spec.derived(Op.CLICKS_SHARING)
    attributes = tuple(dict.fromkeys(f.derive.of for f in sequences + crosses))
    index = {name: i for i, name in enumerate(attributes)}
    return cls(names=tuple(f.name for f in sequences + crosses),
               attributes=attributes,
               sequences=tuple((index[f.derive.of], f.max_length) for f in sequences),
               crosses=tuple((index[f.derive.of], f.derive.window_ms)
                             for f in crosses))


class HistoryClick(NamedTuple):
  """What the history remembers of a counted click; the sort order is the sweep's."""
  ts_ms: int
  attributes: tuple[str, ...]  # HistoryRules.attributes of the clicked impression.


class _Window:
  """The clicks of [ts - window_ms, ts) and their attribute counts."""

  def __init__(self, window_ms: int):
    self.window_ms = window_ms
    self.clicks: collections.deque[HistoryClick] = collections.deque()
    self.counts: collections.Counter = collections.Counter()  # (attribute, value)

  def add(self, click: HistoryClick) -> None:
    self.clicks.append(click)
    self.counts.update(enumerate(click.attributes))

  def advance(self, ts: int) -> None:
    while self.clicks and self.clicks[0].ts_ms < ts - self.window_ms:
      self.counts.subtract(enumerate(self.clicks.popleft().attributes))


def counted_clicks(impressions: Iterable[JoinedImpression], rules: HistoryRules
                   ) -> list[HistoryClick]:
  """The counted clicks of one user's impressions, as the history remembers them."""
  attributes = rules.attributes
  return [HistoryClick(j.click_ts_ms, tuple(j.impression.values[a] for a in attributes))
          for j in impressions if j.click]


def with_history(impressions: Iterable[JoinedImpression], rules: HistoryRules,
                 carried: Iterable[HistoryClick] = ()
                 ) -> Iterator[tuple[JoinedImpression, tuple]]:
  """Yields each impression of one user with its point-in-time history.

  Args:
    impressions: One user's joined impressions, any order.
    rules: The sequences (most recent click first, up to their max_length) and the
      cross counts (the user's clicks in [ts - window, ts) sharing the impression's
      attribute value; 0 where the impression lacks it, MISSING_TOKEN).
    carried: The user's clicks on impressions not in `impressions` (earlier days',
      from a `user_state` snapshot); they enter the history like the others.

  Yields:
    (impression, values in `rules.names` order) in impression time order; O(n log n)
    in the user's impression count, memory O(n).
  """
  ordered = sorted(impressions, key=lambda j: (j.impression.ts_ms,
                                               j.impression.impression_id))
  attributes = rules.attributes
  clicks = sorted([*counted_clicks(ordered, rules), *carried])
  history_length = max((n for _, n in rules.sequences), default=0)
  recent: collections.deque[HistoryClick] = collections.deque(maxlen=history_length)
  windows = {w: _Window(w) for w in dict.fromkeys(w for _, w in rules.crosses)}
  crosses = [(a, windows[w].counts, attributes[a]) for a, w in rules.crosses]
  missing = spec_lib.MISSING_TOKEN
  next_click = 0
  # The sequences change only when a click enters them, so impressions between two
  # clicks share their lists (read-only, like every yielded value).
  sequences: list[list[str]] = [[] for _ in rules.sequences]
  for joined in ordered:
    ts = joined.impression.ts_ms
    clicked_before = next_click
    while next_click < len(clicks) and clicks[next_click].ts_ms < ts:
      click = clicks[next_click]
      recent.append(click)
      for window in windows.values():
        window.add(click)
      next_click += 1
    for window in windows.values():
      window.advance(ts)
    if next_click != clicked_before:
      newest_first = list(reversed(recent))
      sequences = [[c.attributes[a] for c in newest_first[:n]]
                   for a, n in rules.sequences]
    values = joined.impression.values
    counts = [0 if values[name] == missing else by_value[(a, values[name])]
              for a, by_value, name in crosses]
    yield joined, (*sequences, *counts)
