"""A snapshot keeps exactly the clicks a later day's history and crosses can see."""

import random

from features import spec as spec_lib
from pipelines import user_history
from pipelines import user_state
from pipelines.impression_join import JoinedImpression
from pipelines.log_records import Impression
from pipelines.user_history import HistoryClick

H = 3_600_000
DAY = 24 * H
T0 = 1_767_571_200_000  # 2026-01-05 00:00 UTC.
# One sequence of 3 and one cross count over 5 h, both of the category.
RULES = user_history.HistoryRules(names=("hist", "cross"), attributes=("category_id",),
                                  sequences=((0, 3),), crosses=((0, 5 * H),))
SNAPSHOT = user_state.SnapshotRules.from_history(RULES)


def click(ts, category="c"):
  return HistoryClick(ts, (category,))


def test_the_rules_are_the_longest_sequence_and_window_of_the_spec():
  rules = user_state.SnapshotRules.from_history(
      user_history.HistoryRules.from_spec(spec_lib.DEFAULT_SPEC))
  assert rules == user_state.SnapshotRules(("item_id", "category_id", "shop_id"), 50,
                                           DAY)
  assert SNAPSHOT == user_state.SnapshotRules(("category_id",), 3, 5 * H)


def test_a_click_exactly_a_window_before_the_boundary_is_kept():
  boundary = T0 + DAY
  old = [click(T0 + k) for k in range(5)]  # Beyond the window; 3 newest are kept.
  edge, too_old = click(boundary - 5 * H), click(boundary - 5 * H - 1)
  kept = user_state.prune([*old, too_old, edge], boundary, SNAPSHOT)
  # The newest 3 before the boundary are edge, too_old and old[4]; edge also
  # opens the window (an impression at the boundary counts it).
  assert kept == [old[4], too_old, edge]
  more = [click(boundary - H + k) for k in range(3)]
  kept = user_state.prune([*old, too_old, edge, *more], boundary, SNAPSHOT)
  assert kept == [edge, *more]  # too_old is neither newest nor in the window.


def test_clicks_landing_after_the_boundary_are_all_kept():
  boundary = T0 + DAY
  # Clicks of the day's late impressions that land on the next day or later.
  late = [click(boundary + k) for k in range(6)]
  kept = user_state.prune([click(T0), *late], boundary, SNAPSHOT)
  assert kept == [click(T0), *late]


def test_ties_at_the_length_cut_follow_the_sweeps_order():
  boundary = T0 + DAY
  tied = [click(T0 + H, c) for c in ("d", "a", "c", "b")]
  kept = user_state.prune(tied, boundary, SNAPSHOT)
  assert kept == [click(T0 + H, c) for c in ("b", "c", "d")]
  # The sweep shows the same three, newest (last in its order) first.
  impression = JoinedImpression(
      Impression("z", "u", boundary, {"category_id": "a"}, ""), 0, -1, None, None)
  [(_, (hist, _))] = user_history.with_history([impression], RULES, kept)
  [(_, (full_hist, _))] = user_history.with_history([impression], RULES, tied)
  assert hist == full_hist == ["d", "c", "b"]


def test_pruning_twice_is_pruning_once():
  rng = random.Random(0)
  clicks = [click(T0 + rng.randrange(3 * DAY), rng.choice("abc")) for _ in range(60)]
  first = [c for c in clicks if c.ts_ms < T0 + 2 * DAY]
  second = [c for c in clicks if c.ts_ms >= T0 + 2 * DAY]
  once = user_state.prune(clicks, T0 + 2 * DAY + H, SNAPSHOT)
  twice = user_state.prune(
      [*user_state.prune(first, T0 + DAY, SNAPSHOT), *second], T0 + 2 * DAY + H,
      SNAPSHOT)
  assert twice == once


def _impressions(rng, day, n):
  """`n` random impressions of one user on `day`, about a third clicked within
  30 min (so some land on the next day)."""
  out = []
  for k in range(n):
    ts = T0 + day * DAY + rng.randrange(DAY)
    clicked = rng.random() < 0.35
    out.append(JoinedImpression(
        Impression(f"{day}-{k}", "u", ts, {"category_id": rng.choice("abc")}, ""),
        int(clicked), ts + rng.randrange(30 * 60_000) if clicked else -1, None, None))
  return out


def test_each_day_on_the_carried_state_sees_what_the_whole_history_shows():
  rng = random.Random(7)
  days = [_impressions(rng, day, 40) for day in range(4)]
  full = {j.impression.impression_id: values for j, values in
          user_history.with_history([j for day in days for j in day], RULES)}
  state = []
  for day, impressions in enumerate(days):
    for joined, values in user_history.with_history(impressions, RULES, state):
      assert values == full[joined.impression.impression_id]
    state = user_state.prune(
        [*state, *user_history.counted_clicks(impressions, RULES)],
        T0 + (day + 1) * DAY, SNAPSHOT)
