"""Generation throughput of the simulator: impressions written per second, no oracle."""

import dataclasses
import tempfile
import time

import tensorflow as tf  # noqa: F401  (the one-off import is not generation time)

from simulation import config as config_lib
from simulation import simulator


def measure(num_impressions: int = 1_000_000) -> dict[str, float]:
  """Generates the demo world resized to `num_impressions` into a temporary directory.

  Returns:
    {"sim.impressions_per_s": impressions written per wall-clock second}.
  """
  world_config = dataclasses.replace(config_lib.preset("demo"),
                                     num_impressions=num_impressions)
  written = 0

  def count(impressions: int) -> None:
    nonlocal written
    written += impressions

  with tempfile.TemporaryDirectory() as output_dir:
    start = time.perf_counter()
    simulator.simulate(world_config, output_dir, with_oracle=False, on_day=count)
    seconds = time.perf_counter() - start
  return {"sim.impressions_per_s": written / seconds}


if __name__ == "__main__":
  print(measure())
