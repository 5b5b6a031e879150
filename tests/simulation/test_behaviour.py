"""Post-click behaviour: the timeline the join relies on, the price trap, the knobs."""

import dataclasses

import numpy as np

from simulation import behaviour
from simulation import config as config_lib

_CONFIG = config_lib.preset("demo")
_START = _CONFIG.start_ts_ms


def _sessions(config: config_lib.WorldConfig = _CONFIG, m: int = 20_000, seed: int = 0):
  """M synthetic clicks with affinity ~ N(0.5, 1) and standard log price."""
  rng = np.random.default_rng(seed)
  affinity = rng.normal(0.5, 1.0, m)
  log_price = rng.normal(size=m)
  click_ts = _START + rng.integers(0, 86_400_000, m)
  return affinity, log_price, click_ts, behaviour.sample_sessions(
      config, affinity, log_price, click_ts, np.random.default_rng(seed + 1))


def _per_click(sessions, mask, m):
  return np.bincount(sessions.event_click[mask], minlength=m)


def test_timeline_matches_the_join_windows():
  _, _, click_ts, s = _sessions()
  m = len(click_ts)
  purchase_ts = np.full(m, np.iinfo(np.int64).max)
  is_purchase = s.event_type == behaviour.PURCHASE
  purchase_ts[s.event_click[is_purchase]] = s.event_ts_ms[is_purchase]
  np.testing.assert_array_equal(_per_click(s, is_purchase, m), s.purchased)
  assert 0.01 < s.purchased.mean() < 0.1  # A few percent convert.

  owner_click, owner_purchase = click_ts[s.event_click], purchase_ts[s.event_click]
  assert np.all(s.event_ts_ms >= owner_click)
  pre = s.event_ts_ms < owner_purchase  # What the join counts.
  assert np.all(s.event_ts_ms[pre] < owner_click[pre] + 86_400_000)
  assert np.all(purchase_ts[s.purchased] - click_ts[s.purchased] <= 3_600_000)
  after = ~pre & ~is_purchase
  assert after.any() and np.all(s.event_type[after] == behaviour.CHAT)  # Post-purchase.
  assert np.all(s.purchased[s.event_click[after]])

  for code, count in ((behaviour.VIEW, s.views), (behaviour.REVIEW, s.reviews),
                      (behaviour.CHAT, s.chats), (behaviour.CART, s.carts)):
    np.testing.assert_array_equal(_per_click(s, pre & (s.event_type == code), m), count)
  views = s.event_type == behaviour.VIEW
  np.testing.assert_array_equal(
      np.bincount(s.event_click[views], weights=s.event_dwell_ms[views], minlength=m),
      s.dwell_total_ms)
  assert np.all(s.event_dwell_ms[views] >= 0) and np.all(s.event_dwell_ms[~views] == -1)
  # Distinct timestamps per click: no two events can be mistaken for duplicates.
  keys = s.event_click.astype(np.int64) * 10**13 + s.event_ts_ms - _START
  assert len(np.unique(keys)) == len(keys)


def test_price_trap_lengthens_dwell_and_lowers_conversion():
  _, log_price, _, s = _sessions(m=100_000)
  cheap, expensive = log_price < -0.8, log_price > 0.8
  dwell_per_view = s.dwell_total_ms / s.views
  assert dwell_per_view[expensive].mean() > 1.5 * dwell_per_view[cheap].mean()
  assert s.purchased[expensive].mean() < 0.6 * s.purchased[cheap].mean()


def test_post_event_affinity_knob_switches_the_affinity_path():
  def dwell_affinity_correlation(post_event_affinity):
    config = dataclasses.replace(_CONFIG, post_event_affinity=post_event_affinity)
    affinity, _, _, s = _sessions(config, m=100_000)
    return np.corrcoef(np.log1p(s.dwell_total_ms / s.views), affinity)[0, 1]

  assert dwell_affinity_correlation(1.0) > 0.1
  assert abs(dwell_affinity_correlation(0.0)) < 0.015  # 100k draws: sd 0.003.


def test_same_seed_same_sessions():
  first, second = _sessions(m=500)[3], _sessions(m=500)[3]
  np.testing.assert_array_equal(first.event_ts_ms, second.event_ts_ms)
  np.testing.assert_array_equal(first.event_dwell_ms, second.event_dwell_ms)


def test_a_very_informative_world_draws_bounded_sessions():
  # Intent scaled by 16: uncapped, a click 5 sigma out would draw exp(40) views.
  config = dataclasses.replace(_CONFIG, post_event_informativeness=16.0)
  _, _, _, s = _sessions(config, m=50_000)
  cap = behaviour.MAX_MEAN_COUNT
  assert s.views.max() - 1 <= cap + 10 * np.sqrt(cap), s.views.max()
  assert s.reviews.max() <= cap + 10 * np.sqrt(cap), s.reviews.max()
  # The capped rate binds for some clicks here: the cap is what bounded them.
  assert (s.views - 1 > 0.5 * cap).any()
  per_view = s.dwell_total_ms / s.views
  assert per_view.max() < 20 * behaviour.DWELL_SHAPE * behaviour.MAX_DWELL_SCALE_MS
