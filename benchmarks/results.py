"""benchmarks/results.json: one flat JSON object of named figures, merged run by run."""

from __future__ import annotations

import json
from typing import Mapping

import tensorflow as tf


def update_results(path: str, figures: Mapping[str, float],
                   replace_prefix: str | None = None) -> dict[str, float]:
  """Merges `figures` into the JSON object at `path` (created if absent); with
  `replace_prefix`, its figures under that prefix are dropped first, so that a
  figure no longer computed does not outlive the run that last wrote it."""
  results = {}
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      results = json.load(f)
  if replace_prefix is not None:
    results = {k: v for k, v in results.items() if not k.startswith(replace_prefix)}
  results.update(figures)
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(json.dumps(results, indent=2, sort_keys=True) + "\n")
  return results
