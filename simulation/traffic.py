"""Requests: who is served when, on which scene, and which items at which positions.

Nothing here looks at clicks: candidates mix global popularity with the user's
favourite categories, and positions are a uniformly random permutation of the shown
items, so position is independent of everything else (the oracle marginalises it
exactly by averaging over the k positions).
"""

import dataclasses

import numpy as np

from simulation import config as config_lib
from simulation import world as world_lib

_HOUR_MS = 3600 * 1000


@dataclasses.dataclass(frozen=True, eq=False)
class Requests:
  """One day's requests, sorted by timestamp.

  Attributes:
    first_index: global index of the first request; request n is `first_index + n`.
    users: [N] int32 user ids.
    ts_ms: [N] int64 request (and impression) timestamps.
    steps: [N] int64 global click-process step of each request; nondecreasing, and a
      user appears at most once per step.
    scenes: [N] int8 indices into `config.SCENES`.
    items: [N, k] int32 shown items.
    positions: [N, k] int16, each row a random permutation of 0..k-1.
  """
  first_index: int
  users: np.ndarray
  ts_ms: np.ndarray
  steps: np.ndarray
  scenes: np.ndarray
  items: np.ndarray
  positions: np.ndarray

  def __len__(self) -> int:
    return len(self.users)


class TrafficSampler:
  """Draws each day's requests; activity is Zipf, capped, and peaks in the evening."""

  def __init__(self, world: world_lib.World, config: config_lib.WorldConfig,
               rng: np.random.Generator):
    self._world = world
    self._config = config
    self._rng = rng
    self._step_ms = config.step_minutes * 60_000
    self._steps_per_day = config_lib.DAY_MS // self._step_ms
    requests_per_day = config.num_requests / config.n_days
    # Users only arrive, so day 0 serves the fewest: if it can, every day can.
    users = int(world.lifecycles.users_present(0).sum())
    if requests_per_day > 0.5 * users * self._steps_per_day:
      raise ValueError(
          f"WorldConfig.num_impressions={config.num_impressions} needs "
          f"{requests_per_day:.0f} requests a day, more than half of the "
          f"{users} users x {self._steps_per_day} steps a day allow (at most "
          "one request per user per step): raise n_users or lower step_minutes.")
    if config.max_requests_per_user_day * users < requests_per_day:
      raise ValueError(
          f"WorldConfig.max_requests_per_user_day={config.max_requests_per_user_day} is "
          f"too low: {users} users cannot serve {requests_per_day:.0f} "
          "requests a day.")
    self._activity = world_lib.zipf_weights(config.n_users, config.user_zipf, rng)
    self._activity_cap = config.max_requests_per_user_day / requests_per_day
    hours = (config.start_ts_ms + np.arange(self._steps_per_day) * self._step_ms
             ) // _HOUR_MS % 24
    diurnal = 1.0 + 0.7 * np.cos(2 * np.pi * (hours - 20) / 24)  # Peaks at 20:00 UTC.
    self._diurnal_cdf = np.cumsum(diurnal) / diurnal.sum()
    self._scene_shares = np.array([scene.share for scene in config_lib.SCENES])
    self._scene_shares /= self._scene_shares.sum()
    self._taste_shares = np.array([scene.taste_share for scene in config_lib.SCENES])

  def requests_on(self, day: int) -> int:
    """How many requests day `day` (0-based) serves; the first days take the rest."""
    base, rest = divmod(self._config.num_requests, self._config.n_days)
    return base + (day < rest)

  def sample_day(self, day: int, first_index: int) -> Requests:
    """Draws the requests of day `day`, numbered from `first_index`."""
    rng = self._rng
    users, day_steps = self._user_steps(self.requests_on(day), self._activity_cdf(day))
    steps = day * self._steps_per_day + day_steps
    ts_ms = (self._config.start_ts_ms + steps * self._step_ms
             + rng.integers(0, self._step_ms, len(steps)))
    order = np.argsort(ts_ms, kind="stable")
    users, steps, ts_ms = users[order], steps[order], ts_ms[order]
    scenes = rng.choice(len(self._scene_shares), len(users),
                        p=self._scene_shares).astype(np.int8)
    k = self._config.impressions_per_request
    positions = rng.permuted(np.tile(np.arange(k, dtype=np.int16), (len(users), 1)),
                             axis=1)
    return Requests(first_index=first_index, users=users.astype(np.int32), ts_ms=ts_ms,
                    steps=steps, scenes=scenes,
                    items=self._candidates(users, scenes, day), positions=positions)

  def _activity_cdf(self, day: int) -> np.ndarray:
    """[n_users] float64: the cumulative request shares of `day`'s users (capped; the
    users yet to arrive have none)."""
    present = self._world.lifecycles.users_present(day)
    activity = _capped_shares(self._activity * present, self._activity_cap)
    return np.cumsum(activity) / activity.sum()

  def _user_steps(self, n: int, activity_cdf: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Draws `n` distinct (user, step-of-day) pairs: users by `activity_cdf`, steps
    diurnally.

    Returns:
      users [n] int64 and steps [n] int64, in no particular order.
    """
    rng = self._rng
    keys = np.empty(0, np.int64)
    while len(keys) < n:
      draws = n - len(keys) + (n - len(keys)) // 10 + 8
      users = np.searchsorted(activity_cdf, rng.random(draws), side="right")
      steps = np.searchsorted(self._diurnal_cdf, rng.random(draws), side="right")
      keys = np.unique(np.concatenate([keys, users * self._steps_per_day + steps]))
    keys = keys[np.sort(rng.choice(len(keys), n, replace=False))]
    return np.divmod(keys, self._steps_per_day)

  def _candidates(self, users: np.ndarray, scenes: np.ndarray, day: int
                  ) -> np.ndarray:
    """[N, k] int32 items: per slot, a favourite category's or the global popularity.

    Either way the item is drawn by popularity among the items on sale on `day`, by
    inverting their popularity CDF over the whole catalogue or over the chosen
    category's slice of it; a favourite category with nothing on sale that day
    falls back to the whole catalogue.

    Raises:
      ValueError: No item is on sale on `day`.
    """
    world, rng = self._world, self._rng
    on_sale = world.lifecycles.items_on_sale(day)
    if not on_sale.any():
      raise ValueError(f"No item is on sale on day {day}: raise "
                       "WorldConfig.item_mean_lifetime_days or item_arrival_share.")
    cdf = world.popularity_cdf_on(on_sale)
    cdf_before = np.concatenate([[0.0], cdf[:-1]])
    starts = world.category_starts
    category_mass = cdf[starts[1:] - 1] - cdf_before[starts[:-1]]
    shape = (len(users), self._config.impressions_per_request)
    from_taste = rng.random(shape) < self._taste_shares[scenes][:, None]
    favourite = world.user_favourites[
        users[:, None], rng.integers(0, world.user_favourites.shape[1], shape)]
    from_taste &= category_mass[favourite] > 0
    first = np.where(from_taste, starts[favourite], 0)
    last = np.where(from_taste, starts[favourite + 1], world.n_items) - 1
    low, high = cdf_before[first], cdf[last]
    slot = np.searchsorted(cdf, low + rng.random(shape) * (high - low), side="right")
    return world.items_by_category[np.clip(slot, first, last)]


def _capped_shares(weights: np.ndarray, cap: float) -> np.ndarray:
  """Rescales `weights` to sum to 1 with no share above `cap` (water-filling).

  Args:
    weights: [n] nonnegative weights, not all 0.
    cap: the largest share any one entry may take; cap * (nonzero weights) >= 1.

  Returns:
    [n] shares: capped entries at `cap`, the rest proportional to `weights`.
  """
  capped = np.zeros(len(weights), bool)
  while True:  # Each pass caps at least one more entry, so this ends.
    scale = (1.0 - cap * capped.sum()) / weights[~capped].sum()
    shares = np.where(capped, cap, weights * scale)
    over = shares > cap * (1 + 1e-9)
    if not over.any():
      return shares
    capped |= over
