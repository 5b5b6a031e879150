"""After a click: detail-page behaviour and the purchase, driven by a hidden intent.

Each click draws a per-visit purchase intent z ~ N(0, 1) that no logged feature sees.
Given z, the affinity a = a(u, i) and the standardised log price lp, everything is
independent:

    purchase      ~ Bernoulli(eps + (1 - 2 eps) sigmoid(c0 + c_aff a - trap lp + c_int z))
    views - 1     ~ Poisson(exp(log_extra_views))
    dwell / view  ~ Gamma(DWELL_SHAPE, exp(log_dwell_scale_ms)), so the total dwell given
                    n views is Gamma(n DWELL_SHAPE, same scale) in closed form
    reviews       ~ Poisson(exp(log_reviews))
    chat, cart    ~ Bernoulli(sigmoid(chat_logit)), Bernoulli(sigmoid(cart_logit))

where every log-rate and logit is linear in z (scaled by post_event_informativeness),
in a (scaled by post_event_affinity) and in lp, the count means capped at
MAX_MEAN_COUNT and the dwell scale at MAX_DWELL_SCALE_MS. The price trap: lp raises
the dwell scale by price_trap and lowers the purchase logit by as much, so a model
that reads dwell without price is misled on expensive items.

Timeline (all within the join's windows): the pre-purchase events fall at distinct
milliseconds in [click ts, click ts + span), span <= 50 min; a purchase follows within
10 min; a purchase may be followed by a chat (a label leak the join must drop).
"""

import dataclasses

import numpy as np

from simulation import config as config_lib
from simulation import probability

EVENT_NAMES = ("view", "review", "chat", "cart", "purchase")
VIEW, REVIEW, CHAT, CART, PURCHASE = range(len(EVENT_NAMES))
DWELL_SHAPE = 2.0
MEAN_DWELL_MS = 20_000.0
_MS_BETWEEN_EVENTS = 10_000
_MAX_SPAN_MS = 50 * 60_000
# Caps on the rates, part of the model (the oracle's likelihood reads the same capped
# rates): a strongly informative world (z scaled by 16) would otherwise draw
# exp(40) views after one click. Far in the tail at the presets' knobs.
MAX_MEAN_COUNT = 100.0
MAX_DWELL_SCALE_MS = 30 * 60_000.0


@dataclasses.dataclass(frozen=True, eq=False)
class PostClickRates:
  """The post-click distributions' parameters; every field has the inputs' shape."""
  log_extra_views: np.ndarray
  log_dwell_scale_ms: np.ndarray
  log_reviews: np.ndarray
  chat_logit: np.ndarray
  cart_logit: np.ndarray
  purchase_logit: np.ndarray


def post_click_rates(config: config_lib.WorldConfig, affinity: np.ndarray,
                     log_price: np.ndarray, intent: np.ndarray) -> PostClickRates:
  """Evaluates the behaviour model; the inputs broadcast (e.g. [M, 1] against [J]).

  Args:
    config: the world's knobs.
    affinity: a(u, i) of the clicked impressions.
    log_price: standardised log price of the clicked items.
    intent: z, the hidden per-visit intent (draws, or quadrature nodes).
  """
  z = intent * config.post_event_informativeness
  a = affinity * config.post_event_affinity
  max_log_count = np.log(MAX_MEAN_COUNT)
  return PostClickRates(
      log_extra_views=np.minimum(-0.3 + 0.5 * z + 0.4 * a, max_log_count),
      log_dwell_scale_ms=np.minimum(
          np.log(MEAN_DWELL_MS / DWELL_SHAPE) + 0.3 * z + 0.3 * a
          + config.price_trap * log_price, np.log(MAX_DWELL_SCALE_MS)),
      log_reviews=np.minimum(-1.0 + 0.6 * z + 0.3 * a + 0.2 * log_price,
                             max_log_count),
      chat_logit=-2.0 + 0.6 * z + 0.3 * a + 0.4 * log_price,
      cart_logit=-1.5 + 1.0 * z + 0.5 * a,
      purchase_logit=(config.purchase_bias + config.purchase_affinity * affinity
                      - config.price_trap * log_price + config.purchase_intent * intent),
  )


@dataclasses.dataclass(frozen=True, eq=False)
class Sessions:
  """The detail-page behaviour after M clicks.

  Attributes:
    views / reviews / chats / carts: [M] int64 pre-purchase counts: exactly the join's
      post-event features (`view_count`, `review_count`, `chat_count`, `added_to_cart`).
    dwell_total_ms: [M] int64 sum of the pre-purchase views' dwell (`dwell_ms_total`).
    purchased: [M] bool, the logged (label-noised) purchase.
    event_click: [E] int64 index (0..M-1) of the click each event follows.
    event_ts_ms: [E] int64.
    event_type: [E] int8 index into EVENT_NAMES.
    event_dwell_ms: [E] int64 dwell of a view, -1 for other events.
  """
  views: np.ndarray
  reviews: np.ndarray
  chats: np.ndarray
  carts: np.ndarray
  dwell_total_ms: np.ndarray
  purchased: np.ndarray
  event_click: np.ndarray
  event_ts_ms: np.ndarray
  event_type: np.ndarray
  event_dwell_ms: np.ndarray


def sample_sessions(config: config_lib.WorldConfig, affinity: np.ndarray,
                    log_price: np.ndarray, click_ts_ms: np.ndarray,
                    rng: np.random.Generator) -> Sessions:
  """Draws the intent, the detail-page events and the purchase of M clicks.

  Args:
    config: the world's knobs.
    affinity: [M] a(u, i) of the clicked impressions.
    log_price: [M] standardised log price of the clicked items.
    click_ts_ms: [M] int64 click timestamps.
    rng: the behaviour stream.
  """
  m = len(click_ts_ms)
  rates = post_click_rates(config, affinity, log_price, rng.standard_normal(m))
  views = 1 + rng.poisson(np.exp(rates.log_extra_views))
  reviews = rng.poisson(np.exp(rates.log_reviews))
  chats = (rng.random(m) < probability.sigmoid(rates.chat_logit)).astype(np.int64)
  carts = (rng.random(m) < probability.sigmoid(rates.cart_logit)).astype(np.int64)
  purchased = rng.random(m) < probability.with_label_noise(
      probability.sigmoid(rates.purchase_logit), config.label_noise)
  post_purchase_chat = purchased & (rng.random(m) < config.post_purchase_chat_rate)

  clicks = np.arange(m)
  owner = np.concatenate([np.repeat(clicks, views), np.repeat(clicks, reviews),
                          np.repeat(clicks, chats), np.repeat(clicks, carts)])
  event_type = np.repeat(np.array([VIEW, REVIEW, CHAT, CART], np.int8),
                         [views.sum(), reviews.sum(), chats.sum(), carts.sum()])
  n_views = views.sum()
  view_dwell = np.rint(rng.gamma(DWELL_SHAPE,
                                 np.exp(rates.log_dwell_scale_ms)[owner[:n_views]]))
  # The contract caps a view's dwell at 24 h; the capped scale keeps the model far
  # below it.
  view_dwell = np.minimum(view_dwell, config_lib.DAY_MS).astype(np.int64)
  dwell = np.concatenate([view_dwell, np.full(len(owner) - n_views, -1, np.int64)])
  dwell_total = np.bincount(owner[:n_views], weights=view_dwell, minlength=m)

  # Distinct, increasing times: sorted uniform offsets plus the event's rank.
  n_events = views + reviews + chats + carts
  span = np.minimum(dwell_total.astype(np.int64) + _MS_BETWEEN_EVENTS * n_events,
                    _MAX_SPAN_MS)
  offset = rng.integers(0, span[owner])
  order = np.lexsort((offset, owner))
  owner, event_type, offset = owner[order], event_type[order], offset[order]
  dwell = dwell[order]
  rank = np.arange(len(owner)) - (np.cumsum(n_events) - n_events)[owner]
  event_ts = click_ts_ms[owner] + offset + rank

  purchase_ts = click_ts_ms + span + n_events + rng.integers(1_000, 600_001, m)
  chat_ts = purchase_ts + rng.integers(60_000, 7_200_001, m)
  bought, chatted = np.flatnonzero(purchased), np.flatnonzero(post_purchase_chat)
  return Sessions(
      views=views, reviews=reviews, chats=chats, carts=carts,
      dwell_total_ms=dwell_total.astype(np.int64), purchased=purchased,
      event_click=np.concatenate([owner, bought, chatted]),
      event_ts_ms=np.concatenate([event_ts, purchase_ts[bought], chat_ts[chatted]]),
      event_type=np.concatenate([event_type, np.full(len(bought), PURCHASE, np.int8),
                                 np.full(len(chatted), CHAT, np.int8)]),
      event_dwell_ms=np.concatenate([dwell, np.full(len(bought) + len(chatted), -1,
                                                    np.int64)]),
  )


def log_likelihood(rates: PostClickRates, sessions: Sessions) -> np.ndarray:
  """log p(observed pre-purchase features | z), up to terms free of z.

  Args:
    rates: the model at the quadrature nodes, fields [M, J].
    sessions: the M sessions; only their post-event features (what the join computes)
      are read, so this is the posterior the job's features support.

  Returns:
    [M, J] float64.
  """
  def column(values):
    return np.asarray(values, np.float64)[:, None]

  extra_views = column(sessions.views - 1)
  total_shape = column(sessions.views) * DWELL_SHAPE
  chats, carts = column(sessions.chats), column(sessions.carts)
  return (extra_views * rates.log_extra_views - np.exp(rates.log_extra_views)
          - total_shape * rates.log_dwell_scale_ms
          - column(sessions.dwell_total_ms) * np.exp(-rates.log_dwell_scale_ms)
          + column(sessions.reviews) * rates.log_reviews - np.exp(rates.log_reviews)
          + chats * probability.log_sigmoid(rates.chat_logit)
          + (1 - chats) * probability.log_sigmoid(-rates.chat_logit)
          + carts * probability.log_sigmoid(rates.cart_logit)
          + (1 - carts) * probability.log_sigmoid(-rates.cart_logit))
