"""A run's directory: what it holds, what it was asked for, and whether a run of
given configs may train into it, resumes there, or is finished there."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import tensorflow as tf

from features import dataset as dataset_lib
from models.config import ModelConfig
from models.training import evaluation
from models.training.restore import METRICS_FILE
from models.training.train_config import TrainConfig

STAGE1_DIR = "stage1_teacher"  # two_stage: the teacher's stage.
CANDIDATES_DIR = "candidates"  # A grid's runs, one subdirectory each.

# What the run was asked for and on which data, written before it trains: a killed
# run's directory says what it held.
RUN_CONFIG_FILE = "run_config.json"
# What a run writes into its directory (the one that first holds a run of older code,
# which wrote no RUN_CONFIG_FILE, too).
_RUN_ENTRIES = (RUN_CONFIG_FILE, METRICS_FILE, evaluation.SCORES_FILE, "final",
                "backup", "checkpoints", "tensorboard", STAGE1_DIR, CANDIDATES_DIR)


def _requested(model_config: ModelConfig, train_config: TrainConfig) -> dict[str, Any]:
  """The configs a run was asked for (a grid's, not the chosen ones), as JSON holds
  them."""
  return json.loads(json.dumps({"model_config": model_config.to_dict(),
                                "train_config": dataclasses.asdict(train_config)}))


def run_record(model_config: ModelConfig, train_config: TrainConfig,
                binding: dataset_lib.DataBinding) -> dict[str, Any]:
  """What a run records of itself, in RUN_CONFIG_FILE and metrics.json alike."""
  return {"requested": _requested(model_config, train_config),
          "data": binding.to_dict()}


def read_json(path: str) -> dict[str, Any] | None:
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def _difference(record: dict[str, Any], model_config: ModelConfig,
                train_config: TrainConfig,
                binding: dataset_lib.DataBinding | None) -> tuple[str, Any, Any] | None:
  """The first difference between a recorded run and these configs and data: (what,
  its value there, its value here), or None.

  A knob added since the run was recorded counts at its default, the value the run
  had; a run recorded before runs recorded their data (no `data`), or a `binding`
  of None, compares the configs alone.
  """
  if binding is not None and "data" in record:
    mismatch = dataset_lib.DataBinding.from_dict(record["data"]).mismatch(binding)
    if mismatch:
      return mismatch
  wanted, stored = _requested(model_config, train_config), record.get("requested", {})
  defaults = _requested(ModelConfig(task=model_config.task), type(train_config)())
  for part in wanted:
    if part not in stored:
      return part, "not recorded", "given"
    removed = sorted(stored[part].keys() - wanted[part].keys())  # Knobs gone since.
    if removed:
      return f"{part}.{removed[0]}", stored[part][removed[0]], None
    for name, value in wanted[part].items():
      if stored[part].get(name, defaults[part][name]) != value:
        return f"{part}.{name}", stored[part].get(name, defaults[part][name]), value
  return None


def finished_run(model_dir: str, model_config: ModelConfig, train_config: TrainConfig,
                 binding: dataset_lib.DataBinding | None = None
                 ) -> dict[str, Any] | None:
  """The metrics.json of a finished run in `model_dir` asked for exactly these
  configs (and, with `binding`, on data that may stand in for it:
  DataBinding.mismatch), or None: a job that reruns (after a preemption, or split
  between processes) reads it instead of training again. A knob added since the run
  was recorded counts at its default, the value the run had."""
  results = read_json(os.path.join(model_dir, METRICS_FILE))
  if results is None or _difference(results, model_config, train_config, binding):
    return None
  return results


def model_dir_conflict(model_dir: str, model_config: ModelConfig,
                       train_config: TrainConfig, binding: dataset_lib.DataBinding
                       ) -> str | None:
  """Why a run of these configs on this data may not train into `model_dir` as it
  is (one line naming the directory, what differs and the fix), or None: it is new,
  empty, or holds a killed run of the same configs and data, which resumes.

  Refused: a run of another config or data (its checkpoints would restore into
  another model), a finished run (training again would silently replace it), a run
  that recorded no RUN_CONFIG_FILE (of older code: what it was is unknown), and
  files no run writes.
  """
  if not tf.io.gfile.isdir(model_dir):
    return None
  entries = sorted(name.rstrip("/") for name in tf.io.gfile.listdir(model_dir))
  if not entries:
    return None
  finished = read_json(os.path.join(model_dir, METRICS_FILE))
  record = finished or read_json(os.path.join(model_dir, RUN_CONFIG_FILE))
  if record is None:
    if set(entries) & set(_RUN_ENTRIES):
      return (f"--model_dir={model_dir!r} holds a run that recorded no "
              f"{RUN_CONFIG_FILE} (older code): its config is unknown; pass "
              "--overwrite to remove it first, or choose another --model_dir.")
    return (f"--model_dir={model_dir!r} holds files no models.train run writes (e.g. "
            f"{entries[0]!r}): choose a new or empty --model_dir.")
  difference = _difference(record, model_config, train_config, binding)
  if difference:
    what, there, here = difference
    return (f"--model_dir={model_dir!r} holds a run of another config: {what} is "
            f"{there!r} there, {here!r} now; choose another --model_dir, or pass "
            "--overwrite to remove that run first.")
  if finished:
    return (f"--model_dir={model_dir!r} holds a finished run of this config (its "
            f"{METRICS_FILE}): read it, or pass --overwrite to train it again.")
  return None


def prepare_model_dir(model_dir: str, record: dict[str, Any], conflict: str | None,
                       overwrite: bool, is_chief: bool) -> None:
  """Refuses `conflict` unless `overwrite`, with which the chief removes the run the
  directory holds, whatever it was (never files no run writes); the chief then
  records this run (RUN_CONFIG_FILE)."""
  if not overwrite and conflict:
    raise ValueError(conflict)
  entries = ({name.rstrip("/") for name in tf.io.gfile.listdir(model_dir)}
             if tf.io.gfile.isdir(model_dir) else set())
  if overwrite and entries:
    if not entries & set(_RUN_ENTRIES):
      raise ValueError(conflict)
    if is_chief:
      tf.io.gfile.rmtree(model_dir)
  if is_chief:
    tf.io.gfile.makedirs(model_dir)
    with tf.io.gfile.GFile(os.path.join(model_dir, RUN_CONFIG_FILE), "w") as f:
      f.write(json.dumps(record, indent=2, sort_keys=True))
