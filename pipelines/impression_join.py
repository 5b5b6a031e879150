"""One impression and its events -> labels, post-event features and an outcome per line.

Pure Python: the Beam job calls `join_impression` once per impression_id group after a
CoGroupByKey, and the tests call it on hand-written records. The label and leak rules
live here and nowhere else:

* a click counts when impression ts <= click ts <= impression ts + click window; several
  clicks count once, at the first;
* an event label (e.g. purchase) = its event in [first click, first click + its
  window];
* a post-event feature aggregates detail events in [first click, its label's event)
  (or up to the end of that label's window when there is none): nothing at or after
  the label event leaks into a privileged feature.

Which labels and aggregates exist is the spec's (`JoinRules.from_spec`).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterable, NamedTuple, Sequence

from features import spec as spec_lib
from pipelines.log_records import Click, DeadLetter, DetailEvent, Impression, Log, Reason

Op = spec_lib.Op
_AGGREGATE_OPS = (Op.COUNT, Op.ANY, Op.SUM, Op.MAX)


class _Aggregate(NamedTuple):
  feature: str  # The post-event feature's name, for errors.
  op: Op
  event: str
  field: int  # Index into DetailEvent.fields (sum / max), else -1.
  label: int  # Index into JoinRules.labels: whose window it aggregates in.


@dataclasses.dataclass(frozen=True)
class JoinRules:
  """The spec's labels and post-event aggregates, compiled for the join.

  Attributes:
    click_label: The click label's feature name.
    click_window_ms: A click counts up to this long after its impression.
    labels: (feature name, event, window after the first click) per event label.
    post_events: Post-event feature names, in `aggregates` order.
    aggregates: How each post-event feature is computed.
  """
  click_label: str
  click_window_ms: int
  labels: tuple[tuple[str, str, int], ...]
  post_events: tuple[str, ...]
  aggregates: tuple[_Aggregate, ...]

  @classmethod
  def from_spec(cls, spec: spec_lib.FeatureSpec) -> JoinRules:
    labels = tuple((f.name, f.derive.event, f.derive.window_ms)
                   for f in spec.event_labels())
    label_index = {name: i for i, (name, _, _) in enumerate(labels)}
    field_index = {name: i for i, name in enumerate(spec.event_field_names())}
    post = spec.post_event_features()
    return cls(
        click_label=spec.click_label,
        click_window_ms=spec[spec.click_label].derive.window_ms,
        labels=labels,
        post_events=tuple(f.name for f in post),
        aggregates=tuple(_Aggregate(
            f.name, f.derive.op, f.derive.event, field_index.get(f.derive.field, -1),
            label_index[spec.post_event_label(f)]) for f in post))


class JoinedImpression(NamedTuple):
  """A valid impression with its labels and post-event features."""
  impression: Impression
  click: int
  click_ts_ms: int  # First counted click; -1 without one.
  labels: tuple[int, ...] | None  # Per JoinRules.labels; None: no click (all 0).
  post_events: tuple | None  # Per JoinRules.post_events; None: no click (all 0).


class JoinResult(NamedTuple):
  """Everything one impression_id group produced.

  Every input line of the group is accounted for exactly once: in `joined` (its
  impression line), in `outcomes` under "joined" (events), in `dead_letters`, or in
  `outcomes` under "duplicate".
  """
  joined: JoinedImpression | None
  dead_letters: list[DeadLetter]
  outcomes: collections.Counter  # (log, outcome) -> lines; outcome in joined/duplicate
  notes: collections.Counter  # why joined events were not counted, for the run report


def _dedupe(records: Iterable, log: Log, outcomes: collections.Counter) -> list:
  """Drops exact duplicates (same canonical content), counting them."""
  records = list(records)
  if len(records) < 2:
    return records  # The common case: nothing to compare, no JSON to build.
  unique = {}
  for record in records:
    key = record.canonical()
    if key in unique:
      outcomes[(log.value, "duplicate")] += 1
    else:
      unique[key] = record
  return [unique[k] for k in sorted(unique)]


def _dead(record, log: Log, reason: Reason, detail: str) -> DeadLetter:
  return DeadLetter(log.value, record.source, reason.value, detail, record.canonical())


def _choose_impression(impressions: Sequence[Impression], outcomes, dead_letters
                      ) -> Impression | None:
  """Keeps the smallest by canonical JSON; the rest are duplicates or conflicts."""
  unique = _dedupe(impressions, Log.IMPRESSIONS, outcomes)
  for conflicting in unique[1:]:
    dead_letters.append(_dead(
        conflicting, Log.IMPRESSIONS, Reason.CONFLICTING_DUPLICATE,
        f"impression_id {conflicting.impression_id!r} already logged with other "
        "content"))
  return unique[0] if unique else None


def _aggregate(aggregate: _Aggregate, details: Sequence[DetailEvent], start_ms: int,
               end_ms: int) -> int | float:
  """One post-event feature over the `aggregate.event`s with start_ms <= ts < end_ms.

  Raises:
    ValueError: `aggregate.op` is not a post-event aggregation (count, any, sum,
      max): a feature the join does not know how to compute must not get some other
      op's values.
  """
  kept = [d for d in details
          if d.event == aggregate.event and start_ms <= d.ts_ms < end_ms]
  if aggregate.op is Op.COUNT:
    return len(kept)
  if aggregate.op is Op.ANY:
    return int(bool(kept))
  values = [d.fields[aggregate.field] for d in kept]
  if aggregate.op is Op.SUM:
    return float(sum(values))
  if aggregate.op is Op.MAX:
    return float(max(values, default=0))
  raise ValueError(
      f"post-event feature {aggregate.feature!r} has op {aggregate.op.value!r}, which "
      f"the join cannot aggregate; use one of {[o.value for o in _AGGREGATE_OPS]}")


def join_impression(impressions: Sequence[Impression], clicks: Sequence[Click],
                    details: Sequence[DetailEvent], rules: JoinRules) -> JoinResult:
  """Joins all lines that share one impression_id.

  Args:
    impressions: Valid impression records with this id (normally one).
    clicks: Valid click records with this id.
    details: Valid detail-page records with this id.
    rules: The spec's click window, labels and post-event aggregates.

  Returns:
    The joined impression (None when no valid impression has this id), dead letters
    and per-line outcome counts.
  """
  outcomes: collections.Counter = collections.Counter()
  notes: collections.Counter = collections.Counter()
  if len(impressions) == 1 and not clicks and not details:
    # Most impressions (~95%): nothing to dedupe, reject or aggregate; the general
    # path below gives the same result at several times the cost.
    return JoinResult(JoinedImpression(impressions[0], 0, -1, None, None), [],
                      outcomes, notes)
  dead_letters: list[DeadLetter] = []
  impression = _choose_impression(impressions, outcomes, dead_letters)
  clicks = _dedupe(clicks, Log.CLICKS, outcomes)
  details = _dedupe(details, Log.DETAIL_PAGES, outcomes)

  def reject(records, log, reason, detail):
    dead_letters.extend(_dead(r, log, reason, detail) for r in records)

  if impression is None:
    reject(clicks, Log.CLICKS, Reason.ORPHAN_EVENT, "no valid impression with this id")
    reject(details, Log.DETAIL_PAGES, Reason.ORPHAN_EVENT,
           "no valid impression with this id")
    return JoinResult(None, dead_letters, outcomes, notes)

  def split_early(records, log):
    early = [r for r in records if r.ts_ms < impression.ts_ms]
    reject(early, log, Reason.EVENT_BEFORE_IMPRESSION,
           f"before the impression at ts_ms={impression.ts_ms}")
    return [r for r in records if r.ts_ms >= impression.ts_ms]

  clicks = split_early(clicks, Log.CLICKS)
  details = split_early(details, Log.DETAIL_PAGES)
  window_end = impression.ts_ms + rules.click_window_ms
  counted = [c.ts_ms for c in clicks if c.ts_ms <= window_end]
  notes["click_after_click_window"] += len(clicks) - len(counted)
  notes["extra_click"] += max(len(counted) - 1, 0)
  outcomes[(Log.CLICKS.value, "joined")] += len(clicks)

  if not counted:
    reject(details, Log.DETAIL_PAGES, Reason.DETAIL_WITHOUT_CLICK,
           "the impression has no counted click")
    joined = JoinedImpression(impression, 0, -1, None, None)
    return JoinResult(joined, dead_letters, outcomes, notes)

  click_ts = min(counted)
  labels, post_ends, used = [], [], set()
  for _, event, window_ms in rules.labels:
    label_end = click_ts + window_ms
    hits = [i for i, d in enumerate(details)
            if d.event == event and click_ts <= d.ts_ms <= label_end]
    first = min(hits, key=lambda i: details[i].ts_ms) if hits else None
    labels.append(int(first is not None))
    post_end = details[first].ts_ms if first is not None else label_end + 1
    post_ends.append(post_end)
    used.update(i for i, d in enumerate(details) if click_ts <= d.ts_ms < post_end)
    if first is not None:
      used.add(first)
  post_events = tuple(_aggregate(a, details, click_ts, post_ends[a.label])
                      for a in rules.aggregates)
  notes["detail_outside_window_or_after_label"] += len(details) - len(used)
  outcomes[(Log.DETAIL_PAGES.value, "joined")] += len(details)
  joined = JoinedImpression(impression, 1, click_ts, tuple(labels), post_events)
  return JoinResult(joined, dead_letters, outcomes, notes)

