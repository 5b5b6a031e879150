"""`make bench`: runs every benchmark and merges its figures into results.json."""

from __future__ import annotations

from typing import Sequence

from absl import app
from absl import flags
from absl import logging

from benchmarks import beam_throughput
from benchmarks import results
from benchmarks import retrieval_latency
from benchmarks import serving_latency
from benchmarks import sim_throughput
from benchmarks import spec_inference
from benchmarks import train_throughput

FLAGS = flags.FLAGS
flags.DEFINE_string("output", "benchmarks/results.json", "The results file.")
flags.DEFINE_list("only", [], "Run only these benchmarks (default: all), by their "
                  "BENCHMARKS names.")

BENCHMARKS = {
    "sim": sim_throughput.measure,
    "beam": beam_throughput.measure,
    "train": train_throughput.measure,
    "serving": serving_latency.measure,
    "retrieval": retrieval_latency.measure,
    "spec": spec_inference.measure,
}
flags.register_validator("only", lambda names: set(names) <= set(BENCHMARKS),
                         f"must name benchmarks among {sorted(BENCHMARKS)}")


def main(argv: Sequence[str]) -> None:
  del argv
  for name, measure in BENCHMARKS.items():
    if FLAGS.only and name not in FLAGS.only:
      continue
    logging.info("Benchmark %s...", name)
    figures = measure()
    merged = results.update_results(FLAGS.output, figures)
    for key in sorted(figures):
      print(f"{key}: {merged[key]:.4g}")


if __name__ == "__main__":
  app.run(main)
