"""One impression and its events -> labels, post-event features and an outcome per line.

Pure Python: the Beam job calls `join_impression` once per impression_id group after a
CoGroupByKey, and the tests call it on hand-written records. The label and leak rules
live here and nowhere else:

* a click counts when impression ts <= click ts <= impression ts + click window; several
  clicks count once, at the first;
* purchase = a purchase event in [first click, first click + attribution window];
* post-event features use detail events in [first click, purchase) (or up to the end of
  the attribution window when there is no purchase): nothing at or after the label
  event leaks into a privileged feature.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterable, NamedTuple, Sequence

from pipelines.log_records import Click, DeadLetter, DetailEvent, Impression, Log, Reason

MINUTE_MS = 60 * 1000
HOUR_MS = 60 * MINUTE_MS


@dataclasses.dataclass(frozen=True)
class JoinWindows:
  click_window_ms: int = 30 * MINUTE_MS
  attribution_window_ms: int = 24 * HOUR_MS

  def __post_init__(self):
    for name, value in dataclasses.asdict(self).items():
      if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}.")


class PostEvents(NamedTuple):
  """The privileged post-click features of one impression."""
  dwell_ms_total: float = 0.0
  view_count: int = 0
  review_count: int = 0
  chat_count: int = 0
  added_to_cart: int = 0


class JoinedImpression(NamedTuple):
  """A valid impression with its labels and post-event features."""
  impression: Impression
  click: int
  click_ts_ms: int  # First counted click; -1 without one.
  purchase: int
  post_events: PostEvents


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


def _post_events(details: Sequence[DetailEvent], start_ms: int, end_ms: int
                ) -> PostEvents:
  """Aggregates detail events with start_ms <= ts < end_ms."""
  kept = [d for d in details if start_ms <= d.ts_ms < end_ms]
  counts = collections.Counter(d.event for d in kept)
  return PostEvents(dwell_ms_total=float(sum(d.dwell_ms for d in kept)),
                    view_count=counts["view"], review_count=counts["review"],
                    chat_count=counts["chat"], added_to_cart=int(counts["cart"] > 0))


def join_impression(impressions: Sequence[Impression], clicks: Sequence[Click],
                    details: Sequence[DetailEvent], windows: JoinWindows) -> JoinResult:
  """Joins all lines that share one impression_id.

  Args:
    impressions: Valid impression records with this id (normally one).
    clicks: Valid click records with this id.
    details: Valid detail-page records with this id.
    windows: The click and attribution windows.

  Returns:
    The joined impression (None when no valid impression has this id), dead letters
    and per-line outcome counts.
  """
  outcomes: collections.Counter = collections.Counter()
  notes: collections.Counter = collections.Counter()
  if len(impressions) == 1 and not clicks and not details:
    # Most impressions (~95%): nothing to dedupe, reject or aggregate; the general
    # path below gives the same result at several times the cost.
    return JoinResult(JoinedImpression(impressions[0], 0, -1, 0, PostEvents()), [],
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
  window_end = impression.ts_ms + windows.click_window_ms
  counted = [c.ts_ms for c in clicks if c.ts_ms <= window_end]
  notes["click_after_click_window"] += len(clicks) - len(counted)
  notes["extra_click"] += max(len(counted) - 1, 0)
  outcomes[(Log.CLICKS.value, "joined")] += len(clicks)

  if not counted:
    reject(details, Log.DETAIL_PAGES, Reason.DETAIL_WITHOUT_CLICK,
           "the impression has no counted click")
    joined = JoinedImpression(impression, 0, -1, 0, PostEvents())
    return JoinResult(joined, dead_letters, outcomes, notes)

  click_ts = min(counted)
  attribution_end = click_ts + windows.attribution_window_ms
  purchases = [d.ts_ms for d in details
               if d.event == "purchase" and click_ts <= d.ts_ms <= attribution_end]
  purchase_ts = min(purchases) if purchases else None
  post_end = purchase_ts if purchase_ts is not None else attribution_end + 1
  post_events = _post_events(details, click_ts, post_end)
  used = sum(1 for d in details if click_ts <= d.ts_ms < post_end) + bool(purchases)
  notes["detail_outside_window_or_after_purchase"] += len(details) - used
  outcomes[(Log.DETAIL_PAGES.value, "joined")] += len(details)
  joined = JoinedImpression(impression, 1, click_ts, int(bool(purchases)), post_events)
  return JoinResult(joined, dead_letters, outcomes, notes)

