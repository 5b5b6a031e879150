"""The click process against a brute-force reading of its definition."""

import dataclasses

import numpy as np
import pytest

from simulation import clicks as clicks_lib
from simulation import config as config_lib
from simulation import probability
from simulation import traffic as traffic_lib
from simulation import world as world_lib

# More clicks than the tiny preset, so that 24 h histories are rich.
_CONFIG = dataclasses.replace(config_lib.preset("tiny"), click_bias=-2.0, cross_effect=1.0,
                              step_minutes=5)


def _run(config: config_lib.WorldConfig, replays: int):
  """Runs every day; returns the requests and outcomes of all days (flattened)."""
  world = world_lib.build_world(config, np.random.default_rng(0))
  sampler = traffic_lib.TrafficSampler(world, config, np.random.default_rng(1))
  process = clicks_lib.ClickProcess(
      world, config, [np.random.default_rng(seed) for seed in range(2, 3 + replays)])
  days, first = [], 0
  for day in range(config.n_days):
    requests = sampler.sample_day(day, first)
    first += len(requests)
    days.append((requests, process.run_day(requests)))
  return world, days


def _flat(days, name):
  return np.concatenate([getattr(outcome, name) for _, outcome in days])


def _impressions(days) -> dict[str, np.ndarray]:
  """The requests of all days flattened to impressions: [n] per field."""
  k = _CONFIG.impressions_per_request
  return {
      "users": np.concatenate([np.repeat(r.users, k) for r, _ in days]),
      "ts": np.concatenate([np.repeat(r.ts_ms, k) for r, _ in days]),
      "scenes": np.concatenate([np.repeat(r.scenes, k) for r, _ in days]),
      "items": np.concatenate([r.items.reshape(-1) for r, _ in days]),
      "positions": np.concatenate([r.positions.reshape(-1) for r, _ in days]),
  }


def test_cross_counts_and_click_probability_follow_the_definition():
  world, days = _run(_CONFIG, replays=0)
  impressions = _impressions(days)
  users, items, ts = impressions["users"], impressions["items"], impressions["ts"]
  clicked, click_ts = _flat(days, "clicked"), _flat(days, "click_ts_ms")
  assert clicked.sum() > 300
  assert np.all(click_ts[clicked] > ts[clicked])
  assert np.all(click_ts[clicked] - ts[clicked] <= 30 * 60_000)

  category, shop = world.item_category[items], world.item_shop[items]
  expected_category = np.zeros(len(users), int)
  expected_shop = np.zeros(len(users), int)
  for n in range(len(users)):  # Straight from LOG_CONTRACT.md.
    recent = (clicked & (users == users[n]) & (click_ts >= ts[n] - 86_400_000)
              & (click_ts < ts[n]))
    expected_category[n] = np.sum(recent & (category == category[n]))
    expected_shop[n] = np.sum(recent & (shop == shop[n]))
  assert expected_category.max() >= 3
  np.testing.assert_array_equal(_flat(days, "category_clicks_24h"), expected_category)
  np.testing.assert_array_equal(_flat(days, "shop_clicks_24h"), expected_shop)

  scene_bias = np.array([scene.click_bias for scene in config_lib.SCENES])
  logit = (_CONFIG.click_bias + scene_bias[impressions["scenes"]]
           + world_lib.affinity(world, users, items)
           - _CONFIG.position_bias * np.log1p(impressions["positions"])
           + _CONFIG.cross_effect * (np.log1p(expected_category) + np.log1p(expected_shop)))
  np.testing.assert_allclose(_flat(days, "p_click_full"), probability.sigmoid(logit),
                             rtol=1e-5)


def test_replays_leave_the_logged_clicks_alone():
  _, alone = _run(_CONFIG, replays=0)
  _, with_replays = _run(_CONFIG, replays=3)
  np.testing.assert_array_equal(_flat(alone, "clicked"), _flat(with_replays, "clicked"))
  np.testing.assert_array_equal(_flat(alone, "click_ts_ms"),
                                _flat(with_replays, "click_ts_ms"))
  assert all(outcome.p_click_regular is None for _, outcome in alone)
  regular = _flat(with_replays, "p_click_regular")
  assert np.all((regular > 0) & (regular < 1))


def test_position_is_marginalised_exactly():
  no_history = dataclasses.replace(_CONFIG, cross_effect=0.0, n_days=1)
  world, days = _run(no_history, replays=2)
  requests, outcome = days[0]
  base = (no_history.click_bias
          + np.array([s.click_bias for s in config_lib.SCENES])[requests.scenes][:, None]
          + world_lib.affinity(world, requests.users[:, None], requests.items))
  positions = np.arange(no_history.impressions_per_request)
  expected = probability.sigmoid(
      base[..., None] - no_history.position_bias * np.log1p(positions)).mean(-1)
  np.testing.assert_allclose(outcome.p_click_regular, expected.reshape(-1), rtol=1e-5)


def test_buffer_overflow_is_a_clear_error():
  crowded = dataclasses.replace(_CONFIG, click_bias=5.0, click_buffer_size=5)
  with pytest.raises(ValueError, match="click_buffer_size=5 is too small"):
    _run(crowded, replays=0)
