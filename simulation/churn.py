"""When items go on sale and retire, and when users arrive: the world's churn over days.

An item is shown on days [arrival, retirement), a user is served from the day of
arrival on. Arrivals after day 0 are spread evenly over days 1..n_days-1, so every
later day brings new ids; lifetimes are exponential, whose memorylessness lets the
day-0 catalogue draw its remaining lives from the same law as new items. With every
churn knob at 0, everything is there on every day and nothing is drawn.
"""

import dataclasses

import numpy as np

from simulation import config as config_lib


@dataclasses.dataclass(frozen=True, eq=False)
class Lifecycles:
  """The days each id exists; arrays indexed by item or user id.

  Attributes:
    item_arrival_day: [n_items] int32, the first day the item may be shown.
    item_retirement_day: [n_items] int32, the first day it may no longer be
      (n_days or later: it stays on sale to the end).
    user_arrival_day: [n_users] int32, the first day the user may be served.
  """
  item_arrival_day: np.ndarray
  item_retirement_day: np.ndarray
  user_arrival_day: np.ndarray

  def items_on_sale(self, day: int) -> np.ndarray:
    """[n_items] bool: the items that may be shown on `day`."""
    return (self.item_arrival_day <= day) & (day < self.item_retirement_day)

  def users_present(self, day: int) -> np.ndarray:
    """[n_users] bool: the users who may be served on `day`."""
    return self.user_arrival_day <= day


def draw_lifecycles(config: config_lib.WorldConfig,
                    rng: np.random.Generator) -> Lifecycles:
  """Arrival and retirement days of `config`'s items and users, from `rng`."""
  item_arrival = _arrival_days(config.n_items, config.item_arrival_share,
                               config.n_days, rng)
  retirement = np.full(config.n_items, config.n_days, np.int32)
  if config.item_mean_lifetime_days:
    # At least a day on sale: an item that arrives is shown.
    lifetime = np.maximum(
        np.ceil(rng.exponential(config.item_mean_lifetime_days, config.n_items)), 1)
    retirement = np.minimum(item_arrival + lifetime, config.n_days).astype(np.int32)
  return Lifecycles(
      item_arrival_day=item_arrival, item_retirement_day=retirement,
      user_arrival_day=_arrival_days(config.n_users, config.user_arrival_share,
                                     config.n_days, rng))


def _arrival_days(n: int, late_share: float, n_days: int,
                  rng: np.random.Generator) -> np.ndarray:
  """[n] int32: 0, except a random `late_share` of the ids, spread evenly over days
  1..n_days-1."""
  days = np.zeros(n, np.int32)
  late = round(late_share * n)
  if late:
    days[rng.permutation(n)[:late]] = 1 + np.arange(late) % (n_days - 1)
  return days
