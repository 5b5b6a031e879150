"""Lifecycles: arrivals spread over the later days, lives of at least a day, and no
draw at all while churn is off."""

import dataclasses

import numpy as np

from simulation import churn
from simulation import config as config_lib

_CHURN = dataclasses.replace(config_lib.preset("tiny"), n_days=5, item_arrival_share=0.3,
                             item_mean_lifetime_days=3.0, user_arrival_share=0.2)


def test_without_churn_everything_is_there_every_day_and_nothing_is_drawn():
  config = config_lib.preset("tiny")
  rng = np.random.default_rng(0)
  lifecycles = churn.draw_lifecycles(config, rng)
  assert rng.random() == np.random.default_rng(0).random()  # The stream is untouched.
  for day in range(config.n_days):
    assert lifecycles.items_on_sale(day).all() and lifecycles.users_present(day).all()


def test_every_later_day_brings_new_items_and_users():
  lifecycles = churn.draw_lifecycles(_CHURN, np.random.default_rng(0))
  # 30% of 500 items and 20% of 300 users, an equal part on each of days 1..4.
  assert np.bincount(lifecycles.item_arrival_day).tolist() == [350, 38, 38, 37, 37]
  assert np.bincount(lifecycles.user_arrival_day).tolist() == [240, 15, 15, 15, 15]
  for day in range(1, _CHURN.n_days):
    arrived = lifecycles.item_arrival_day == day
    assert lifecycles.items_on_sale(day)[arrived].all()
    assert not lifecycles.items_on_sale(day - 1)[arrived].any()


def test_items_retire_after_at_least_a_day_and_stay_retired():
  lifecycles = churn.draw_lifecycles(_CHURN, np.random.default_rng(0))
  assert np.all(lifecycles.item_retirement_day > lifecycles.item_arrival_day)
  retired = lifecycles.item_retirement_day < _CHURN.n_days
  assert 0.3 < retired.mean() < 0.9  # Mean life 3 days in a 5-day world.
  on_sale = np.stack([lifecycles.items_on_sale(day) for day in range(_CHURN.n_days)])
  # Each item is on sale on one run of consecutive days.
  assert np.all(np.diff(on_sale.astype(np.int8), axis=0).sum(axis=0) <= 1)
  assert np.all(on_sale.sum(axis=0) >= 1)
