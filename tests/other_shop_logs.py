"""Logs of another shop system than the simulator's: other `user` / `item` keys (a
boolean, `vip`, and a nested object, `geo.country`, among them), an extra detail-page
event type, a user key missing on ~10% of records and an item attribute missing on some
(unbranded items). What a new user brings."""

import math

import numpy as np

from world_fixtures import write_logs

DAY_MS = 24 * 3600 * 1000
T0 = 1_767_571_200_000  # 2026-01-05 00:00 UTC.
EVENTS = ("view", "share", "order")  # `share` is the simulator's unknown.
COUNTRIES = ("DE", "FR", "IT")


def _sigmoid(x: float) -> float:
  return 1.0 / (1.0 + math.exp(-x))


def write(root: str, num_impressions: int = 6000, days: int = 3, seed: int = 0
          ) -> dict[str, str]:
  """Writes impressions (gzip), clicks and detail pages under `root`; returns globs."""
  rng = np.random.default_rng(seed)
  n_users, n_items, n_cats = 150, 200, 6
  user_gender = rng.choice(["f", "m"], n_users)
  user_level = rng.integers(0, 4, n_users)
  item_cat = rng.integers(0, n_cats, n_items)
  item_seller = rng.integers(0, 25, n_items)
  item_branded = rng.random(n_items) > 0.3
  item_price = np.round(rng.lognormal(3.0, 0.8, n_items), 2)
  taste = rng.normal(0, 1.2, (2, n_cats))  # Gender x category affinity.
  impressions, clicks, details = [], [], []
  for n in range(num_impressions):
    user, item = int(rng.integers(n_users)), int(rng.integers(n_items))
    ts = T0 + int(n * days * DAY_MS / num_impressions)
    gender = 0 if user_gender[user] == "f" else 1
    # Functions of the user, drawing nothing: the rest of the logs stay as they were.
    user_keys = {"gender": user_gender[user], "vip": bool(user_level[user] >= 2),
                 "geo": {"country": COUNTRIES[user % len(COUNTRIES)]}}
    if rng.random() > 0.1:  # ~10% of records lack the member level.
      user_keys["member_level"] = int(user_level[user])
    item_keys = {"cat": f"k{item_cat[item]}", "seller": f"v{item_seller[item]}",
                 "price_cny": float(item_price[item])}
    if item_branded[item]:
      item_keys["brand"] = f"br{item % 17}"
    impression_id = f"o{n:07d}"
    impressions.append({"impression_id": impression_id, "request_id": f"q{n // 4}",
                        "user_id": f"user{user}", "item_id": f"sku{item}", "ts_ms": ts,
                        "position": n % 4, "scene": "feed", "user": user_keys,
                        "item": item_keys})
    affinity = taste[gender, item_cat[item]] + 0.3 * user_level[user]
    if rng.random() >= _sigmoid(-2.0 + affinity):
      continue
    click_ts = ts + int(rng.integers(1_000, 60_000))
    clicks.append({"impression_id": impression_id, "ts_ms": click_ts})
    t = click_ts + 1_000
    details.append({"impression_id": impression_id, "ts_ms": t, "event": "view",
                    "dwell_ms": int(rng.integers(1_000, 90_000))})
    shared = rng.random() < 0.3
    if shared:
      details.append({"impression_id": impression_id, "ts_ms": t + 5_000,
                      "event": "share"})
    if rng.random() < _sigmoid(-2.0 + 2.5 * shared + 0.5 * affinity):
      details.append({"impression_id": impression_id, "ts_ms": t + 60_000,
                      "event": "order"})
  return write_logs(root, impressions, clicks, details)
