"""Top-100 for one user over 100k precomputed item vectors, against bare numpy.

The pre-ranker's budget is milliseconds per request, so retrieval must cost about
what the arithmetic costs. One user vector `[1, dim]` (dim: the CTR default's exported
width, bias coordinate included) against 100k item vectors, on this CPU:

* retrieval.top100_100k_p50_ms / _p99_ms: `ItemIndex.top_k` in a tf.function with a
  fixed input signature, as a SavedModel serves it;
* retrieval.top100_100k_xla_p50_ms / _p99_ms: the same with the search compiled by
  XLA (`ItemIndex(..., jit_compile=True)`);
* retrieval.top100_100k_numpy_p50_ms: numpy's matmul + argpartition + a sort of the
  100, the floor a serving layer can hope for;
* retrieval.top100_100k_p50_over_numpy, retrieval.top100_100k_xla_p50_over_numpy:
  the ratios of the medians (goal <= 1.5).

The three are called in turn, call by call, so that load from other tenants of the
machine falls on all of them alike; percentiles are over every timed call.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import tensorflow as tf

from models import retrieval
from models.config import ModelConfig

NUM_ITEMS = 100_000
K = 100
WARMUP_CALLS = 100
TIMED_CALLS = 2_000
_CTR = ModelConfig.for_task("ctr")
DIM = _CTR.tower_dim + int(_CTR.item_bias)


def _catalogue(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """Unit item vectors with a bias coordinate, as the item tower writes them."""
  vectors = rng.normal(size=(NUM_ITEMS, DIM - 1)).astype(np.float32)
  vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
  bias = rng.normal(-3.0, 1.0, size=(NUM_ITEMS, 1)).astype(np.float32)
  ids = np.array([f"item_{k}".encode() for k in range(NUM_ITEMS)])
  return ids, np.concatenate([vectors, bias], axis=1)


def _numpy_top_k(ids: np.ndarray, vectors: np.ndarray
                 ) -> Callable[[np.ndarray], np.ndarray]:
  def top_k(user: np.ndarray) -> np.ndarray:
    scores = (user @ vectors.T)[0]
    best = np.argpartition(-scores, K)[:K]
    return ids[best[np.argsort(-scores[best])]]
  return top_k


def _timed(calls: dict[str, Callable[[], object]]) -> dict[str, np.ndarray]:
  """Seconds per call, each callable in turn, after a warm-up of each."""
  for call in calls.values():
    for _ in range(WARMUP_CALLS):
      call()
  seconds = {name: [] for name in calls}
  for _ in range(TIMED_CALLS):
    for name, call in calls.items():
      start = time.perf_counter()
      call()
      seconds[name].append(time.perf_counter() - start)
  return {name: np.array(s) for name, s in seconds.items()}


def measure() -> dict[str, float]:
  rng = np.random.default_rng(0)
  ids, vectors = _catalogue(rng)
  signature = [tf.TensorSpec([None, DIM], tf.float32)]
  graph, xla = (tf.function(retrieval.ItemIndex(ids, vectors, K, jit).top_k,
                            input_signature=signature) for jit in (False, True))
  user = rng.normal(size=(1, DIM)).astype(np.float32)
  user_tensor = tf.constant(user)
  by_numpy = _numpy_top_k(ids, vectors)
  reference = by_numpy(user)
  for fn in (graph, xla):  # The same items, or the comparison would be unfair.
    if set(fn(user_tensor)[1].numpy()[0]) != set(reference):
      raise RuntimeError("ItemIndex.top_k and numpy disagree on the top 100.")
  seconds = _timed({
      "tf": lambda: graph(user_tensor)[1].numpy(),
      "xla": lambda: xla(user_tensor)[1].numpy(),
      "numpy": lambda: by_numpy(user),
  })
  ms = {name: (1e3 * float(np.median(s)), 1e3 * float(np.percentile(s, 99)))
        for name, s in seconds.items()}
  prefix = "retrieval.top100_100k"
  return {
      f"{prefix}_p50_ms": ms["tf"][0], f"{prefix}_p99_ms": ms["tf"][1],
      f"{prefix}_xla_p50_ms": ms["xla"][0], f"{prefix}_xla_p99_ms": ms["xla"][1],
      f"{prefix}_numpy_p50_ms": ms["numpy"][0],
      f"{prefix}_p50_over_numpy": ms["tf"][0] / ms["numpy"][0],
      f"{prefix}_xla_p50_over_numpy": ms["xla"][0] / ms["numpy"][0],
  }


if __name__ == "__main__":
  print(measure())
