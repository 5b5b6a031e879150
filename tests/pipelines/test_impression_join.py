"""Labels and post-event features: windows, first click, no leak past the purchase."""

import dataclasses

import pytest

from features import spec as spec_lib
from pipelines import impression_join
from pipelines.log_records import Click, DetailEvent, Impression

TS = 1_767_571_200_000
MIN = 60_000
DAY = 24 * 60 * MIN
SPEC = spec_lib.DEFAULT_SPEC
RULES = impression_join.JoinRules.from_spec(SPEC)
NO_POST_EVENTS = dict.fromkeys(RULES.post_events, 0)


def impression(**values):
  base = {"impression_id": "imp1", "user_id": "u1", "ts_ms": TS}
  base.update(values)
  return Impression("imp1", "u1", TS, base, "imp.jsonl")


def click(ts):
  return Click("imp1", ts, "clicks.jsonl")


def detail(ts, event, dwell=0):
  return DetailEvent("imp1", ts, event, (dwell,), "detail.jsonl")


def join(impressions=None, clicks=(), details=(), rules=RULES):
  return impression_join.join_impression(
      [impression()] if impressions is None else impressions, list(clicks),
      list(details), rules)


def labels(result, rules=RULES):
  return dict(zip((name for name, _, _ in rules.labels),
                  result.joined.labels or (0,) * len(rules.labels)))


def post_events(result, rules=RULES):
  return (dict(zip(rules.post_events, result.joined.post_events))
          if result.joined.post_events is not None else NO_POST_EVENTS)


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
  assert labels(result) == {"purchase": 1}
  assert post_events(result) == dict(dwell_ms_total=1500.0, view_count=2,
                                     review_count=1, chat_count=0, added_to_cart=1)
  assert result.outcomes[("detail_pages", "joined")] == 8
  assert result.notes["detail_outside_window_or_after_label"] == 3


def test_purchase_outside_the_attribution_window_is_no_label():
  c = TS + MIN
  late = c + DAY + 1
  result = join(clicks=[click(c)], details=[detail(c + 10, "view", 100),
                                            detail(late, "purchase"),
                                            detail(late, "chat")])
  assert labels(result) == {"purchase": 0}
  assert post_events(result)["view_count"] == 1
  assert post_events(result)["chat_count"] == 0  # Outside the window too.


def test_events_between_impression_and_click_are_not_post_events():
  result = join(clicks=[click(TS + 10 * MIN)],
                details=[detail(TS + MIN, "view", 999)])
  assert post_events(result) == NO_POST_EVENTS
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


def _two_label_rules():
  """The default spec plus a `cart` label (2 h) and post-event features before it: a
  max of the view dwell and a count of chats."""
  features = [f for f in SPEC if f.name != "added_to_cart"] + [
      spec_lib.Feature("carted", spec_lib.DType.INT64, spec_lib.Kind.LABEL,
                       spec_lib.Group.LABEL, "derived", derive=spec_lib.Derivation(
                           spec_lib.Op.EVENT, event="cart", window_ms=120 * MIN)),
      spec_lib.Feature("longest_view_ms", spec_lib.DType.FLOAT32, spec_lib.Kind.NUMERIC,
                       spec_lib.Group.POST_EVENT, "derived",
                       excluded_from=frozenset(SPEC.tasks),
                       derive=spec_lib.Derivation(spec_lib.Op.MAX, event="view",
                                                  field="dwell_ms", before="carted")),
      spec_lib.Feature("chats_before_cart", spec_lib.DType.INT64, spec_lib.Kind.NUMERIC,
                       spec_lib.Group.POST_EVENT, "derived",
                       excluded_from=frozenset(SPEC.tasks),
                       derive=spec_lib.Derivation(spec_lib.Op.COUNT, event="chat",
                                                  before="carted"))]
  return impression_join.JoinRules.from_spec(SPEC.with_features(features))


def test_each_post_event_feature_stops_before_its_own_label():
  rules = _two_label_rules()
  c = TS + MIN
  result = join(clicks=[click(c)], rules=rules, details=[
      detail(c + 1000, "view", 300),
      detail(c + 2000, "chat"),
      detail(c + 3000, "cart"),  # Ends the cart label's features' window.
      detail(c + 4000, "view", 900),  # After the cart: not in longest_view_ms.
      detail(c + 5000, "chat"),
      detail(c + 6000, "purchase"),
  ])
  assert labels(result, rules) == {"purchase": 1, "carted": 1}
  got = post_events(result, rules)
  assert (got["longest_view_ms"], got["chats_before_cart"]) == (300.0, 1)
  assert (got["view_count"], got["chat_count"]) == (2, 2)  # Before the purchase.
  # Every detail is in a window or the first event of a label.
  assert result.notes["detail_outside_window_or_after_label"] == 0


def test_a_label_window_is_its_own():
  rules = _two_label_rules()
  c = TS + MIN
  result = join(clicks=[click(c)], rules=rules,
                details=[detail(c + 3 * 60 * MIN, "cart"), detail(c + 10, "view", 5)])
  assert labels(result, rules) == {"purchase": 0, "carted": 0}  # Cart after 2 h.
  assert post_events(result, rules)["longest_view_ms"] == 5.0


def test_max_of_no_event_is_zero():
  rules = _two_label_rules()
  result = join(clicks=[click(TS + MIN)], rules=rules,
                details=[detail(TS + 2 * MIN, "chat")])
  assert post_events(result, rules)["longest_view_ms"] == 0.0


@pytest.mark.parametrize("window", [30 * MIN, 5 * MIN])
def test_the_click_window_is_the_specs(window):
  clicks = dataclasses.replace(SPEC["click"], derive=spec_lib.Derivation(
      spec_lib.Op.CLICK, window_ms=window))
  rules = impression_join.JoinRules.from_spec(SPEC.with_features(
      clicks if f.name == "click" else f for f in SPEC))
  assert join(clicks=[click(TS + 10 * MIN)], rules=rules).joined.click == int(
      window >= 10 * MIN)


def test_an_op_the_join_cannot_aggregate_is_refused_naming_the_feature():
  # Not the values of another op (max, the last rule) for an op with no rule.
  aggregates = list(RULES.aggregates)
  aggregates[0] = aggregates[0]._replace(op=spec_lib.Op.HISTORY)
  rules = dataclasses.replace(RULES, aggregates=tuple(aggregates))
  with pytest.raises(ValueError, match=rf"{RULES.post_events[0]!r}.*'history'"):
    join(clicks=[click(TS + MIN)], rules=rules)
