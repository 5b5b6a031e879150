"""Behaviour and cross features see only clicks strictly before the impression."""

import random
import types

from features import spec as spec_lib
from pipelines import user_history
from pipelines.impression_join import JoinedImpression
from pipelines.log_records import Impression

H = 3_600_000
T0 = 1_767_571_200_000
RULES = user_history.HistoryRules.from_spec(spec_lib.DEFAULT_SPEC)


def joined(imp_id, ts, item, category, shop, click_ts=None):
  impression = Impression(imp_id, "u1", ts, {"item_id": item, "category_id": category,
                                             "shop_id": shop}, "f")
  return JoinedImpression(impression, int(click_ts is not None),
                          -1 if click_ts is None else click_ts, None, None)


def histories(impressions, rules=RULES):
  return {j.impression.impression_id: types.SimpleNamespace(**dict(zip(rules.names, h)))
          for j, h in user_history.with_history(impressions, rules)}


def test_a_click_one_ms_before_is_visible_and_one_at_the_ts_is_not():
  result = histories([
      joined("a", T0, "i1", "c1", "s1", click_ts=T0 + 1000),
      joined("b", T0 + 1001, "i2", "c1", "s2"),  # Click on a was 1 ms before.
      joined("c", T0 + 1000, "i3", "c1", "s1"),  # Click on a at exactly this ts.
  ])
  assert result["b"].hist_item_ids == ["i1"]
  assert result["b"].user_category_clicks_24h == 1
  assert result["b"].user_shop_clicks_24h == 0  # Other shop.
  assert result["c"].hist_item_ids == []
  assert result["c"].user_category_clicks_24h == 0
  assert result["a"].hist_item_ids == []  # Its own click comes later.


def test_cross_counts_use_the_last_24_hours_and_history_is_most_recent_first():
  result = histories([
      joined("a", T0, "i1", "c1", "s1", click_ts=T0 + 1),
      joined("b", T0 + 2 * H, "i2", "c2", "s1", click_ts=T0 + 2 * H + 1),
      joined("c", T0 + 3 * H, "i3", "c1", "s9", click_ts=T0 + 3 * H + 1),
      joined("d", T0 + 24 * H + 1, "i4", "c1", "s1"),  # a's click is exactly 24 h old.
      joined("e", T0 + 24 * H + 2, "i5", "c1", "s1"),  # a's click is now too old.
  ])
  assert result["d"].hist_item_ids == ["i3", "i2", "i1"]
  assert result["d"].hist_category_ids == ["c1", "c2", "c1"]
  assert result["d"].user_category_clicks_24h == 2
  assert result["d"].user_shop_clicks_24h == 2
  assert result["e"].user_category_clicks_24h == 1
  assert result["e"].user_shop_clicks_24h == 1
  assert result["e"].hist_item_ids == ["i3", "i2", "i1"]  # History has no window.


def test_history_keeps_the_most_recent_clicks_only():
  clicks = [joined(f"x{k}", T0 + k * 10, f"i{k}", "c", "s", click_ts=T0 + k * 10 + 1)
            for k in range(5)]
  short = RULES.__class__(RULES.names, RULES.attributes,
                          ((RULES.sequences[0][0], 3), RULES.sequences[1]), RULES.crosses)
  result = histories(clicks + [joined("z", T0 + H, "iz", "c", "s")], short)
  assert result["z"].hist_item_ids == ["i4", "i3", "i2"]
  assert result["z"].hist_category_ids == ["c"] * 5  # Its own max_length.
  assert result["z"].user_category_clicks_24h == 5


def test_an_impression_missing_the_attribute_shares_no_clicks():
  missing = spec_lib.MISSING_TOKEN
  result = histories([
      joined("a", T0, "i1", "c1", missing, click_ts=T0 + 1),
      joined("b", T0 + 10, "i2", "c1", missing),
  ])
  assert result["b"].user_shop_clicks_24h == 0
  assert result["b"].user_category_clicks_24h == 1
  assert result["b"].hist_item_ids == ["i1"]


def _by_definition(users, ts_ms, attributes, clicks, rules):
  """Each impression's history straight from the rules, one impression at a time."""
  out = []
  for user, ts, values in zip(users, ts_ms, attributes):
    visible = sorted((c_ts, c_values) for c_user, c_ts, c_values in clicks
                     if c_user == user and c_ts < ts)
    newest_first = [c_values for _, c_values in reversed(visible)]
    row = [[v[a] for v in newest_first[:n]] for a, n in rules.sequences]
    row += [0 if values[a] == spec_lib.MISSING_TOKEN else
            sum(1 for c_ts, c_values in visible
                if c_ts >= ts - window and c_values[a] == values[a])
            for a, window in rules.crosses]
    out.append(tuple(row))
  return out


def test_a_bucket_of_users_gets_each_user_s_history_by_definition():
  rng = random.Random(7)
  rules = RULES.__class__(RULES.names, RULES.attributes,
                          ((0, 3), (1, 5)), ((1, 3 * H), (2, 24 * H)))
  vocabulary = ["a", "b", spec_lib.MISSING_TOKEN]
  users, ts_ms, attributes, clicks = [], [], [], []
  for _ in range(300):
    user, ts = rng.choice(["u1", "u2", "u3", "u4"]), T0 + rng.randrange(48) * H // 2
    values = tuple(rng.choice(vocabulary) for _ in rules.attributes)
    users.append(user), ts_ms.append(ts), attributes.append(values)
    if rng.random() < 0.3:  # Ties with impressions' ts on purpose.
      clicks.append((user, ts + rng.choice([0, 1, H // 2]), values))
  # Carried clicks, one of a user without impressions here.
  clicks += [("u1", T0 - H, ("i0", "a", "b")), ("u5", T0, ("i9", "b", "a"))]
  columns = user_history.bucket_history(users, ts_ms, list(zip(*attributes)), clicks,
                                        rules)
  assert list(zip(*columns)) == _by_definition(users, ts_ms, attributes, clicks, rules)
