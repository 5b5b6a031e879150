"""Serving over precomputed item vectors: top-K for a user, scores of given candidates.

The two-tower student's logit is a pure inner product (models/heads/two_tower.py), so a
user's best items over the whole catalogue are a maximum inner product search against
the item vectors that models/item_vectors.py computed offline. `Index` is the serving
surface every index offers (as tensorflow-recommenders' factorized_top_k.TopK is):
`top_k` and `score`, over vectors the index owns, so that the same rows also serve id
lookups for scoring a given candidate list. `ItemIndex` is exact brute force (one
matmul, then a top-k); models/retrieval/ivf_index.py's `IVFIndex` searches a few partitions.
benchmarks/retrieval_latency.py times both against numpy.
"""

from __future__ import annotations

import abc
import math

import numpy as np
import tensorflow as tf

DEFAULT_K = 100
# The score of a candidate missing from the index: it can never be retrieved either.
MISSING_SCORE = float("-inf")
# The id `top_k` returns where an index holds fewer than k reachable items.
NO_ITEM = b""


def checked_catalogue(ids: np.ndarray, vectors: np.ndarray, k: int
                      ) -> tuple[np.ndarray, np.ndarray]:
  """(ids `[n]` bytes, vectors `[n, dim]` float32), validated for an index of k
  (str ids are encoded as UTF-8).

  Raises:
    ValueError: Shapes disagree, ids repeat, or k exceeds the catalogue.
  """
  ids, vectors = np.asarray(ids), np.asarray(vectors, np.float32)
  if vectors.ndim != 2 or len(ids) != len(vectors):
    raise ValueError(f"Expected ids [n] and vectors [n, dim]; got {ids.shape} and "
                     f"{vectors.shape}.")
  if len(np.unique(ids)) != len(ids):
    raise ValueError("Item ids repeat: each item needs exactly one vector.")
  if not 1 <= k <= len(ids):
    raise ValueError(f"k must be in [1, {len(ids)}] (the catalogue), got {k}.")
  return np.char.encode(ids, "utf-8") if ids.dtype.kind == "U" else ids, vectors


class Index(tf.keras.layers.Layer, abc.ABC):
  """Item ids and their vectors, queried by user vectors.

  An implementation stores the items in a layout of its own, `num_slots` positions
  ("slots") of which some may be padding, and says how to search them and read a
  slot's vector.

  Args:
    ids: `[num_items]` bytes item ids, unique (`checked_catalogue`).
    slots: `[num_items]` int, the slot of each id.
    num_slots: Slots in the layout; those holding no item have the id NO_ITEM.
    dim: The vectors' width.
    k: The default number of items `top_k` returns.
  """

  def __init__(self, ids: np.ndarray, slots: np.ndarray, num_slots: int, dim: int,
               k: int, **kwargs):
    super().__init__(**kwargs)
    self.k, self.num_items, self.dim = k, len(ids), dim
    slot_ids = np.full([num_slots], NO_ITEM, object)
    slot_ids[slots] = ids
    # Variables, not constants: a SavedModel stores them once, as checkpoint values.
    self.ids = tf.Variable(tf.constant(slot_ids, tf.string), trainable=False,
                           name="ids")
    self._slots = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(ids, tf.string),
                                            tf.constant(slots, tf.int64)),
        default_value=-1)

  @abc.abstractmethod
  def _search(self, user_vectors: tf.Tensor, k: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Top scores `[batch, k]`, best first, and their slots `[batch, k]` (any int
    dtype; MISSING_SCORE where fewer than k items were reachable)."""

  @abc.abstractmethod
  def _slot_vectors(self, slots: tf.Tensor) -> tf.Tensor:
    """`[..., dim]` vectors of `[...]` int64 slots, all valid."""

  def top_k(self, user_vectors: tf.Tensor, k: int | None = None
            ) -> tuple[tf.Tensor, tf.Tensor]:
    """The k highest-scoring items per user.

    Args:
      user_vectors: `[batch, dim]` float32, the student's user vectors.
      k: How many (default: the index's k).

    Returns:
      scores `[batch, k]` float32 (logits), best first, and ids `[batch, k]` tf.string
      (NO_ITEM, with a MISSING_SCORE score, past the items an approximate index
      reached).
    """
    scores, slots = self._search(user_vectors, k or self.k)
    ids = tf.gather(self.ids, slots)
    return scores, tf.where(scores > MISSING_SCORE, ids, NO_ITEM)

  def vectors(self, ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(`[..., dim]` vectors, `[...]` bool found) for item ids; missing rows are 0."""
    slots = self._slots.lookup(ids)
    found = slots >= 0
    vectors = self._slot_vectors(tf.maximum(slots, 0))
    return vectors * tf.cast(found, tf.float32)[..., tf.newaxis], found

  def score(self, user_vectors: tf.Tensor, candidate_ids: tf.Tensor) -> tf.Tensor:
    """Logits of an explicit candidate list per user.

    Args:
      user_vectors: `[batch, dim]` float32.
      candidate_ids: `[batch, num_candidates]` tf.string item ids.

    Returns:
      `[batch, num_candidates]` float32 logits; MISSING_SCORE for ids not indexed.
    """
    vectors, found = self.vectors(candidate_ids)
    scores = tf.linalg.matvec(vectors, user_vectors)  # [batch, num_candidates]
    return tf.where(found, scores, tf.fill(tf.shape(scores), MISSING_SCORE))

  def items(self) -> tuple[np.ndarray, np.ndarray]:
    """(ids `[n]` bytes, vectors `[n, dim]` float32) of every item, in no set order:
    what an exact index over the same catalogue is built from."""
    ids, slots = self._slots.export()
    return ids.numpy(), self._slot_vectors(slots).numpy()


class ItemIndex(Index):
  """Exact brute force: every item scored, as numpy's matmul + argpartition would.

  Args:
    ids: `[num_items]` item ids (str or bytes), unique.
    vectors: `[num_items, dim]` float32 item vectors, row i for ids[i].
    k: The default number of items `top_k` returns.

  Raises:
    ValueError: Shapes disagree, ids repeat, or k exceeds the catalogue.
  """

  def __init__(self, ids: np.ndarray, vectors: np.ndarray, k: int = DEFAULT_K,
               **kwargs):
    ids, vectors = checked_catalogue(ids, vectors, k)
    super().__init__(ids, np.arange(len(ids)), len(ids), vectors.shape[1], k, **kwargs)
    # One column per item, `[dim, num_items]`: the search is then a plain
    # `[batch, dim] x [dim, num_items]` matmul (benchmarks/retrieval_latency.py).
    self.item_columns = tf.Variable(np.ascontiguousarray(vectors.T), trainable=False,
                                    name="item_columns")

  def _search(self, user_vectors: tf.Tensor, k: int) -> tuple[tf.Tensor, tf.Tensor]:
    return exact_top_k(tf.linalg.matmul(user_vectors, self.item_columns), k)

  def _slot_vectors(self, slots: tf.Tensor) -> tf.Tensor:
    columns = tf.gather(self.item_columns, slots, axis=1)  # [dim, ...]
    return tf.experimental.numpy.moveaxis(columns, 0, -1)


def block_size(n: int, k: int) -> int:
  """The block width `exact_top_k` searches n scores in (1: no blocks).

  Blocks of b cost a top-k over n / b maxima and one over k * b candidates, least
  at b = sqrt(n / k); below 2k blocks a plain top-k is as cheap.
  """
  block = max(1, round(math.sqrt(n / k)))
  return block if block > 1 and n // block >= 2 * k else 1


def exact_top_k(scores: tf.Tensor, k: int) -> tuple[tf.Tensor, tf.Tensor]:
  """tf.math.top_k over `[batch, n]` scores (n static), at a fraction of its cost.

  The k best items lie in the k blocks (of `block_size` consecutive items) with the
  best maxima: a block outside them has k blocks at least as good, hence k items at
  least as good as any of its own. So a max per block, a top-k of the maxima, and a
  top-k of those blocks' items, instead of one top-k over all n (TopK on a CPU costs
  several times a max over the same scores, and runs on one core per user). The last
  block is padded with MISSING_SCORE.

  Returns:
    Top scores `[batch, k]`, best first, and their columns `[batch, k]` int32.
  """
  n = scores.shape[1]
  block = block_size(n, k)
  if block == 1:
    return tf.math.top_k(scores, k=k)
  num_blocks = -(-n // block)
  if num_blocks * block != n:
    scores = tf.pad(scores, [[0, 0], [0, num_blocks * block - n]],
                    constant_values=MISSING_SCORE)
  blocks = tf.reshape(scores, [-1, num_blocks, block])
  _, best_blocks = tf.math.top_k(tf.reduce_max(blocks, axis=2), k=k)  # [batch, k]
  candidates = tf.gather(blocks, best_blocks, batch_dims=1)  # [batch, k, block]
  top_scores, at = tf.math.top_k(tf.reshape(candidates, [-1, k * block]), k=k)
  columns = tf.gather(best_blocks, at // block, batch_dims=1) * block + at % block
  return top_scores, columns


def recall_at_k(approximate_ids: np.ndarray, exact_ids: np.ndarray) -> float:
  """The mean share of each user's exact top-k that an approximate top-k found.

  Args:
    approximate_ids, exact_ids: `[users, k]` item ids, one row per user.
  """
  if approximate_ids.shape != exact_ids.shape:
    raise ValueError(f"Expected two [users, k] id arrays of one shape; got "
                     f"{approximate_ids.shape} and {exact_ids.shape}.")
  found = [len(np.intersect1d(a, e)) for a, e in zip(approximate_ids, exact_ids)]
  return float(np.sum(found) / exact_ids.size) if exact_ids.size else 1.0
