"""`make bench`: runs every benchmark and merges its figures into results.json."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from absl import logging

import cli
import config_flags
from config_flags import knob
from benchmarks import beam_throughput
from benchmarks import daily
from benchmarks import distributed_training
from benchmarks import results
from benchmarks import retrieval_latency
from benchmarks import serving_latency
from benchmarks import sim_throughput
from benchmarks import spec_inference
from benchmarks import train_throughput

BENCHMARKS = {
    "sim": sim_throughput.measure,
    "beam": beam_throughput.measure,
    "daily": daily.measure,
    "train": train_throughput.measure,
    "distributed": distributed_training.measure,
    "serving": serving_latency.measure,
    "retrieval": retrieval_latency.measure,
    "spec": spec_inference.measure,
}


@dataclasses.dataclass(frozen=True)
class BenchJob:
  """Which benchmarks run, and where their figures are merged."""
  output: str = knob("benchmarks/results.json", "The results file.")
  only: frozenset[str] = knob(frozenset(), "Run only these benchmarks (default: all), "
                              "by their BENCHMARKS names.")

  def __post_init__(self):
    config_flags.check_choices("only", self.only, BENCHMARKS, "benchmarks")


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(BenchJob)
  for name, measure in BENCHMARKS.items():
    if job.only and name not in job.only:
      continue
    logging.info("Benchmark %s...", name)
    figures = measure()
    merged = results.update_results(job.output, figures)
    for key in sorted(figures):
      print(f"{key}: {merged[key]:.4g}")


if __name__ == "__main__":
  config_flags.define(BenchJob)
  cli.run(main)
