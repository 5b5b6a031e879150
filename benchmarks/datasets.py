"""Benchmark datasets: a simulated world pushed through the join job, in a temp dir."""

from __future__ import annotations

import os
import subprocess
import sys


def simulate_and_join(tmp: str, num_impressions: int = 300_000) -> str:
  """Simulates the demo world at `num_impressions` and joins it; returns the dataset.

  Both stages run as their command-line jobs (as `make demo` runs them), quietly.
  """
  raw, examples = os.path.join(tmp, "raw"), os.path.join(tmp, "examples")
  for command in (
      ["simulation.generate", "--preset=demo", f"--num_impressions={num_impressions}",
       f"--output_dir={raw}", "--nooracle"],
      ["pipelines.join_logs", f"--impressions={raw}/impressions/*",
       f"--clicks={raw}/clicks/*", f"--detail_pages={raw}/detail_pages/*",
       f"--output_dir={examples}"]):
    subprocess.run([sys.executable, "-m", *command], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  return examples
