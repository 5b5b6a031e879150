"""Labels and post-event features: windows, first click, no leak past the purchase."""

from pipelines import impression_join
from pipelines.impression_join import JoinWindows, PostEvents
from pipelines.log_records import Click, DetailEvent, Impression

TS = 1_767_571_200_000
MIN = 60_000
WINDOWS = JoinWindows(click_window_ms=30 * MIN, attribution_window_ms=24 * 60 * MIN)


def impression(**values):
  base = {"impression_id": "imp1", "user_id": "u1", "ts_ms": TS}
  base.update(values)
  return Impression("imp1", "u1", TS, "i1", "c1", "s1", base, "imp.jsonl")


def click(ts):
  return Click("imp1", ts, "clicks.jsonl")


def detail(ts, event, dwell=0):
  return DetailEvent("imp1", ts, event, dwell, "detail.jsonl")


def join(impressions=None, clicks=(), details=()):
  return impression_join.join_impression(
      [impression()] if impressions is None else impressions, list(clicks),
      list(details), WINDOWS)


def test_first_click_in_window_counts_once_and_late_clicks_do_not():
  result = join(clicks=[click(TS + 5 * MIN), click(TS + 2 * MIN), click(TS + 31 * MIN)])
  assert (result.joined.click, result.joined.click_ts_ms) == (1, TS + 2 * MIN)
  assert result.outcomes[("clicks", "joined")] == 3
  assert result.notes["click_after_click_window"] == 1
  assert result.notes["extra_click"] == 1
  assert not result.dead_letters


def test_click_exactly_at_the_window_end_counts_and_one_ms_later_does_not():
  assert join(clicks=[click(TS + 30 * MIN)]).joined.click == 1
  assert join(clicks=[click(TS + 30 * MIN + 1)]).joined.click == 0


def test_post_events_stop_strictly_before_the_purchase():
  c = TS + MIN
  result = join(clicks=[click(c)], details=[
      detail(c, "view", 1000),  # At the click: counts.
      detail(c + 1000, "review"),
      detail(c + 2000, "cart"),
      detail(c + 3000, "view", 500),
      detail(c + 4000, "purchase"),
      detail(c + 4000, "chat"),  # At the purchase ts: leaks the label, excluded.
      detail(c + 9000, "chat"),  # After the purchase: excluded.
      detail(c + 9500, "view", 7000),  # After the purchase: excluded.
  ])
  assert result.joined.purchase == 1
  assert result.joined.post_events == PostEvents(
      dwell_ms_total=1500.0, view_count=2, review_count=1, chat_count=0,
      added_to_cart=1)
  assert result.outcomes[("detail_pages", "joined")] == 8
  assert result.notes["detail_outside_window_or_after_purchase"] == 3


def test_purchase_outside_the_attribution_window_is_no_label():
  c = TS + MIN
  late = c + WINDOWS.attribution_window_ms + 1
  result = join(clicks=[click(c)], details=[detail(c + 10, "view", 100),
                                            detail(late, "purchase"),
                                            detail(late, "chat")])
  assert result.joined.purchase == 0
  assert result.joined.post_events.view_count == 1
  assert result.joined.post_events.chat_count == 0  # Outside the window too.


def test_events_between_impression_and_click_are_not_post_events():
  result = join(clicks=[click(TS + 10 * MIN)],
                details=[detail(TS + MIN, "view", 999)])
  assert result.joined.post_events == PostEvents()
  assert not result.dead_letters


def test_orphans_duplicates_and_conflicts_are_accounted_for():
  other = impression(scene="search")
  result = join(impressions=[impression(), impression(), other],
                clicks=[click(TS + MIN), click(TS + MIN), click(TS - 1)],
                details=[detail(TS + 2 * MIN, "view", 10)])
  reasons = sorted(d.reason for d in result.dead_letters)
  assert reasons == ["conflicting_duplicate", "event_before_impression"]
  assert result.outcomes[("impressions", "duplicate")] == 1
  assert result.outcomes[("clicks", "duplicate")] == 1
  assert result.outcomes[("clicks", "joined")] == 1
  # The smallest canonical JSON is kept, whatever the arrival order.
  assert result.joined.impression == min(impression(), other, key=Impression.canonical)


def test_events_without_an_impression_are_orphans():
  result = join(impressions=[], clicks=[click(TS)], details=[detail(TS, "chat")])
  assert result.joined is None
  assert [d.reason for d in result.dead_letters] == ["orphan_event", "orphan_event"]
  assert {d.log for d in result.dead_letters} == {"clicks", "detail_pages"}


def test_detail_events_need_a_counted_click():
  result = join(clicks=[click(TS + 40 * MIN)], details=[detail(TS + 41 * MIN, "view",
                                                               5)])
  assert result.joined.click == 0
  assert [d.reason for d in result.dead_letters] == ["detail_without_click"]
  assert result.dead_letters[0].source == "detail.jsonl"
