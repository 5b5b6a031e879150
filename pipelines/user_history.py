"""Point-in-time behaviour and cross features from one user's impressions.

The job groups joined impressions by user (the one per-key grouping it needs) and
sweeps them in time order. Only counted clicks with click ts strictly before an
impression's ts are visible to it, so a feature never sees its own label or anything
later: the user's click on this very impression happens at or after its ts.
"""

from __future__ import annotations

import collections
from typing import Iterable, Iterator, NamedTuple

from pipelines.impression_join import HOUR_MS, JoinedImpression

CROSS_WINDOW_MS = 24 * HOUR_MS


class UserHistory(NamedTuple):
  """What the user did before one impression."""
  hist_item_ids: list[str]  # Most recent click first.
  hist_category_ids: list[str]
  user_category_clicks_24h: int  # Clicks in this impression's item category.
  user_shop_clicks_24h: int  # Clicks in this impression's item shop.


class _Click(NamedTuple):
  ts_ms: int
  item_id: str
  category_id: str
  shop_id: str


def with_history(impressions: Iterable[JoinedImpression], history_length: int,
                 cross_window_ms: int = CROSS_WINDOW_MS
                 ) -> Iterator[tuple[JoinedImpression, UserHistory]]:
  """Yields each impression of one user with its point-in-time history.

  Args:
    impressions: One user's joined impressions, any order.
    history_length: How many recent clicks the behaviour sequences keep.
    cross_window_ms: The cross features count clicks in [ts - window, ts).

  Yields:
    (impression, history) in impression time order; O(n log n) in the user's
    impression count, memory O(n).
  """
  ordered = sorted(impressions, key=lambda j: (j.impression.ts_ms,
                                               j.impression.impression_id))
  clicks = sorted(_Click(j.click_ts_ms, j.impression.item_id, j.impression.category_id,
                         j.impression.shop_id) for j in ordered if j.click)
  recent: collections.deque[_Click] = collections.deque(maxlen=history_length)
  window: collections.deque[_Click] = collections.deque()
  by_category: collections.Counter = collections.Counter()
  by_shop: collections.Counter = collections.Counter()
  next_click = 0
  # The sequences change only when a click enters them, so impressions between two
  # clicks share one pair of lists (read-only, like every yielded value).
  item_ids: list[str] = []
  category_ids: list[str] = []
  for joined in ordered:
    ts = joined.impression.ts_ms
    clicked_before = next_click
    while next_click < len(clicks) and clicks[next_click].ts_ms < ts:
      click = clicks[next_click]
      recent.append(click)
      window.append(click)
      by_category[click.category_id] += 1
      by_shop[click.shop_id] += 1
      next_click += 1
    while window and window[0].ts_ms < ts - cross_window_ms:
      gone = window.popleft()
      by_category[gone.category_id] -= 1
      by_shop[gone.shop_id] -= 1
    if next_click != clicked_before:
      item_ids = [c.item_id for c in reversed(recent)]
      category_ids = [c.category_id for c in reversed(recent)]
    yield joined, UserHistory(
        hist_item_ids=item_ids, hist_category_ids=category_ids,
        user_category_clicks_24h=by_category[joined.impression.category_id],
        user_shop_clicks_24h=by_shop[joined.impression.shop_id])
