"""The click process, exact and vectorised, with replays for the oracle.

    p(click) = eps + (1 - 2 eps) sigmoid(b0 + scene + a(u, i)
                                         - position_bias log(1 + position)
                                         + cross_effect (log(1 + n_cat) + log(1 + n_shop)))

n_cat / n_shop are the user's counted clicks in the item's category / shop with click ts
in [impression ts - 24 h, impression ts): exactly the join's cross features
(LOG_CONTRACT.md). Clicks therefore depend on the user's earlier clicks. Time advances in
steps of `step_minutes`; a user has at most one request per step and every click lands
after its impression, so a step's clicks never change its own counts and all users of a
step are processed at once. Per-user ring buffers hold recent clicks (ts, category,
shop) and counts compare timestamps exactly, so a click from an earlier step that lands
after a later impression is not counted.

Replay 0 is the logged world. Replays 1..R run the same requests with independent click
streams; they exist only to marginalise the click history out of p(click | regular
features) (see `DayClicks.p_click_regular`). Each replay has its own random stream, so
the logs are the same with or without the oracle.
"""

import dataclasses
from collections.abc import Sequence

import numpy as np

from simulation import config as config_lib
from simulation import probability
from simulation import traffic
from simulation import world as world_lib

_NEVER = np.iinfo(np.int64).min  # Empty ring-buffer slot: outside every 24 h window.
MIN_CLICK_DELAY_MS = 1_000
MAX_CLICK_DELAY_MS = 300_000  # Well inside the join's 30 min click window.


@dataclasses.dataclass(frozen=True, eq=False)
class DayClicks:
  """The click outcome of one day's impressions, flattened request-major: [N * k].

  Attributes:
    affinity: float32 a(u, i).
    category_clicks_24h / shop_clicks_24h: int32 cross counts of the logged world, as the
      join computes them.
    clicked: bool, whether the impression has a (counted) click.
    click_ts_ms: int64 click time where `clicked`, undefined elsewhere.
    p_click_full: float64 p(click | regular + privileged features): the exact click
      probability given position and the exact cross counts.
    p_click_regular: float64 p(click | regular features), or None without replays:
      position averaged exactly over the k positions (uniform by construction), the
      cross term averaged over the R replays' click histories. This conditions on the
      ids, scene and time but not on the user's behaviour sequence, which the regular
      features do see (the click history), so it is an approximate ceiling.
  """
  affinity: np.ndarray
  category_clicks_24h: np.ndarray
  shop_clicks_24h: np.ndarray
  clicked: np.ndarray
  click_ts_ms: np.ndarray
  p_click_full: np.ndarray
  p_click_regular: np.ndarray | None


class ClickProcess:
  """Advances the click process step by step, keeping each replay's recent clicks."""

  def __init__(self, world: world_lib.World, config: config_lib.WorldConfig,
               rngs: Sequence[np.random.Generator]):
    """Starts with empty histories.

    Args:
      world: the users and items.
      config: the world's knobs.
      rngs: one stream per replay; `rngs[0]` draws the logged clicks, the others the
        oracle's replays (pass one stream for no oracle).
    """
    self._world = world
    self._config = config
    self._rngs = list(rngs)
    shape = (len(self._rngs), world.n_users, config.click_buffer_size)
    self._ts = np.full(shape, _NEVER, np.int64)
    self._category = np.zeros(shape, _smallest_id_dtype(config.n_categories))
    self._shop = np.zeros(shape, _smallest_id_dtype(config.n_shops))
    self._count = np.zeros(shape[:2], np.int64)
    self._position_logit = -config.position_bias * np.log1p(
        np.arange(config.impressions_per_request))
    self._scene_bias = np.array([scene.click_bias for scene in config_lib.SCENES])

  def run_day(self, requests: traffic.Requests) -> DayClicks:
    """Draws the clicks of one day's requests, step by step, in time order."""
    users, items = requests.users, requests.items
    affinity = world_lib.affinity(self._world, users[:, None], items)
    base_logit = (self._config.click_bias + self._scene_bias[requests.scenes][:, None]
                  + affinity)
    shape = items.shape
    outputs = {name: np.zeros(shape, dtype) for name, dtype in (
        ("category_clicks_24h", np.int32), ("shop_clicks_24h", np.int32),
        ("clicked", bool), ("click_ts_ms", np.int64), ("p_click_full", np.float64),
        ("p_click_regular", np.float64))}
    bounds = np.flatnonzero(np.diff(requests.steps)) + 1
    for rows in np.split(np.arange(len(requests)), bounds):
      if len(rows):
        step = self._step(users[rows], requests.ts_ms[rows], items[rows],
                          requests.positions[rows], base_logit[rows])
        for name, value in step.items():
          outputs[name][rows] = value
    flat = {name: value.reshape(-1) for name, value in outputs.items()}
    if len(self._rngs) == 1:
      flat["p_click_regular"] = None
    return DayClicks(affinity=affinity.reshape(-1), **flat)

  def _step(self, users: np.ndarray, ts: np.ndarray, items: np.ndarray,
            positions: np.ndarray, base_logit: np.ndarray) -> dict[str, np.ndarray]:
    """Clicks of one step's requests in every replay.

    Args:
      users: [n] distinct user ids.
      ts: [n] int64 impression timestamps.
      items: [n, k] shown items.
      positions: [n, k] their positions.
      base_logit: [n, k] the click logit without position and cross terms.

    Returns:
      The logged world's [n, k] outputs, named as `DayClicks`' fields.
    """
    categories = self._world.item_category[items]
    shops = self._world.item_shop[items]
    recent_ts = self._ts[:, users]  # [R + 1, n, buffer]
    in_window = ((recent_ts >= (ts - config_lib.DAY_MS)[None, :, None])
                 & (recent_ts < ts[None, :, None]))
    n_category = _count_matches(self._category[:, users], in_window, categories)
    n_shop = _count_matches(self._shop[:, users], in_window, shops)
    logit = base_logit + self._config.cross_effect * (np.log1p(n_category)
                                                      + np.log1p(n_shop))
    noise = self._config.label_noise
    p_click = probability.with_label_noise(
        probability.sigmoid(logit + self._position_logit[positions]), noise)
    shape = items.shape
    clicked = np.stack([rng.random(shape) for rng in self._rngs]) < p_click
    click_ts = ts[:, None] + np.stack([
        rng.integers(MIN_CLICK_DELAY_MS, MAX_CLICK_DELAY_MS + 1, shape)
        for rng in self._rngs])
    self._remember(users, ts, clicked, click_ts, categories, shops)
    outputs = {"category_clicks_24h": n_category[0], "shop_clicks_24h": n_shop[0],
               "clicked": clicked[0], "click_ts_ms": click_ts[0],
               "p_click_full": p_click[0]}
    if len(self._rngs) > 1:
      # Position is uniform over 0..k-1 whatever else holds: average it out exactly.
      every_position = logit[1:, :, :, None] + self._position_logit
      outputs["p_click_regular"] = probability.with_label_noise(
          probability.sigmoid(every_position), noise).mean(axis=(0, 3))
    return outputs

  def _remember(self, users: np.ndarray, ts: np.ndarray, clicked: np.ndarray,
                click_ts: np.ndarray, categories: np.ndarray,
                shops: np.ndarray) -> None:
    """Appends this step's clicks to the ring buffers of their replay and user.

    Args:
      users: [n] distinct user ids.
      ts: [n] impression timestamps.
      clicked: [R + 1, n, k] bool.
      click_ts: [R + 1, n, k] click timestamps.
      categories / shops: [n, k] of the shown items.
    """
    replay, row, slot_in_request = np.nonzero(clicked)
    if not len(replay):
      return
    buffer_size = self._config.click_buffer_size
    owner = replay * self._world.n_users + users[row]  # Row of the flattened buffers.
    # np.nonzero walks (replay, row) in order, so each owner's clicks are contiguous.
    first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    sizes = np.diff(np.r_[first, len(owner)])
    rank = np.arange(len(owner)) - np.repeat(first, sizes)
    counts = self._count.reshape(-1)
    slot = (counts[owner] + rank) % buffer_size
    ts_rows = self._ts.reshape(-1, buffer_size)
    overwritten = ts_rows[owner, slot] > ts[row] - config_lib.DAY_MS
    if overwritten.any():
      user = users[row[np.argmax(overwritten)]]
      raise ValueError(
          f"WorldConfig.click_buffer_size={buffer_size} is too small: user {user} "
          f"clicked more than {buffer_size} times within 24 h. Raise click_buffer_size "
          "or lower max_requests_per_user_day.")
    ts_rows[owner, slot] = click_ts[replay, row, slot_in_request]
    self._category.reshape(-1, buffer_size)[owner, slot] = categories[
        row, slot_in_request]
    self._shop.reshape(-1, buffer_size)[owner, slot] = shops[row, slot_in_request]
    counts[owner[first]] += sizes


def _smallest_id_dtype(n: int) -> type:
  """A signed dtype for ids 0..n-1 (and -1): the buffers dominate the memory."""
  return np.int16 if n <= np.iinfo(np.int16).max else np.int32


def _count_matches(recent: np.ndarray, in_window: np.ndarray,
                   values: np.ndarray) -> np.ndarray:
  """Counts, per shown item, the recent in-window clicks with the same value.

  Args:
    recent: [R + 1, n, buffer] category or shop of each buffered click.
    in_window: [R + 1, n, buffer] whether that click is in [ts - 24 h, ts).
    values: [n, k] the shown items' category or shop.

  Returns:
    [R + 1, n, k] int counts.
  """
  recent = np.where(in_window, recent, -1)  # Ids are >= 0, so -1 never matches.
  return np.count_nonzero(recent[:, :, None, :] == values[None, :, :, None], axis=-1)
