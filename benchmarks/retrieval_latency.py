"""Top-100 for one user over 100k precomputed item vectors, against bare numpy.

The pre-ranker's budget is milliseconds per request, so retrieval must cost about
what the arithmetic costs. One user vector `[1, dim]` (dim: the CTR default's exported
width, bias coordinate included) against 100k item vectors, on this CPU:

* retrieval.top100_100k_p50_ms / _p99_ms: `ItemIndex.top_k` in a tf.function with a
  fixed input signature, as a SavedModel serves it;
* retrieval.top100_100k_numpy_p50_ms: numpy's matmul + argpartition + a sort of the
  100, the floor a serving layer can hope for;
* retrieval.top100_100k_p50_over_numpy: the ratio of the medians (goal <= 1.5);
* retrieval.tf_function_call_p50_ms: a trivial tf.function of the same signature,
  i.e. what calling a graph from Python costs before any work (a server calling
  the SavedModel from C++ does not pay it).

Where the time goes, measured on 2 AVX2 cores: the Python call of the graph (above,
~0.4 ms); the matmul, which oneDNN (on in every process here: legacy_keras.py) runs
on both cores over the index's `[dim, num_items]` columns as fast as numpy's OpenBLAS
sgemv; the exact top-100 (models.retrieval's block search). Without oneDNN, TensorFlow
ran this matmul on one core and the ratio was 2.0; over rows (`transpose_b`) oneDNN
was ~1.6x slower than over columns.

The callables run in alternating blocks of calls (ROUNDS of them, each block warmed up
first): load from other tenants of the machine falls on all alike, and within a
block the vectors stay as warm in cache as a server's single index would (calling the
two in turn, call by call, evicts each one's 26 MB with the other's). Percentiles are
over every timed call.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import tensorflow as tf

from features import spec as spec_lib
from models import retrieval
from models.config import ModelConfig

NUM_ITEMS = 100_000
K = 100
ROUNDS = 10
WARMUP_CALLS = 20  # Per block.
TIMED_CALLS = 200  # Per block.
_CTR = ModelConfig.for_task(spec_lib.DEFAULT_SPEC, "ctr")
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
  """Seconds per call: ROUNDS of one warmed-up block of calls per callable."""
  seconds = {name: [] for name in calls}
  for _ in range(ROUNDS):
    for name, call in calls.items():
      for _ in range(WARMUP_CALLS):
        call()
      for _ in range(TIMED_CALLS):
        start = time.perf_counter()
        call()
        seconds[name].append(time.perf_counter() - start)
  return {name: np.array(s) for name, s in seconds.items()}


def measure() -> dict[str, float]:
  rng = np.random.default_rng(0)
  ids, vectors = _catalogue(rng)
  top_k = tf.function(retrieval.ItemIndex(ids, vectors, K).top_k,
                      input_signature=[tf.TensorSpec([None, DIM], tf.float32)])
  user = rng.normal(size=(1, DIM)).astype(np.float32)
  user_tensor = tf.constant(user)
  by_numpy = _numpy_top_k(ids, vectors)
  reference = by_numpy(user)
  if set(top_k(user_tensor)[1].numpy()[0]) != set(reference):  # A fair comparison?
    raise RuntimeError("ItemIndex.top_k and numpy disagree on the top 100.")
  call_only = tf.function(lambda users: users,
                          input_signature=[tf.TensorSpec([None, DIM], tf.float32)])
  seconds = _timed({
      "tf": lambda: top_k(user_tensor)[1].numpy(),
      "call": lambda: call_only(user_tensor),
      "numpy": lambda: by_numpy(user),
  })
  ms = {name: (1e3 * float(np.median(s)), 1e3 * float(np.percentile(s, 99)))
        for name, s in seconds.items()}
  prefix = "retrieval.top100_100k"
  return {
      f"{prefix}_p50_ms": ms["tf"][0], f"{prefix}_p99_ms": ms["tf"][1],
      f"{prefix}_numpy_p50_ms": ms["numpy"][0],
      f"{prefix}_p50_over_numpy": ms["tf"][0] / ms["numpy"][0],
      "retrieval.tf_function_call_p50_ms": ms["call"][0],
  }


if __name__ == "__main__":
  print(measure())
