"""Done-markers: a step of a day is finished when its marker exists.

A step publishes its output atomically first (a rename), then writes its marker,
itself by a rename: a run killed anywhere leaves either no marker (the step runs
again and replaces its partial or published output) or a marker whose output is
published. The marker holds the step's result (JSON), so a re-run reports it
without redoing the step.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any, Callable, Mapping

import tensorflow as tf

MARKERS_DIR = "done"


def path(root: str, date: str, step: str) -> str:
  return posixpath.join(root, MARKERS_DIR, date, f"{step}.json")


def read(root: str, date: str, step: str) -> dict[str, Any] | None:
  """The step's recorded result; None when it has not finished."""
  marker = path(root, date, step)
  if not tf.io.gfile.exists(marker):
    return None
  with tf.io.gfile.GFile(marker) as f:
    return json.load(f)


def write(root: str, date: str, step: str, result: Mapping[str, Any]) -> None:
  marker = path(root, date, step)
  tf.io.gfile.makedirs(posixpath.dirname(marker))
  staging = f"{marker}.tmp"
  with tf.io.gfile.GFile(staging, "w") as f:
    f.write(json.dumps(result, indent=2, sort_keys=True))
  tf.io.gfile.rename(staging, marker, overwrite=True)


def once(root: str, date: str, step: str,
         run: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
  """The step's recorded result, or `run()`'s, recorded."""
  done = read(root, date, step)
  if done is not None:
    return done
  result = dict(run())
  write(root, date, step, result)
  return result
