"""Log lines exactly per LOG_CONTRACT.md, formatted fast.

`json.dumps` per record is too slow for millions of lines, and every value here is an
id, an int, a fixed scene or event name or a price, none of which needs escaping. So the
per-user and per-item parts of an impression are formatted once, and a line is one
f-string over them. Field names are the contract's; ids follow one pattern each
(`u000123`, `i00042`, `imp000000001`, `req00000001`, `c12`, `s40`, `b7`, `seg_3`).
"""

from collections.abc import Sequence

import numpy as np

from simulation import behaviour
from simulation import config as config_lib
from simulation import world as world_lib


def impression_ids(first: int, count: int) -> list[str]:
  """The ids of impressions `first` .. `first + count - 1` (global, unique)."""
  return [f"imp{index:09d}" for index in range(first, first + count)]


def request_ids(first: int, count: int) -> list[str]:
  """The ids of requests `first` .. `first + count - 1` (global, unique)."""
  return [f"req{index:08d}" for index in range(first, first + count)]


class LogFormatter:
  """Formats impressions, clicks and detail-page events of one world as JSON lines."""

  def __init__(self, world: world_lib.World):
    self._user_fields = np.array([
        f'"user_id":"u{user:06d}","user":{{"segment":"seg_{segment}",'
        f'"city_tier":{tier},"age_bucket":{age}}}'
        for user, (segment, tier, age) in enumerate(zip(
            world.user_segment.tolist(), world.user_city_tier.tolist(),
            world.user_age_bucket.tolist()))], dtype=object)
    self._item_fields = np.array([
        f'"item_id":"i{item:05d}","item":{{"category_id":"c{category}",'
        f'"shop_id":"s{shop}","brand_id":"b{brand}","price":{price:.2f}}}'
        for item, (category, shop, brand, price) in enumerate(zip(
            world.item_category.tolist(), world.item_shop.tolist(),
            world.item_brand.tolist(), world.item_price.tolist()))], dtype=object)
    self._scene_names = np.array([scene.name for scene in config_lib.SCENES],
                                 dtype=object)

  def impressions(self, ids: Sequence[str], requests: Sequence[str], users: np.ndarray,
                  items: np.ndarray, ts_ms: np.ndarray, positions: np.ndarray,
                  scenes: np.ndarray) -> list[str]:
    """One line per impression.

    Args:
      ids: [n] impression ids.
      requests: [n] request ids.
      users / items: [n] int ids.
      ts_ms: [n] int64 timestamps.
      positions: [n] int positions.
      scenes: [n] int indices into `config.SCENES`.
    """
    return [
        f'{{"impression_id":"{impression}","request_id":"{request}","ts_ms":{ts},'
        f'"position":{position},"scene":"{scene}",{user},{item}}}'
        for impression, request, ts, position, scene, user, item in zip(
            ids, requests, ts_ms.tolist(), positions.tolist(),
            self._scene_names[scenes].tolist(), self._user_fields[users].tolist(),
            self._item_fields[items].tolist())]

  @staticmethod
  def clicks(ids: Sequence[str], ts_ms: np.ndarray) -> list[str]:
    """One line per click: [n] impression ids and [n] int64 click timestamps."""
    return [f'{{"impression_id":"{impression}","ts_ms":{ts}}}'
            for impression, ts in zip(ids, ts_ms.tolist())]

  @staticmethod
  def detail_pages(ids: Sequence[str], ts_ms: np.ndarray, event_type: np.ndarray,
                   dwell_ms: np.ndarray) -> list[str]:
    """One line per detail-page event; `dwell_ms` only on views.

    Args:
      ids: [n] impression ids.
      ts_ms: [n] int64 timestamps.
      event_type: [n] int indices into `behaviour.EVENT_NAMES`.
      dwell_ms: [n] int64 dwell of views (ignored for other events).
    """
    names = np.array(behaviour.EVENT_NAMES, dtype=object)[event_type].tolist()
    return [
        f'{{"impression_id":"{impression}","ts_ms":{ts},"event":"{name}",'
        f'"dwell_ms":{dwell}}}' if name == "view" else
        f'{{"impression_id":"{impression}","ts_ms":{ts},"event":"{name}"}}'
        for impression, ts, name, dwell in zip(ids, ts_ms.tolist(), names,
                                               dwell_ms.tolist())]
