"""Benchmark datasets: the simulated world pushed through the join job.

Both stages run as their command-line jobs, as `make demo` runs them.
"""

from __future__ import annotations

import subprocess
import sys


def simulate_and_join(raw_dir: str, examples_dir: str,
                      num_impressions: int | None = None, oracle: bool = False,
                      quiet: bool = True, preset: str = "demo") -> str:
  """Simulates a preset world (the demo's) into `raw_dir`, joins it into `examples_dir`.

  Args:
    num_impressions: Resize the world (default: the preset's 1.5M).
    oracle: Also write the oracle (the Bayes ceilings need it; speed figures don't).
    quiet: Drop the jobs' output.

  Returns:
    `examples_dir`.
  """
  generate = ["simulation.generate", f"--preset={preset}", f"--output_dir={raw_dir}"]
  if num_impressions is not None:
    generate.append(f"--num_impressions={num_impressions}")
  if not oracle:
    generate.append("--nooracle")
  join = ["pipelines.join_logs", f"--impressions={raw_dir}/impressions/*",
          f"--clicks={raw_dir}/clicks/*", f"--detail_pages={raw_dir}/detail_pages/*",
          f"--output_dir={examples_dir}", "--overwrite"]
  output = subprocess.DEVNULL if quiet else None
  for command in (generate, join):
    subprocess.run([sys.executable, "-m", *command], check=True, stdout=output,
                   stderr=output)
  return examples_dir
