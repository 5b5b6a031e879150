r"""Training job: teacher and student on a published dataset, metrics.json at the end.

    python -m models.train --data_dir=workspace/examples --model_dir=workspace/models/pfd \
      --task=cvr --mode=pfd --lambda_value=0.5 --swap_step=0 --epochs=3

Writes under --model_dir: TensorBoard scalars (both losses, lambda, both heads'
metrics), per-epoch checkpoints, BackupAndRestore state (a preempted run resumes),
final/weights (the trained model, which export/ restores) and metrics.json: eval
AUC, logloss, calibration and GAUC (by the spec's user feature) per head, an AUC per
evaluation slice of the spec (`<head>_<slice>_auc`), and the configuration.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any, Callable, Sequence

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from features import dataset as dataset_lib
from features import input as input_lib
from features import spec as spec_lib
from models import distillation
from models import metrics as metrics_lib
from models.config import Architecture, Mode, ModelConfig

STRATEGIES = ("default", "mirrored")
METRICS_FILE = "metrics.json"
FINAL_WEIGHTS = os.path.join("final", "weights")  # What export/ restores.


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How long and how a run trains (the model's own knobs are in ModelConfig)."""
  batch_size: int = 512
  epochs: int = 3
  steps_per_epoch: int | None = None
  # The join job writes each split user by user (the heaviest clickers first, the
  # users who never click last), so a shuffle window much smaller than the split
  # leaves whole stretches of an epoch without a click: set it to the split's size
  # for one epoch.
  shuffle_buffer: int = 10_000
  teacher_epochs: int | None = None  # Two-stage only; default: epochs.
  seed: int = 0
  strategy: str = "default"
  deterministic: bool = False

  def __post_init__(self):
    if self.strategy not in STRATEGIES:
      raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}.")
    if self.batch_size < 1 or self.epochs < 1:
      raise ValueError(f"batch_size and epochs must be >= 1, got {self.batch_size}, "
                       f"{self.epochs}.")


def make_strategy(name: str) -> tf.distribute.Strategy:
  """`mirrored` uses every local GPU, or every logical CPU device without one."""
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()


def _callbacks(model_dir: str) -> list[tf.keras.callbacks.Callback]:
  return [
      tf.keras.callbacks.TensorBoard(os.path.join(model_dir, "tensorboard")),
      tf.keras.callbacks.ModelCheckpoint(
          os.path.join(model_dir, "checkpoints", "epoch-{epoch:03d}"),
          save_weights_only=True),
      tf.keras.callbacks.BackupAndRestore(os.path.join(model_dir, "backup")),
  ]


def _fit(model, train_data, train_config: TrainConfig, epochs: int, model_dir: str):
  model.train_function = None  # Frozen flags may have changed: trace again.
  model.fit(train_data, epochs=epochs, steps_per_epoch=train_config.steps_per_epoch,
            callbacks=_callbacks(model_dir),
            verbose=1 if sys.stdout.isatty() else 2)  # A bar for people, lines for logs.


def _in_slice(values: np.ndarray, top_fraction: float) -> np.ndarray:
  """`[n]` bool: the values in the top `top_fraction` (ties at the cut included)."""
  if not len(values):
    return np.zeros([0], bool)
  return values >= np.quantile(values, 1 - top_fraction)


def evaluate(model: distillation.DistillationModel, eval_data: tf.data.Dataset
             ) -> dict[str, Any]:
  """Per head: Keras metrics, GAUC by the spec's user feature, and an AUC per
  evaluation slice of the spec, `{head}_{slice}_auc`.

  Args:
    model: Its `spec` names the user feature and the slices.
    eval_data: `(features, labels)` batches whose features hold the user and slice
      features beside the heads' inputs (`make_dataset`'s default features do).
  """
  spec = model.spec
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
  return results


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
  tf.keras.utils.set_random_seed(train_config.seed)
  if train_config.deterministic:
    tf.config.experimental.enable_op_determinism()
  dataset = dataset_lib.published(dataset)
  strategy = make_strategy(train_config.strategy)
  task = model_config.task
  train_data = input_lib.make_dataset(
      dataset, "train", task, train_config.batch_size, shuffle=True,
      shuffle_buffer=train_config.shuffle_buffer, seed=train_config.seed,
      deterministic=train_config.deterministic)
  eval_data = input_lib.make_dataset(dataset, "eval", task, train_config.batch_size,
                                     shuffle=False, deterministic=True)
  with strategy.scope():
    model = build_model(dataset.spec, dataset.data_dir, model_config)
    model.compile(optimizer=tf.keras.optimizers.Adam(model_config.learning_rate))
    model.build_from_batch(next(iter(eval_data))[0])
  start = time.perf_counter()
  if model_config.mode is Mode.TWO_STAGE:
    model.student_frozen = True
    _fit(model, train_data, train_config,
         train_config.teacher_epochs or train_config.epochs,
         os.path.join(model_dir, "stage1_teacher"))
    model.student_frozen, model.teacher_frozen = False, True
  _fit(model, train_data, train_config, train_config.epochs, model_dir)
  train_seconds = time.perf_counter() - start
  results = {
      "task": task, "mode": model_config.mode.value,
      "model_config": model_config.to_dict(),
      "train_config": dataclasses.asdict(train_config),
      "train_seconds": train_seconds,
      "train_steps": int(model.optimizer.iterations.numpy()),
      "eval": evaluate(model, eval_data),
  }
  tf.io.gfile.makedirs(model_dir)
  model.save_weights(os.path.join(model_dir, FINAL_WEIGHTS))
  with tf.io.gfile.GFile(os.path.join(model_dir, METRICS_FILE), "w") as f:
    f.write(json.dumps(results, indent=2, sort_keys=True))
  return results


FLAGS = flags.FLAGS


def _define_flags() -> None:
  """Flags exist only when this module is the program (others import it)."""
  flags.DEFINE_string("data_dir", None, "A dataset published by pipelines.join_logs.")
  flags.DEFINE_string("model_dir", None, "Where checkpoints, TensorBoard and "
                      "metrics.json go.")
  flags.DEFINE_string("task", "cvr", "A task of the dataset's spec (its "
                      "feature_spec.json).")
  flags.DEFINE_enum("mode", "pfd", [m.value for m in Mode], "What to train.")
  flags.DEFINE_float("lambda_value", 0.5, "Distillation weight after the swap step.")
  flags.DEFINE_integer("swap_step", 0, "Lambda is 0 before this step.")
  flags.DEFINE_integer("ramp_steps", 0, "Linear lambda ramp after the swap step.")
  flags.DEFINE_string("distillation_loss", "cross_entropy", "models.losses registry name.")
  flags.DEFINE_float("temperature", 1.0, "Soft-label temperature.")
  flags.DEFINE_list("unshared_vocabularies", None, "Vocabularies the heads do not "
                    "share (default: the task's model_defaults in the spec, else none).")
  flags.DEFINE_list("hash_bins", [], "vocabulary:bins pairs to hash instead of "
                    "look up, e.g. user_id:1000000.")
  flags.DEFINE_integer("embedding_dim", 16, "Embedding width.")
  flags.DEFINE_list("student_hidden", ["128", "64"], "Student MLP widths.")
  flags.DEFINE_list("teacher_hidden", ["128", "64"], "Teacher MLP widths.")
  architectures = [a.value for a in Architecture]
  flags.DEFINE_enum("student_architecture", None, architectures,
                    "Default: the task's model_defaults in the spec, else mlp.")
  flags.DEFINE_enum("teacher_architecture", None, architectures,
                    "Default: the task's model_defaults in the spec, else mlp.")
  flags.DEFINE_integer("cross_layers", ModelConfig.cross_layers,
                       "Cross layers of a dcn head.")
  flags.DEFINE_integer("tower_dim", ModelConfig.tower_dim,
                       "Two-tower heads: width of the unit vectors.")
  flags.DEFINE_float("inner_product_scale", None, "Two-tower heads: logit = scale * "
                     "<u, v>; default: learnt, from 5.")
  flags.DEFINE_bool("item_bias", ModelConfig.item_bias, "Two-tower heads: a per-item "
                    "bias folded into the item vector.")
  flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
  flags.DEFINE_bool("share_student_encoding", False, "The teacher reads the student's "
                    "encoding of the regular features and encodes only the privileged "
                    "ones (a cheaper step).")
  flags.DEFINE_integer("batch_size", 512, "Global batch size.")
  flags.DEFINE_integer("epochs", 3, "Epochs (per stage for two_stage).")
  flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch.")
  flags.DEFINE_integer("shuffle_buffer", TrainConfig.shuffle_buffer, "Train records "
                       "shuffled together (the split's size: a full shuffle).")
  flags.DEFINE_integer("seed", 0, "Random seed.")
  flags.DEFINE_enum("strategy", "default", list(STRATEGIES), "tf.distribute strategy.")
  flags.DEFINE_bool("deterministic", False, "Op determinism and ordered input.")
  flags.mark_flags_as_required(["data_dir", "model_dir"])


def main(argv: Sequence[str]) -> None:
  del argv
  task_defaulted = {name: getattr(FLAGS, name) for name in (
      "student_architecture", "teacher_architecture", "unshared_vocabularies")
                    if getattr(FLAGS, name) is not None}
  dataset = dataset_lib.PublishedDataset.open(FLAGS.data_dir)
  model_config = ModelConfig.for_task(
      dataset.spec, FLAGS.task, mode=FLAGS.mode, embedding_dim=FLAGS.embedding_dim,
      student_hidden=tuple(int(w) for w in FLAGS.student_hidden),
      teacher_hidden=tuple(int(w) for w in FLAGS.teacher_hidden),
      cross_layers=FLAGS.cross_layers, tower_dim=FLAGS.tower_dim,
      inner_product_scale=FLAGS.inner_product_scale, item_bias=FLAGS.item_bias,
      **task_defaulted,
      hash_bins=tuple((name, int(bins)) for name, bins in
                      (pair.split(":") for pair in FLAGS.hash_bins)),
      distillation_loss=FLAGS.distillation_loss, temperature=FLAGS.temperature,
      lambda_value=FLAGS.lambda_value, swap_step=FLAGS.swap_step,
      ramp_steps=FLAGS.ramp_steps, learning_rate=FLAGS.learning_rate,
      share_student_encoding=FLAGS.share_student_encoding)
  train_config = TrainConfig(batch_size=FLAGS.batch_size, epochs=FLAGS.epochs,
                             steps_per_epoch=FLAGS.steps_per_epoch,
                             shuffle_buffer=FLAGS.shuffle_buffer, seed=FLAGS.seed,
                             strategy=FLAGS.strategy, deterministic=FLAGS.deterministic)
  results = train_and_evaluate(dataset, FLAGS.model_dir, model_config, train_config)
  logging.info("Eval: %s", json.dumps(results["eval"], sort_keys=True))
  print(json.dumps(results["eval"], indent=2, sort_keys=True))


if __name__ == "__main__":
  _define_flags()
  app.run(main)
