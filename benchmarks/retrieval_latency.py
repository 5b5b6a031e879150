"""Top-100 retrieval over precomputed item vectors: exact against bare numpy at 100k
items, and the approximate IVF index against exact at 1M.

The pre-ranker's budget is milliseconds per request, so retrieval must cost about
what the arithmetic costs. Item vectors have the CTR default's exported width (bias
coordinate included), users are the student's (scaled unit vectors and a 1), and the
catalogue is clustered as a trained item tower's is (one category per 1000 items,
each item at cosine ~0.8 to its category's centre, biases N(-3, 1)):

* retrieval.top100_100k_p50_ms / _p99_ms: `ItemIndex.top_k` for one user, as a
  SavedModel serves it (a concrete function of a fixed input signature);
* retrieval.top100_100k_numpy_p50_ms: numpy's matmul + argpartition + a sort of the
  100, the floor a serving layer can hope for;
* retrieval.top100_100k_p50_over_numpy: the ratio of the medians (goal <= 1.5);
* retrieval.batch64_top100_100k_p50_ms, _numpy_p50_ms, _p50_over_numpy: the same for
  64 users per call;
* retrieval.tf_function_call_p50_ms: a trivial concrete function of the same
  signature, i.e. what calling a graph from Python costs before any work (a server
  calling the SavedModel from C++ does not pay it);
* retrieval.ann_top100_1m_p50_ms / _p99_ms, retrieval.exact_top100_1m_p50_ms,
  retrieval.ann_speedup_1m (exact over approximate, goal >= 10) and
  retrieval.ann_recall_at_100_1m (the share of the exact top-100 found, over
  RECALL_USERS users; goal >= 0.95): models.retrieval.ivf_index's default partitions and probes;
* retrieval.ann_build_s_1m (k-means, balancing), retrieval.ann_index_mb_1m and
  retrieval.exact_index_mb_1m (the indexes' vectors in memory);
* retrieval.cpu_cores and retrieval.cpu_avx512 (1 or 0): the machine measured.

Where the time goes is in WORKSPACE.md (models.item_vectors); the callables run in
alternating blocks of calls (rounds of them, each block warmed up first): load from
other tenants of the machine falls on all alike, and within a block the vectors stay
as warm in cache as a server's single index would (calling two in turn, call by call,
evicts each one's vectors with the other's). Percentiles are over every timed call.
Load falls on numpy harder, though: its BLAS threads sleep during each argpartition
and, on busy cores, wake late (medians 10x the quiet ones, seen on 2 shared cores),
so the ratios to numpy are only the goal's measure on an otherwise idle machine.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np
import tensorflow as tf

from features import spec as spec_lib
from models.retrieval import ivf_index
from models import retrieval
from models.heads.two_tower import INNER_PRODUCT_SCALE_INIT
from models.config import ModelConfig

NUM_ITEMS = 100_000
ANN_ITEMS = 1_000_000
K = 100
BATCH = 64
ITEMS_PER_CATEGORY = 1000
RECALL_USERS = 200
ROUNDS = 10
WARMUP_CALLS = 20  # Per block.
TIMED_CALLS = 200  # Per block.
# Calls of 64 users, and over 1M items, cost ~10 ms and more: fewer of them.
SLOW_ROUNDS = 5
SLOW_WARMUP_CALLS = 5
SLOW_TIMED_CALLS = 40
_CTR = ModelConfig.for_task(spec_lib.DEFAULT_SPEC, "ctr")
DIM = _CTR.student.settings.vector_dim


def _unit(x: np.ndarray) -> np.ndarray:
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def _catalogue(rng: np.random.Generator, num_items: int
               ) -> tuple[np.ndarray, np.ndarray]:
  """Unit item vectors around category centres, with a bias coordinate."""
  centres = _unit(rng.normal(size=(max(1, num_items // ITEMS_PER_CATEGORY), DIM - 1)))
  noise = rng.normal(scale=0.1, size=(num_items, DIM - 1))
  vectors = _unit(centres[rng.integers(0, len(centres), num_items)] + noise)
  bias = rng.normal(-3.0, 1.0, size=(num_items, 1))
  ids = np.array([f"item_{k}".encode() for k in range(num_items)])
  return ids, np.concatenate([vectors, bias], axis=1).astype(np.float32)


def _users(rng: np.random.Generator, num_users: int) -> np.ndarray:
  """`[num_users, DIM]` user vectors as the user tower writes them."""
  unit = _unit(rng.normal(size=(num_users, DIM - 1)))
  return np.concatenate([INNER_PRODUCT_SCALE_INIT * unit, np.ones((num_users, 1))],
                        axis=1).astype(np.float32)


def _numpy_top_k(ids: np.ndarray, vectors: np.ndarray
                 ) -> Callable[[np.ndarray], np.ndarray]:
  def top_k(users: np.ndarray) -> np.ndarray:
    scores = users @ vectors.T
    best = np.argpartition(-scores, K, axis=1)[:, :K]
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1)
    return ids[np.take_along_axis(best, order, axis=1)]
  return top_k


def _served(index: retrieval.Index) -> Callable:
  """`index.top_k` as a SavedModel's signature runs it: a concrete function of
  `[None, DIM]` alone. Traced itself, `top_k`'s Python default (`k=None`) costs a
  Python binding per call, as much as the search itself; no signature has it."""
  return tf.function(lambda users: index.top_k(users)).get_concrete_function(
      tf.TensorSpec([None, DIM], tf.float32))


def _timed(calls: dict[str, Callable[[], object]], rounds: int, warmup_calls: int,
           timed_calls: int) -> dict[str, np.ndarray]:
  """Seconds per call: rounds of one warmed-up block of calls per callable."""
  seconds = {name: [] for name in calls}
  for _ in range(rounds):
    for name, call in calls.items():
      for _ in range(warmup_calls):
        call()
      for _ in range(timed_calls):
        start = time.perf_counter()
        call()
        seconds[name].append(time.perf_counter() - start)
  return {name: np.array(s) for name, s in seconds.items()}


def _ms(seconds: np.ndarray, percentile: float = 50) -> float:
  return 1e3 * float(np.percentile(seconds, percentile))


def _top_ids(index: retrieval.Index, users: tf.Tensor) -> np.ndarray:
  """`[users, K]` ids, BATCH users at a time (an exact search scores `[batch, n]`)."""
  return np.concatenate([index.top_k(users[i:i + BATCH])[1].numpy()
                         for i in range(0, len(users), BATCH)])


def _index_mb(index: retrieval.Index) -> float:
  return sum(v.shape.num_elements() * v.dtype.size for v in index.variables
             if v.dtype != tf.string) / 2**20


def _exact(rng: np.random.Generator) -> dict[str, float]:
  """ItemIndex against numpy over NUM_ITEMS, for one user and for BATCH."""
  ids, vectors = _catalogue(rng, NUM_ITEMS)
  top_k = _served(retrieval.ItemIndex(ids, vectors, K))
  by_numpy = _numpy_top_k(ids, vectors)
  users = {1: tf.constant(_users(rng, 1)), BATCH: tf.constant(_users(rng, BATCH))}
  for batch in users.values():  # A fair comparison?
    if not np.array_equal(np.sort(top_k(batch)[1].numpy(), axis=1),
                          np.sort(by_numpy(batch.numpy()), axis=1)):
      raise RuntimeError(f"ItemIndex.top_k and numpy disagree on the top {K} of "
                         f"{len(batch)} users.")
  call_only = tf.function(lambda users: users).get_concrete_function(
      tf.TensorSpec([None, DIM], tf.float32))
  one, many = users[1], users[BATCH]
  one_np, many_np = one.numpy(), many.numpy()
  seconds = _timed({
      "tf": lambda: top_k(one)[1].numpy(),
      "call": lambda: call_only(one),
      "numpy": lambda: by_numpy(one_np),
  }, ROUNDS, WARMUP_CALLS, TIMED_CALLS)
  seconds.update(_timed({
      "tf_batch": lambda: top_k(many)[1].numpy(),
      "numpy_batch": lambda: by_numpy(many_np),
  }, SLOW_ROUNDS, SLOW_WARMUP_CALLS, SLOW_TIMED_CALLS))
  single, batched = "retrieval.top100_100k", f"retrieval.batch{BATCH}_top100_100k"
  return {
      f"{single}_p50_ms": _ms(seconds["tf"]),
      f"{single}_p99_ms": _ms(seconds["tf"], 99),
      f"{single}_numpy_p50_ms": _ms(seconds["numpy"]),
      f"{single}_p50_over_numpy": _ms(seconds["tf"]) / _ms(seconds["numpy"]),
      f"{batched}_p50_ms": _ms(seconds["tf_batch"]),
      f"{batched}_numpy_p50_ms": _ms(seconds["numpy_batch"]),
      f"{batched}_p50_over_numpy": (_ms(seconds["tf_batch"])
                                    / _ms(seconds["numpy_batch"])),
      "retrieval.tf_function_call_p50_ms": _ms(seconds["call"]),
  }


def _approximate(rng: np.random.Generator) -> dict[str, float]:
  """IVFIndex against ItemIndex over ANN_ITEMS: latency, recall, build and size."""
  ids, vectors = _catalogue(rng, ANN_ITEMS)
  partitions = ivf_index.build(vectors)
  exact = retrieval.ItemIndex(ids, vectors, K)
  ann = ivf_index.IVFIndex(ids, vectors, partitions, K)
  del vectors  # The indexes hold their own copies.
  users = tf.constant(_users(rng, RECALL_USERS))
  recall = retrieval.recall_at_k(_top_ids(ann, users), _top_ids(exact, users))
  by_exact, by_ann = _served(exact), _served(ann)
  one = users[:1]
  seconds = _timed({"exact": lambda: by_exact(one)[1].numpy(),
                    "ann": lambda: by_ann(one)[1].numpy()},
                   SLOW_ROUNDS, SLOW_WARMUP_CALLS, SLOW_TIMED_CALLS)
  prefix = "retrieval.ann_top100_1m"
  return {
      f"{prefix}_p50_ms": _ms(seconds["ann"]),
      f"{prefix}_p99_ms": _ms(seconds["ann"], 99),
      "retrieval.exact_top100_1m_p50_ms": _ms(seconds["exact"]),
      "retrieval.ann_speedup_1m": _ms(seconds["exact"]) / _ms(seconds["ann"]),
      "retrieval.ann_recall_at_100_1m": recall,
      "retrieval.ann_build_s_1m": partitions.build_s,
      "retrieval.ann_index_mb_1m": _index_mb(ann),
      "retrieval.exact_index_mb_1m": _index_mb(exact),
  }


def _cpu() -> dict[str, float]:
  with open("/proc/cpuinfo") as f:
    avx512 = "avx512f" in f.read()
  return {"retrieval.cpu_cores": float(os.cpu_count()),
          "retrieval.cpu_avx512": float(avx512)}


def measure() -> dict[str, float]:
  rng = np.random.default_rng(0)
  return {**_cpu(), **_exact(rng), **_approximate(rng)}


if __name__ == "__main__":
  print(measure())
