"""The retrieval benchmark's figures, on catalogues small enough for a test."""

import pytest

from benchmarks import retrieval_latency


def test_figures_are_positive_and_the_ratios_are_of_the_medians(monkeypatch):
  for name, value in [("NUM_ITEMS", 2_000), ("ANN_ITEMS", 5_000),
                      ("ITEMS_PER_CATEGORY", 250), ("RECALL_USERS", 20),
                      ("WARMUP_CALLS", 2), ("TIMED_CALLS", 10), ("ROUNDS", 2),
                      ("SLOW_WARMUP_CALLS", 1), ("SLOW_TIMED_CALLS", 5),
                      ("SLOW_ROUNDS", 2)]:
    monkeypatch.setattr(retrieval_latency, name, value)
  figures = retrieval_latency.measure()
  single, batched = "retrieval.top100_100k", "retrieval.batch64_top100_100k"
  assert all(v > 0 for k, v in figures.items() if k != "retrieval.cpu_avx512")
  assert figures[f"{single}_p99_ms"] >= figures[f"{single}_p50_ms"]
  assert figures[f"{single}_p50_over_numpy"] == (
      figures[f"{single}_p50_ms"] / figures[f"{single}_numpy_p50_ms"])
  assert figures[f"{batched}_p50_over_numpy"] == (
      figures[f"{batched}_p50_ms"] / figures[f"{batched}_numpy_p50_ms"])
  assert figures["retrieval.ann_speedup_1m"] == (
      figures["retrieval.exact_top100_1m_p50_ms"]
      / figures["retrieval.ann_top100_1m_p50_ms"])
  # 20 of ~160 partitions on a clustered catalogue: most of the exact top-100.
  assert 0.8 <= figures["retrieval.ann_recall_at_100_1m"] <= 1.0
  # The IVF index stores the vectors once, chunk padding aside.
  assert figures["retrieval.ann_index_mb_1m"] == pytest.approx(
      figures["retrieval.exact_index_mb_1m"], rel=0.3)
