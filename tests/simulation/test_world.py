"""The catalogue and population: long tails, valid attributes, affinity by ids."""

import numpy as np

from simulation import config as config_lib
from simulation import world as world_lib

_CONFIG = config_lib.preset("small")


def _world(seed: int = 0) -> world_lib.World:
  return world_lib.build_world(_CONFIG, np.random.default_rng(seed))


def test_every_category_has_items_and_prices_are_cents():
  world = _world()
  assert np.all(np.diff(world.category_starts) > 0)
  assert np.all(world.item_price > 0)
  np.testing.assert_allclose(world.item_price * 100, np.round(world.item_price * 100),
                             atol=1e-6)
  assert abs(world.item_log_price.mean()) < 1e-4 and abs(world.item_log_price.std() - 1) < 1e-3


def test_ids_are_long_tailed():
  world = _world()
  popularity = np.diff(np.r_[0.0, world.popularity_cdf])
  top_share = np.sort(popularity)[-len(popularity) // 100:].sum()
  assert top_share > 0.1  # The top 1% of items draw over 10% of candidates.
  shop_items = np.sort(np.bincount(world.item_shop))[::-1]
  assert shop_items[:_CONFIG.n_shops // 10].sum() > 0.4 * _CONFIG.n_items


def test_affinity_is_a_function_of_ids_and_broadcasts():
  world = _world()
  users, items = np.array([[3], [5]]), np.array([[7, 8, 9], [7, 1, 2]])
  got = world_lib.affinity(world, users, items)
  assert got.shape == (2, 3)
  expected = (world.user_vectors[5] @ world.item_vectors[1] + world.user_bias[5]
              + world.item_bias[1])
  np.testing.assert_allclose(got[1, 1], expected, rtol=1e-5)
  np.testing.assert_array_equal(got, world_lib.affinity(world, users, items))


def test_same_seed_same_world():
  np.testing.assert_array_equal(_world(1).item_price, _world(1).item_price)
  assert not np.array_equal(_world(1).item_price, _world(2).item_price)
