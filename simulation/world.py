"""The catalogue and the population: who likes what, as functions of ids only.

Users carry a latent taste vector, a bias, favourite categories and the categorical
features the impression log shows (`segment`, `city_tier`, `age_bucket`). Items carry a
latent vector (their category's vector plus noise, so taste is partly a user x category
preference), a quality bias, long-tailed category / shop / brand ids and a price that is
lognormal around a per-category median. `affinity` combines them into a(u, i), the part
of every logit that regular features can in principle recover. Items and users may
arrive and items retire over the days (`churn.Lifecycles`).
"""

import dataclasses

import numpy as np

from simulation import churn
from simulation import config as config_lib

NUM_SEGMENTS = 8
NUM_CITY_TIERS = 4
NUM_AGE_BUCKETS = 7
NUM_FAVOURITE_CATEGORIES = 3


@dataclasses.dataclass(frozen=True, eq=False)
class World:
  """Static state of the world; every array is indexed by user or item id.

  Attributes:
    user_vectors: [n_users, latent_dim] float32, pre-scaled so that the dot product with
      `item_vectors` is the latent part of the affinity.
    user_bias: [n_users] float32, per-user click propensity (partly by city tier).
    user_favourites: [n_users, 3] int32, the categories the user's tastes point at.
    user_segment / user_city_tier / user_age_bucket: [n_users] int32 logged features;
      the segment is the argmax of the first taste dimensions, so it carries taste.
    item_vectors: [n_items, latent_dim] float32.
    item_bias: [n_items] float32, item quality.
    item_category / item_shop / item_brand: [n_items] int32.
    item_price: [n_items] float64, rounded to cents (what the log shows and the
      behaviour model uses, so the oracle sees what the job sees).
    item_log_price: [n_items] float32, standardised log price (mean 0, sd 1).
    items_by_category: [n_items] int32, item ids sorted by category.
    category_starts: [n_categories + 1] int64, category c's items are
      `items_by_category[category_starts[c]:category_starts[c + 1]]`.
    item_popularity: [n_items] float64, each item's share of the candidates while
      the whole catalogue is on sale (summing to 1).
    lifecycles: the days each item and user exists.
  """
  user_vectors: np.ndarray
  user_bias: np.ndarray
  user_favourites: np.ndarray
  user_segment: np.ndarray
  user_city_tier: np.ndarray
  user_age_bucket: np.ndarray
  item_vectors: np.ndarray
  item_bias: np.ndarray
  item_category: np.ndarray
  item_shop: np.ndarray
  item_brand: np.ndarray
  item_price: np.ndarray
  item_log_price: np.ndarray
  items_by_category: np.ndarray
  category_starts: np.ndarray
  item_popularity: np.ndarray
  lifecycles: churn.Lifecycles

  @property
  def n_users(self) -> int:
    return len(self.user_bias)

  @property
  def n_items(self) -> int:
    return len(self.item_bias)

  @property
  def popularity_cdf(self) -> np.ndarray:
    """The whole catalogue's `popularity_cdf_on`."""
    return self.popularity_cdf_on(np.ones(self.n_items, bool))

  def popularity_cdf_on(self, on_sale: np.ndarray) -> np.ndarray:
    """[n_items] float64: cumulative popularity of the items `on_sale` ([n_items]
    bool by id; the others weigh 0) in `items_by_category` order, ending at 1."""
    return _normalised_cumsum(self.item_popularity[self.items_by_category]
                              * on_sale[self.items_by_category])


def zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
  """Long-tailed frequencies over `n` ids in random id order.

  Returns:
    [n] float64 weights proportional to rank**-exponent, summing to 1.
  """
  weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
  return rng.permutation(weights / weights.sum())


def build_world(config: config_lib.WorldConfig, rng: np.random.Generator) -> World:
  """Draws the users and the catalogue of `config` from `rng`."""
  dim = config.latent_dim
  category_vectors = rng.normal(size=(config.n_categories, dim))

  # Every category gets one item, the rest follow the long-tailed category frequencies.
  category_weights = zipf_weights(config.n_categories, config.category_zipf, rng)
  item_category = np.concatenate([
      rng.permutation(config.n_categories),
      rng.choice(config.n_categories, config.n_items - config.n_categories,
                 p=category_weights)]).astype(np.int32)
  rng.shuffle(item_category)
  item_vectors = (category_vectors[item_category]
                  + 0.7 * rng.normal(size=(config.n_items, dim))).astype(np.float32)
  item_shop = _assign_shops(config, item_category, category_weights, rng)
  item_brand = rng.choice(config.n_brands, config.n_items,
                          p=zipf_weights(config.n_brands, config.brand_zipf, rng))
  log_median = rng.normal(3.5, 0.8, size=config.n_categories)
  item_price = np.maximum(
      np.round(np.exp(log_median[item_category]
                      + 0.5 * rng.normal(size=config.n_items)), 2), 0.01)
  log_price = np.log(item_price)
  item_log_price = (log_price - log_price.mean()) / max(log_price.std(), 1e-6)

  user_taste = rng.normal(size=(config.n_users, dim))
  user_city_tier = rng.choice(NUM_CITY_TIERS, config.n_users, p=[0.15, 0.3, 0.3, 0.25])
  user_bias = 0.3 * rng.normal(size=config.n_users) + 0.1 * (1.5 - user_city_tier)

  items_by_category = np.argsort(item_category, kind="stable").astype(np.int32)
  popularity = zipf_weights(config.n_items, config.item_zipf, rng)
  return World(
      user_vectors=(config.affinity_scale / np.sqrt(2.0 * dim)
                    * user_taste).astype(np.float32),
      user_bias=user_bias.astype(np.float32),
      user_favourites=_favourite_categories(user_taste, category_vectors),
      user_segment=np.argmax(user_taste[:, :NUM_SEGMENTS], axis=1).astype(np.int32),
      user_city_tier=(user_city_tier + 1).astype(np.int32),
      user_age_bucket=rng.choice(NUM_AGE_BUCKETS, config.n_users).astype(np.int32),
      item_vectors=item_vectors,
      item_bias=(0.4 * rng.normal(size=config.n_items)).astype(np.float32),
      item_category=item_category,
      item_shop=item_shop.astype(np.int32),
      item_brand=item_brand.astype(np.int32),
      item_price=item_price,
      item_log_price=item_log_price.astype(np.float32),
      items_by_category=items_by_category,
      category_starts=np.searchsorted(item_category[items_by_category],
                                      np.arange(config.n_categories + 1)),
      item_popularity=popularity,
      # Drawn last, and only where churn is on: the world above is the same either way.
      lifecycles=churn.draw_lifecycles(config, rng),
  )


def affinity(world: World, users: np.ndarray, items: np.ndarray) -> np.ndarray:
  """a(u, i): the user x item affinity, a function of ids only.

  Args:
    users: int array of user ids, broadcastable against `items` (e.g. [N, 1]).
    items: int array of item ids (e.g. [N, k]).

  Returns:
    float32 array of the broadcast shape: latent dot product (user x category preference
    plus user x item taste) + user bias + item quality.
  """
  dot = np.einsum("...d,...d->...", world.user_vectors[users], world.item_vectors[items])
  return dot + world.user_bias[users] + world.item_bias[items]


def _assign_shops(config: config_lib.WorldConfig, item_category: np.ndarray,
                  category_weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Each shop has a home category; 80% of items sit in a shop of their category.

  Popular categories have more shops. Within a category the shop is picked with a skew
  (index = n * u**3), so a few shops hold most of its items; the other 20% of items go
  to shops drawn with the long tail of `shop_zipf`.
  """
  shop_category = rng.choice(config.n_categories, config.n_shops, p=category_weights)
  shops_by_category = np.argsort(shop_category, kind="stable")
  starts = np.searchsorted(shop_category[shops_by_category],
                           np.arange(config.n_categories + 1))
  counts = np.diff(starts)[item_category]
  local = np.floor(counts * rng.random(config.n_items) ** 3).astype(np.int64)
  in_category = shops_by_category[np.minimum(starts[item_category] + local,
                                             len(shops_by_category) - 1)]
  anywhere = rng.choice(config.n_shops, config.n_items,
                        p=zipf_weights(config.n_shops, config.shop_zipf, rng))
  use_category = (counts > 0) & (rng.random(config.n_items) < 0.8)
  return np.where(use_category, in_category, anywhere)


def _favourite_categories(user_taste: np.ndarray,
                          category_vectors: np.ndarray) -> np.ndarray:
  """[n_users, 3] int32: the categories with the largest taste . category products."""
  favourites = np.empty((len(user_taste), NUM_FAVOURITE_CATEGORIES), np.int32)
  top = min(NUM_FAVOURITE_CATEGORIES, len(category_vectors))
  for start in range(0, len(user_taste), 65_536):  # Bounds the [users, categories] block.
    scores = user_taste[start:start + 65_536] @ category_vectors.T
    best = np.argsort(-scores, axis=1)[:, :top]
    # With fewer categories than favourites, the list repeats its best ones.
    favourites[start:start + 65_536] = best[:, np.arange(favourites.shape[1]) % top]
  return favourites


def _normalised_cumsum(weights: np.ndarray) -> np.ndarray:
  cdf = np.cumsum(weights)
  return cdf / cdf[-1]
