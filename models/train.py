r"""Training job: teacher and student on a published dataset, metrics.json at the end.

    python -m models.train --data_dir=workspace/examples --model_dir=workspace/models/pfd \
      --task=cvr --mode=pfd --lambda_value=0.5 --swap_step=0 --epochs=3

Writes under --model_dir: TensorBoard scalars (both losses, lambda, both heads'
metrics), per-epoch checkpoints, BackupAndRestore state (a preempted run resumes),
final/weights (the trained model, which export/ restores), eval_scores.npz (eval
labels and each head's scores, for paired tests between runs) and metrics.json: eval
AUC, logloss, calibration and GAUC (by the spec's user feature) per head, an AUC per
evaluation slice of the spec (`<head>_<slice>_auc`), and the configuration.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import sys
import time
from typing import Any, Callable, Sequence

from absl import app
from absl import logging
import numpy as np
import tensorflow as tf

import config_flags
from config_flags import knob
from features import dataset as dataset_lib
from features import input as input_lib
from features import spec as spec_lib
from models import distillation
from models import metrics as metrics_lib
from models import strategies
from models.config import Mode, ModelConfig

METRICS_FILE = "metrics.json"
SCORES_FILE = "eval_scores.npz"  # Labels and per-head eval scores (`read_scores`).
FINAL_WEIGHTS = os.path.join("final", "weights")  # What export/ restores.
STAGE1_DIR = "stage1_teacher"  # two_stage: the teacher's stage.


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How long and how a run trains (the model's own knobs are in ModelConfig)."""
  batch_size: int = knob(512, "Global batch size.")
  epochs: int = knob(3, "Epochs (per stage for two_stage).")
  steps_per_epoch: int | None = knob(None, "Cap on steps per epoch.")
  # The join job writes each split user by user (the heaviest clickers first, the
  # users who never click last), so a shuffle window much smaller than the split
  # leaves whole stretches of an epoch without a click: set it to the split's size
  # for one epoch.
  shuffle_buffer: int = knob(10_000, "Train records shuffled together (the split's "
                             "size: a full shuffle).")
  teacher_epochs: int | None = knob(None, "two_stage: the teacher's epochs (default: "
                                    "--epochs).")
  seed: int = knob(0, "Random seed.")
  strategy: str = knob("default", f"tf.distribute strategy, one of "
                       f"{strategies.STRATEGIES}; the cluster of multi_worker and "
                       "parameter_server comes from TF_CONFIG.")
  ps_min_shard_bytes: int = knob(256 << 10, "parameter_server: variables are split "
                                 "over the parameter servers in shards of at least "
                                 "this many bytes.")
  deterministic: bool = knob(False, "Op determinism and ordered input.")

  def __post_init__(self):
    strategies.check_name(self.strategy)
    if self.batch_size < 1 or self.epochs < 1:
      raise ValueError(f"batch_size and epochs must be >= 1, got {self.batch_size}, "
                       f"{self.epochs}.")


def _callbacks(model_dir: str) -> list[tf.keras.callbacks.Callback]:
  return [
      tf.keras.callbacks.TensorBoard(os.path.join(model_dir, "tensorboard")),
      tf.keras.callbacks.ModelCheckpoint(
          os.path.join(model_dir, "checkpoints", "epoch-{epoch:03d}"),
          save_weights_only=True),
      tf.keras.callbacks.BackupAndRestore(os.path.join(model_dir, "backup")),
  ]


_SAVED_EPOCH = "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"  # BackupAndRestore's.


def _backed_up_epochs(backup_dir: str) -> int:
  """How many epochs the BackupAndRestore state in `backup_dir` holds (0: none)."""
  for directory in (os.path.join(backup_dir, "chief"), backup_dir):
    path = tf.train.latest_checkpoint(directory)
    if path:
      reader = tf.train.load_checkpoint(path)
      if reader.has_tensor(_SAVED_EPOCH):
        return int(reader.get_tensor(_SAVED_EPOCH)) + 1
  return 0


def _draw_passes(train_data: tf.data.Dataset, passes: int) -> None:
  """Starts (and drops) `passes` passes over `train_data`.

  Each pass draws the next shuffle of the shards and records; a run resumed from a
  backup (or past a finished stage) must draw the shuffles of the epochs it skips, or
  its remaining epochs would see the first epochs' orders again. (A DatasetCreator's
  workers repeat their shards: their passes are not epochs.)
  """
  if not isinstance(train_data, tf.data.Dataset):
    return
  for _ in range(passes):
    iter(train_data)


def _fit(model, train_data, steps_per_epoch: int | None, epochs: int, model_dir: str):
  _draw_passes(train_data, _backed_up_epochs(os.path.join(model_dir, "backup")))
  model.train_function = None  # Frozen flags may have changed: trace again.
  # verbose: a bar for people, lines for logs.
  return model.fit(train_data, epochs=epochs, steps_per_epoch=steps_per_epoch,
                   callbacks=_callbacks(model_dir),
                   verbose=1 if sys.stdout.isatty() else 2)


def _in_slice(values: np.ndarray, top_fraction: float) -> np.ndarray:
  """`[n]` bool: the values in the top `top_fraction` (ties at the cut included)."""
  if not len(values):
    return np.zeros([0], bool)
  return values >= np.quantile(values, 1 - top_fraction)


def evaluate(model: distillation.DistillationModel, eval_data: tf.data.Dataset,
             scores_path: str | None = None) -> dict[str, Any]:
  """Per head: Keras metrics, GAUC by the spec's user feature, and an AUC per
  evaluation slice of the spec, `{head}_{slice}_auc`.

  Args:
    model: Its `spec` names the user feature and the slices.
    eval_data: `(features, labels)` batches whose features hold the user and slice
      features beside the heads' inputs (`make_dataset`'s default features do).
    scores_path: Also write the labels and each head's scores there (`read_scores`),
      for paired tests between runs on the same eval examples.
  """
  spec = model.spec
  if isinstance(model.distribute_strategy, tf.distribute.ParameterServerStrategy):
    # Keras's evaluation on the workers would skip this model's test_step (its exact
    # visitation runs the compiled loss instead): the chief runs it over the split.
    model.reset_metrics()
    step = tf.function(model.test_step)
    for batch in eval_data:
      logs = step(batch)
    results = {k: float(v) for k, v in logs.items()}
  else:
    results = {k: float(v) for k, v in model.evaluate(eval_data, return_dict=True,
                                                      verbose=0).items()}
  wanted = [spec.user_feature] + [s.feature for s in spec.slices]
  labels, columns, scores = [], {name: [] for name in wanted}, {}
  for features, batch_labels in eval_data:
    labels.append(batch_labels.numpy())
    for name in wanted:
      columns[name].append(features[name].numpy())
    for head, p in model.predict_step((features, batch_labels)).items():
      scores.setdefault(head, []).append(p.numpy())
  labels = np.concatenate(labels)
  columns = {name: np.concatenate(values) for name, values in columns.items()}
  slices = {s.name: _in_slice(columns[s.feature], s.top_fraction) for s in spec.slices}
  for head, head_scores in scores.items():
    head_scores = np.concatenate(head_scores)
    results[f"{head}_gauc"] = metrics_lib.group_auc(labels, head_scores,
                                                    columns[spec.user_feature])
    for name, rows in slices.items():
      results[f"{head}_{name}_auc"] = metrics_lib.auc(labels[rows], head_scores[rows])
  results["eval_examples"] = int(len(labels))
  results["eval_positives"] = int(labels.sum())
  if scores_path:
    buffer = io.BytesIO()
    np.savez(buffer, labels=labels, **{head: np.concatenate(values)
                                       for head, values in scores.items()})
    tf.io.gfile.makedirs(os.path.dirname(scores_path))
    with tf.io.gfile.GFile(scores_path, "wb") as f:
      f.write(buffer.getvalue())
  return results


def read_scores(model_dir: str) -> dict[str, np.ndarray]:
  """A finished run's eval labels and head scores: {"labels", "student", ...}, in the
  eval split's order (the same for every run on one dataset)."""
  with tf.io.gfile.GFile(os.path.join(model_dir, SCORES_FILE), "rb") as f:
    with np.load(io.BytesIO(f.read()), allow_pickle=False) as arrays:
      return dict(arrays)


ModelBuilder = Callable[[spec_lib.FeatureSpec, str, ModelConfig],
                       distillation.DistillationModel]


def train_and_evaluate(dataset: str | dataset_lib.PublishedDataset, model_dir: str,
                       model_config: ModelConfig, train_config: TrainConfig,
                       build_model: ModelBuilder = distillation.DistillationModel
                       ) -> dict[str, Any]:
  """Trains per `model_config.mode`, evaluates on the eval split, writes metrics.json.

  Args:
    dataset: A PublishedDataset, or the directory of one; `model_config.task` must
      be a task of its spec.
    build_model: `(spec, data_dir, config) -> model`; a subclass serves diagnostics
      (benchmarks/teacher_ceiling.py replaces the teacher by the simulator's oracle).

  Returns:
    What metrics.json holds.
  """
  cluster = strategies.make(train_config.strategy, train_config.ps_min_shard_bytes)
  tf.keras.utils.set_random_seed(train_config.seed)
  if train_config.deterministic:
    tf.config.experimental.enable_op_determinism()
  dataset = dataset_lib.published(dataset)
  task = model_config.task

  def train_batches(batch_size: int, input_context=None) -> tf.data.Dataset:
    return input_lib.make_dataset(
        dataset, "train", task, batch_size, shuffle=True,
        shuffle_buffer=train_config.shuffle_buffer, seed=train_config.seed,
        deterministic=train_config.deterministic, repeat=input_context is not None,
        input_context=input_context)

  train_data = cluster.distribute(train_batches, train_config.batch_size)
  # Workers that repeat their shards have no epochs of their own: an epoch is then
  # the split's number of batches.
  steps_per_epoch = train_config.steps_per_epoch or (
      -(-dataset.example_count("train", task) // train_config.batch_size)
      if cluster.coordinated else None)
  eval_data = cluster.data_sharded(input_lib.make_dataset(
      dataset, "eval", task, train_config.batch_size, shuffle=False,
      deterministic=True))
  with cluster.strategy.scope():
    model = build_model(dataset.spec, dataset.data_dir, model_config)
    model.compile(optimizer=tf.keras.optimizers.Adam(model_config.learning_rate))
    model.build_from_batch(next(iter(eval_data))[0])
  start = time.perf_counter()
  if model_config.mode is Mode.TWO_STAGE:
    # A restarted run whose first stage had finished resumes in the second.
    stage1_dir = os.path.join(model_dir, STAGE1_DIR)
    stage1_weights = os.path.join(stage1_dir, FINAL_WEIGHTS)
    teacher_epochs = train_config.teacher_epochs or train_config.epochs
    model.student_frozen = True
    if tf.io.gfile.exists(f"{stage1_weights}.index"):
      model.load_weights(stage1_weights)
      # The stage's fit drew a pass per epoch plus one: Keras's enumerate_epochs opens
      # an iterator before its epochs and a fresh one for each.
      _draw_passes(train_data, teacher_epochs + 1)
    else:
      _fit(model, train_data, steps_per_epoch, teacher_epochs, stage1_dir)
      model.save_weights(os.path.join(cluster.write_dir(stage1_dir), FINAL_WEIGHTS))
    model.student_frozen, model.teacher_frozen = False, True
  history = _fit(model, train_data, steps_per_epoch, train_config.epochs, model_dir)
  train_seconds = time.perf_counter() - start
  results = {
      "task": task, "mode": model_config.mode.value,
      "model_config": model_config.to_dict(),
      "train_config": dataclasses.asdict(train_config),
      "train_seconds": train_seconds,
      "train_steps": int(model.optimizer.iterations.numpy()),
      # Per epoch this process ran (a resumed run: those after the restart).
      "history": {name: [float(v) for v in values]
                  for name, values in history.history.items()},
      "eval": evaluate(model, eval_data, os.path.join(
          cluster.write_dir(model_dir), SCORES_FILE)),
  }
  # Every worker saves (the save is collective); the chief's copy is the run's.
  model.save_weights(os.path.join(cluster.write_dir(model_dir), FINAL_WEIGHTS))
  if cluster.is_chief:
    with tf.io.gfile.GFile(os.path.join(model_dir, METRICS_FILE), "w") as f:
      f.write(json.dumps(results, indent=2, sort_keys=True))
  cluster.remove_scratch(model_dir)
  return results


@dataclasses.dataclass(frozen=True)
class TrainJob:
  """What one run of this job reads and writes."""
  data_dir: str = knob(help="A dataset published by pipelines.join_logs.")
  model_dir: str = knob(help="Where checkpoints, TensorBoard and metrics.json go.")
  task: str = knob(help="A task of the dataset's spec (its feature_spec.json); its "
                   "model_defaults hold where no model flag is given.")


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(TrainJob)
  train_config = config_flags.from_flags(TrainConfig)
  if train_config.strategy == "parameter_server":
    strategies.serve_if_a_server()  # A worker or parameter server serves the chief.
  dataset = dataset_lib.PublishedDataset.open(job.data_dir)
  # The task's spec model_defaults (what it deploys) hold unless a flag is given.
  model_config = ModelConfig.for_task(dataset.spec, job.task,
                                      **config_flags.explicit(ModelConfig))
  results = train_and_evaluate(dataset, job.model_dir, model_config, train_config)
  logging.info("Eval: %s", json.dumps(results["eval"], sort_keys=True))
  print(json.dumps(results["eval"], indent=2, sort_keys=True))


if __name__ == "__main__":
  config_flags.define(TrainJob, required=["data_dir", "model_dir", "task"])
  config_flags.define(ModelConfig)
  config_flags.define(TrainConfig)
  app.run(main)
