"""Log lines: valid JSON carrying the world's values under the contract's names."""

import json

import numpy as np

from simulation import behaviour
from simulation import config as config_lib
from simulation import records
from simulation import world as world_lib


def test_lines_parse_to_the_world_values():
  world = world_lib.build_world(config_lib.preset("tiny"), np.random.default_rng(0))
  formatter = records.LogFormatter(world)
  [line] = formatter.impressions(
      records.impression_ids(41, 1), records.request_ids(7, 1), np.array([12]),
      np.array([42]), np.array([1_767_571_200_123]), np.array([3]), np.array([1]))
  assert json.loads(line) == {
      "impression_id": "imp000000041", "request_id": "req00000007", "user_id": "u000012",
      "item_id": "i00042", "ts_ms": 1_767_571_200_123, "position": 3, "scene": "search",
      "user": {"segment": f"seg_{world.user_segment[12]}",
               "city_tier": int(world.user_city_tier[12]),
               "age_bucket": int(world.user_age_bucket[12])},
      "item": {"category_id": f"c{world.item_category[42]}",
               "shop_id": f"s{world.item_shop[42]}", "brand_id": f"b{world.item_brand[42]}",
               "price": float(world.item_price[42])}}

  click, = formatter.clicks(["imp1"], np.array([5]))
  assert json.loads(click) == {"impression_id": "imp1", "ts_ms": 5}
  view, cart = formatter.detail_pages(["imp1", "imp1"], np.array([6, 7]),
                                      np.array([behaviour.VIEW, behaviour.CART]),
                                      np.array([900, -1]))
  assert json.loads(view) == {"impression_id": "imp1", "ts_ms": 6, "event": "view",
                              "dwell_ms": 900}
  assert json.loads(cart) == {"impression_id": "imp1", "ts_ms": 7, "event": "cart"}
