"""Point-in-time behaviour and cross features from one user's impressions.

The job groups joined impressions by bucket of user and computes a bucket's
histories at once (`bucket_history`; `with_history` is one user's). Only counted
clicks with click ts strictly before an impression's ts are visible to it, so a
feature never sees its own label or anything later: the user's click on this very
impression happens at or after its ts. Which sequences and cross counts exist is
the spec's (`HistoryRules.from_spec`).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from features import spec as spec_lib
from pipelines.impression_join import JoinedImpression

Op = spec_lib.Op


@dataclasses.dataclass(frozen=True)
class HistoryRules:
  """The spec's behaviour sequences and cross counts, compiled.

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
  """What the history remembers of a counted click; the sort order is the
  sequences' (ties by attributes)."""
  ts_ms: int
  attributes: tuple[str, ...]  # HistoryRules.attributes of the clicked impression.


# A counted click in a bucket: (user, click ts_ms, HistoryRules.attributes).
UserClick = tuple[str, int, tuple]


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
    (impression, values in `rules.names` order) in impression time order
    (`bucket_history` for one user).
  """
  ordered = sorted(impressions, key=lambda j: (j.impression.ts_ms,
                                               j.impression.impression_id))
  clicks = [("", c.ts_ms, c.attributes)
            for c in [*counted_clicks(ordered, rules), *carried]]
  columns = bucket_history(
      [""] * len(ordered), [j.impression.ts_ms for j in ordered],
      [[j.impression.values[a] for j in ordered] for a in rules.attributes], clicks,
      rules)
  yield from zip(ordered, zip(*columns) if columns else [()] * len(ordered))


def bucket_history(users: Sequence[str], ts_ms: Sequence[int],
                   attributes: Sequence[Sequence[str]], clicks: Iterable[UserClick],
                   rules: HistoryRules) -> list[list]:
  """The point-in-time histories of many users' impressions at once.

  Where each impression stands among its user's clicks is found by sorting the
  clicks and impressions together (`_clicks_before`), once per question rather than
  once per user; only the sequences' lists are built one at a time.

  Args:
    users, ts_ms, attributes: The impressions as columns, a column of `attributes`
      per `rules.attributes`. Impressions that follow one another and see the same
      clicks share their sequence lists (read-only, like every value returned).
    clicks: (user, click ts_ms, attributes) of every counted click of these users,
      carried ones included, any order.
    rules: What to compute (`with_history`).

  Returns:
    A column per name of `rules.names`: the impressions' values in order.
  """
  n = len(users)
  clicks = sorted(clicks)  # Ties within a sequence follow (ts, attributes).
  codes = {u: i for i, u in enumerate(sorted({*users, *(c[0] for c in clicks)}))}
  user_codes = [codes[u] for u in users]
  user_array, ts = np.array(user_codes, np.int64), np.array(ts_ms, np.int64)
  click_users = np.array([codes[c[0]] for c in clicks], np.int64)
  click_ts = np.array([c[1] for c in clicks], np.int64)
  # In the sorted clicks an impression's visible ones are [first, end), newest last.
  first = np.searchsorted(click_users, user_array)
  ends = _clicks_before(click_users, click_ts, user_array, ts)
  click_columns = _transpose([c[2] for c in clicks], len(rules.attributes))
  values: list[list] = []
  if rules.sequences:
    # Impressions in a row that see the same clicks share their lists.
    changes = np.flatnonzero(np.diff(first, prepend=-1) | np.diff(ends, prepend=-1))
    repeats = np.diff(changes, append=n).tolist()
    ranges = list(zip(first[changes].tolist(), ends[changes].tolist()))
    for a, length in rules.sequences:
      column = click_columns[a]
      lists = [list(column[max(start, end - length):end][::-1])
               for start, end in ranges]
      values.append(list(itertools.chain.from_iterable(
          map(itertools.repeat, lists, repeats))))
  for a, window_ms in rules.crosses:
    # A group per (user, value) clicked; an impression of none (-1) shares nothing,
    # nor does one without the value.
    groups: dict[tuple[int, str], int] = {}
    click_groups = np.array([groups.setdefault(key, len(groups)) for key in
                             zip(click_users.tolist(), click_columns[a])], np.int64)
    for key in [key for key in groups if key[1] == spec_lib.MISSING_TOKEN]:
      del groups[key]
    probes = np.array([groups.get(key, -1) for key in
                       zip(user_codes, attributes[a])], np.int64)
    values.append((_clicks_before(click_groups, click_ts, probes, ts)
                   - _clicks_before(click_groups, click_ts, probes, ts - window_ms)
                   ).tolist())
  return values


def _transpose(rows: Sequence[tuple], width: int) -> list[tuple]:
  """Rows of `width` values -> `width` columns (empty ones for no row)."""
  return list(zip(*rows)) or [()] * width


def _clicks_before(click_keys: np.ndarray, click_ts: np.ndarray, keys: np.ndarray,
                   ts: np.ndarray) -> np.ndarray:
  """Per (key, ts): the clicks of a smaller key, or of its key with an earlier ts
  (one at the same ts is not before)."""
  is_click = np.concatenate([np.ones(len(click_keys), np.int64),
                             np.zeros(len(keys), np.int64)])
  # At an equal (key, ts) a probe sorts before the clicks.
  order = np.lexsort((is_click, np.concatenate([click_ts, ts]),
                      np.concatenate([click_keys, keys])))
  clicks = is_click[order]
  before = np.cumsum(clicks) - clicks
  probe = clicks == 0
  out = np.empty(len(keys), np.int64)
  out[order[probe] - len(click_keys)] = before[probe]
  return out
