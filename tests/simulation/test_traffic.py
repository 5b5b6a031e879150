"""Requests: one per user per step, random positions, candidates blind to clicks."""

import dataclasses

import numpy as np

from simulation import config as config_lib
from simulation import traffic as traffic_lib
from simulation import world as world_lib

_CONFIG = config_lib.preset("tiny")


def _sampler() -> traffic_lib.TrafficSampler:
  world = world_lib.build_world(_CONFIG, np.random.default_rng(0))
  return traffic_lib.TrafficSampler(world, _CONFIG, np.random.default_rng(1))


def test_day_requests_respect_the_step_rules():
  sampler = _sampler()
  step_ms = _CONFIG.step_minutes * 60_000
  requests = sampler.sample_day(1, first_index=100)
  assert len(requests) == sampler.requests_on(1)
  assert np.all(np.diff(requests.ts_ms) >= 0)
  np.testing.assert_array_equal((requests.ts_ms - _CONFIG.start_ts_ms) // step_ms,
                                requests.steps)
  assert np.all(requests.steps // (86_400_000 // step_ms) == 1)
  pairs = requests.users.astype(np.int64) * 10**6 + requests.steps
  assert len(np.unique(pairs)) == len(pairs)  # At most one request per user per step.
  k = _CONFIG.impressions_per_request
  np.testing.assert_array_equal(np.sort(requests.positions, axis=1),
                                np.tile(np.arange(k), (len(requests), 1)))


def test_all_days_add_up_to_the_target():
  sampler = _sampler()
  assert sum(sampler.requests_on(day) for day in range(_CONFIG.n_days)) == (
      _CONFIG.num_requests)


def test_positions_are_uniform():
  requests = _sampler().sample_day(0, 0)
  # Item popularity must not depend on position: mean item id per position is flat.
  by_position = [requests.items[requests.positions == p].mean()
                 for p in range(_CONFIG.impressions_per_request)]
  assert np.ptp(by_position) < 0.1 * _CONFIG.n_items


def test_a_churn_world_serves_only_present_users_and_items_on_sale():
  config = dataclasses.replace(_CONFIG, n_days=5, item_arrival_share=0.3,
                               item_mean_lifetime_days=2.0, user_arrival_share=0.3)
  world = world_lib.build_world(config, np.random.default_rng(0))
  sampler = traffic_lib.TrafficSampler(world, config, np.random.default_rng(1))
  lifecycles = world.lifecycles
  for day in range(config.n_days):
    requests = sampler.sample_day(day, 0)
    assert lifecycles.users_present(day)[requests.users].all()
    assert lifecycles.items_on_sale(day)[requests.items].all()
    if day:  # Newcomers are served on their first day.
      assert np.any(lifecycles.user_arrival_day[requests.users] == day)
      assert np.any(lifecycles.item_arrival_day[requests.items] == day)
