"""The retrieval benchmark's figures, on a catalogue small enough for a test."""

from benchmarks import retrieval_latency


def test_figures_are_positive_and_the_ratio_is_of_the_medians(monkeypatch):
  monkeypatch.setattr(retrieval_latency, "NUM_ITEMS", 2_000)
  monkeypatch.setattr(retrieval_latency, "WARMUP_CALLS", 2)
  monkeypatch.setattr(retrieval_latency, "TIMED_CALLS", 10)
  monkeypatch.setattr(retrieval_latency, "ROUNDS", 2)
  figures = retrieval_latency.measure()
  prefix = "retrieval.top100_100k"
  assert all(v > 0 for v in figures.values())
  assert figures[f"{prefix}_p99_ms"] >= figures[f"{prefix}_p50_ms"]
  assert figures[f"{prefix}_p50_over_numpy"] == (
      figures[f"{prefix}_p50_ms"] / figures[f"{prefix}_numpy_p50_ms"])
