"""An approximate item index: an inverted file of k-means partitions, in plain TF ops.

Offline (`build`, run by models.item_vectors), k-means splits the catalogue into
partitions around centroids; a query scores the centroids, searches the items of the
`num_probes` best partitions only, and returns their exact top-k. Every op is a stock
TensorFlow op (matmul, gather, top-k), so TF Serving runs the SavedModel as it is; a
ScaNN build's custom ops do not load beside TensorFlow 2.21.

Why these choices (benchmarks/retrieval_latency.py measures their recall):
  - k-means in L2 on the raw vectors, bias coordinate included, and probing by inner
    product with the centroid (the partition's mean score): as good as the
    MIPS-to-nearest-neighbour reduction, while clustering directions alone would
    ignore the bias, which dominates the top of the ranking.
  - Partitions above BALANCE times the mean size are cut along their principal axis:
    a query searches `num_probes` runs as long as the largest partition, so one
    oversized partition would cost every query.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import tensorflow as tf

from config_flags import knob
from models import retrieval

# k-means trains on at most this many items per partition (as Faiss does), then
# assigns every item.
SAMPLE_PER_PARTITION = 64
# At 1M items, 1.2 kept 1.5's recall with 20% fewer rows scanned a query.
BALANCE = 1.2
# Items scored against the centroids per step: bounds the `[chunk, partitions]` scores.
_ASSIGN_SCORES = 1 << 24
_POWER_ITERATIONS = 10
# Rows a query gathers at once: partitions start on a chunk, so the padding is at most
# CHUNK_ROWS - 1 rows per partition.
CHUNK_ROWS = 8


def default_partitions(num_items: int) -> int:
  """2 sqrt(n): a query then scores ~2 sqrt(n) centroids, and a partition holds
  ~sqrt(n) / 2 items."""
  return max(1, min(num_items, round(2 * math.sqrt(num_items))))


@dataclasses.dataclass(frozen=True)
class IVFConfig:
  """How models.item_vectors partitions the catalogue, and how queries probe it."""
  num_partitions: int | None = knob(None, "IVF index: k-means partitions (default: "
                                    "2 sqrt(items)).")
  num_probes: int = knob(20, "IVF index: partitions a query searches (recall against "
                         "latency).")
  kmeans_iterations: int = knob(10, "IVF index: Lloyd iterations.")
  kmeans_seed: int = knob(0, "IVF index: the k-means sample and initial centroids.")

  def __post_init__(self):
    for name in ("num_partitions", "num_probes", "kmeans_iterations"):
      value = getattr(self, name)
      if value is not None and value < 1:
        raise ValueError(f"IVFConfig.{name} must be >= 1, got {value}.")


@dataclasses.dataclass(frozen=True, eq=False)
class Partitions:
  """What `build` computed: the index's structure over a catalogue's vectors.

  Attributes:
    centroids: `[num_partitions, dim]` float32, each partition's mean vector.
    assignments: `[num_items]` int32, item i's partition (same order as the vectors).
    num_probes: Partitions a query searches.
    build_s: Seconds `build` took (reported beside the index).
  """
  centroids: np.ndarray
  assignments: np.ndarray
  num_probes: int
  build_s: float = 0.0

  @property
  def num_partitions(self) -> int:
    return len(self.centroids)

  def check(self, num_items: int, dim: int) -> None:
    """Raises ValueError unless these partitions can index `[num_items, dim]` vectors
    (partitions built over another catalogue would)."""
    if self.centroids.ndim != 2 or self.centroids.shape[1] != dim:
      raise ValueError(f"Partition centroids have shape {self.centroids.shape}; the "
                       f"item vectors are {dim}-d.")
    if self.assignments.shape != (num_items,):
      raise ValueError(f"Partition assignments have shape {self.assignments.shape}; "
                       f"the catalogue has {num_items} items: were they built over "
                       "other vectors?")
    if len(self.assignments) and not (
        0 <= self.assignments.min() and self.assignments.max() < self.num_partitions):
      raise ValueError(f"Partition assignments {self.assignments.min()}.."
                       f"{self.assignments.max()} fall outside the "
                       f"{self.num_partitions} partitions.")
    if not 1 <= self.num_probes <= self.num_partitions:
      raise ValueError(f"num_probes must be in [1, {self.num_partitions}] (the "
                       f"partitions), got {self.num_probes}.")


def _nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
  """`[n]` int32: each row's nearest centroid in L2 (argmax x.c - |c|^2 / 2)."""
  columns = tf.constant(centroids.T)
  half_norms = 0.5 * tf.reduce_sum(columns * columns, axis=0)
  chunk = max(1, _ASSIGN_SCORES // len(centroids))
  return np.concatenate([
      tf.argmax(tf.matmul(x[i:i + chunk], columns) - half_norms, axis=1,
                output_type=tf.int32).numpy()
      for i in range(0, len(x), chunk)])


def _means(x: np.ndarray, assignments: np.ndarray, num_partitions: int
           ) -> tuple[np.ndarray, np.ndarray]:
  """(`[P, dim]` mean of each partition's rows, `[P]` counts); 0 rows for empty ones."""
  sums = tf.math.unsorted_segment_sum(x, assignments, num_partitions).numpy()
  counts = np.bincount(assignments, minlength=num_partitions)
  return sums / np.maximum(counts, 1)[:, np.newaxis], counts


def _kmeans(x: np.ndarray, num_partitions: int, iterations: int,
            rng: np.random.Generator) -> np.ndarray:
  """Lloyd's k-means started at random rows of x: `[num_partitions, dim]` centroids (an
  emptied partition keeps its last centroid)."""
  centroids = x[rng.choice(len(x), num_partitions, replace=False)]
  for _ in range(iterations):
    means, counts = _means(x, _nearest(x, centroids), num_partitions)
    centroids = np.where(counts[:, np.newaxis] > 0, means, centroids).astype(np.float32)
  return centroids


def _principal_order(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Rows of x sorted along their first principal axis (power iteration)."""
  centered = x - x.mean(axis=0)
  axis = rng.normal(size=x.shape[1])
  for _ in range(_POWER_ITERATIONS):
    axis = centered.T @ (centered @ axis)
    axis /= np.linalg.norm(axis) or 1.0
  return np.argsort(centered @ axis, kind="stable")


def _balanced(vectors: np.ndarray, assignments: np.ndarray, num_partitions: int,
              rng: np.random.Generator) -> np.ndarray:
  """Assignments with no partition above BALANCE x the mean size (each oversized one
  cut into equal slabs along its principal axis) and no empty one, renumbered 0..P'."""
  cap = max(1, math.ceil(BALANCE * len(vectors) / num_partitions))
  balanced, next_partition = assignments.copy(), num_partitions
  for p in np.flatnonzero(np.bincount(assignments, minlength=num_partitions) > cap):
    members = np.flatnonzero(assignments == p)
    slabs = np.array_split(members[_principal_order(vectors[members], rng)],
                           math.ceil(len(members) / cap))
    for slab in slabs[1:]:
      balanced[slab] = next_partition
      next_partition += 1
  _, renumbered = np.unique(balanced, return_inverse=True)
  return renumbered.astype(np.int32)


def build(vectors: np.ndarray, config: IVFConfig = IVFConfig()) -> Partitions:
  """k-means partitions of `[n, dim]` item vectors (seeded: the same vectors and
  config give the same partitions).

  Raises:
    ValueError: More partitions than items.
  """
  start = time.perf_counter()
  vectors = np.asarray(vectors, np.float32)
  num_partitions = config.num_partitions or default_partitions(len(vectors))
  if num_partitions > len(vectors):
    raise ValueError(f"num_partitions={num_partitions} exceeds the {len(vectors)} "
                     "items.")
  rng = np.random.default_rng(config.kmeans_seed)
  sample = vectors[rng.choice(len(vectors), min(len(vectors), SAMPLE_PER_PARTITION *
                                                num_partitions), replace=False)]
  centroids = _kmeans(sample, num_partitions, config.kmeans_iterations, rng)
  assignments = _balanced(vectors, _nearest(vectors, centroids), num_partitions, rng)
  centroids, _ = _means(vectors, assignments, assignments.max() + 1)
  return Partitions(centroids.astype(np.float32), assignments,
                    min(config.num_probes, len(centroids)), time.perf_counter() - start)


class IVFIndex(retrieval.Index):
  """Approximate top-k: the exact top-k of the items in the best-scoring partitions.

  Items are stored by partition in chunks of CHUNK_ROWS rows, each partition a run of
  chunks (its last one padded); a query gathers `num_probes` runs as long as the
  longest partition's (whole chunks: one copy per chunk, not per row), masks the rows
  past each partition's end, and takes the top-k of the rest. With every partition
  probed, the result is exact. Candidate scoring (`score`) is exact for any indexed id.

  Args:
    ids: `[num_items]` item ids (str or bytes), unique.
    vectors: `[num_items, dim]` float32 item vectors, row i for ids[i].
    partitions: `build`'s output over these vectors.
    k: The default number of items `top_k` returns.

  Raises:
    ValueError: Shapes disagree, ids repeat, k exceeds the catalogue, or the
      partitions were not built over these vectors.
  """

  def __init__(self, ids: np.ndarray, vectors: np.ndarray, partitions: Partitions,
               k: int = retrieval.DEFAULT_K, **kwargs):
    ids, vectors = retrieval.checked_catalogue(ids, vectors, k)
    num_items, dim = vectors.shape
    partitions.check(num_items, dim)
    sizes = np.bincount(partitions.assignments, minlength=partitions.num_partitions)
    chunks = -(-sizes // CHUNK_ROWS)
    first_chunks = np.cumsum(chunks) - chunks
    # Item i's slot: its partition's first row plus its rank within the partition.
    order = np.argsort(partitions.assignments, kind="stable")
    rank = np.empty(num_items, np.int64)
    rank[order] = np.arange(num_items) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    slots = first_chunks[partitions.assignments] * CHUNK_ROWS + rank
    num_slots = int(chunks.sum()) * CHUNK_ROWS
    super().__init__(ids, slots, num_slots, dim, k, **kwargs)
    self.num_partitions, self.num_probes = len(sizes), partitions.num_probes
    # Runs long enough for the largest partition, and for k candidates in any query.
    self.run_chunks = max(int(chunks.max()),
                          -(-k // (self.num_probes * CHUNK_ROWS)))
    rows = np.zeros([num_slots, dim], np.float32)
    rows[slots] = vectors
    self.item_chunks = tf.Variable(rows.reshape([-1, CHUNK_ROWS, dim]),
                                   trainable=False, name="item_chunks")
    self.centroid_columns = tf.Variable(np.ascontiguousarray(partitions.centroids.T),
                                        trainable=False, name="centroid_columns")
    self.first_chunks = tf.Variable(first_chunks.astype(np.int32), trainable=False,
                                    name="first_chunks")
    self.partition_sizes = tf.Variable(sizes.astype(np.int32), trainable=False,
                                       name="partition_sizes")

  def _search(self, user_vectors: tf.Tensor, k: int) -> tuple[tf.Tensor, tf.Tensor]:
    run_rows = self.run_chunks * CHUNK_ROWS
    candidates = self.num_probes * run_rows
    if k > candidates:
      raise ValueError(f"k={k} exceeds the {candidates} items {self.num_probes} probes "
                       "reach; build the index for this k.")
    _, probed = tf.math.top_k(tf.linalg.matmul(user_vectors, self.centroid_columns),
                              k=self.num_probes)  # [batch, num_probes]
    chunks = (tf.gather(self.first_chunks, probed)[..., tf.newaxis]
              + tf.range(self.run_chunks))  # [batch, num_probes, run_chunks]
    # The last partitions' runs may reach past the last chunk; those rows are masked.
    chunks = tf.reshape(tf.minimum(chunks, self.item_chunks.shape[0] - 1),
                        [-1, self.num_probes * self.run_chunks])
    rows = tf.reshape(tf.gather(self.item_chunks, chunks), [-1, candidates, self.dim])
    scores = tf.linalg.matvec(rows, user_vectors)  # [batch, candidates]
    in_partition = (tf.range(run_rows)
                    < tf.gather(self.partition_sizes, probed)[..., tf.newaxis])
    scores = tf.where(tf.reshape(in_partition, [-1, candidates]), scores,
                      retrieval.MISSING_SCORE)
    top_scores, at = retrieval.exact_top_k(scores, k)
    slots = tf.gather(chunks, at // CHUNK_ROWS, batch_dims=1) * CHUNK_ROWS
    return top_scores, slots + at % CHUNK_ROWS

  def _slot_vectors(self, slots: tf.Tensor) -> tf.Tensor:
    return tf.gather(tf.reshape(self.item_chunks, [-1, self.dim]), slots)
