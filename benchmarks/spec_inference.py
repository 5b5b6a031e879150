"""How long `features.infer_spec` takes to propose a spec from 1M impressions.

* spec.infer_s_1m: wall seconds of `infer_spec.infer_spec` (sampling 1M impression
  lines and the world's detail-page lines, proposing, rendering and validating) plus
  `infer_spec.write`, in process, on the demo world resized to 1M impressions.
  Simulating that world is not timed. Goal: <= 30 s on 2 cores.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time

from features import infer_spec
from simulation import preset, simulate

NUM_IMPRESSIONS = 1_000_000


def measure(num_impressions: int = NUM_IMPRESSIONS) -> dict[str, float]:
  with tempfile.TemporaryDirectory() as tmp:
    raw_dir = os.path.join(tmp, "raw")
    simulate(dataclasses.replace(preset("demo"), num_impressions=num_impressions),
             raw_dir, with_oracle=False)
    start = time.perf_counter()
    inferred = infer_spec.infer_spec(f"{raw_dir}/impressions/*",
                                     f"{raw_dir}/detail_pages/*",
                                     sample_lines=num_impressions)
    infer_spec.write(inferred, os.path.join(tmp, "spec.yaml"))
    wall_s = time.perf_counter() - start
  if inferred.impressions.lines != num_impressions:
    raise RuntimeError(f"sampled {inferred.impressions.lines:,} impression lines, "
                       f"expected {num_impressions:,}: the figure would not be the "
                       "one defined.")
  return {"spec.infer_s_1m": wall_s}


if __name__ == "__main__":
  print(measure())
