r"""Training job: teacher and student on a published dataset, metrics.json at the end.

    python -m models.train --data_dir=workspace/examples --model_dir=workspace/models/pfd \
      --task=cvr --mode=pfd --lambda_value=0.5 --swap_step=0 --epochs=3

Writes under --model_dir: TensorBoard scalars (both losses, lambda, both heads'
metrics), per-epoch checkpoints, BackupAndRestore state (a preempted run resumes),
final/weights (the trained model, which export/ restores), eval_scores.npz (eval
labels and each head's scores, for paired tests between runs) and metrics.json: eval
AUC, logloss, calibration and GAUC (by the spec's user feature) per head, an AUC per
evaluation slice of the spec (`<head>_<slice>_auc`), the configuration, and the data
the model is bound to (`data`: features.dataset.DataBinding).

A run writes run_config.json first: a --model_dir holding a run of another config
(task, mode, any knob, another spec or other vocabularies), or a finished run, is
refused unless --overwrite removes it; a killed run of the same config resumes.

A fair protocol (--validation_days=1): the train split's last UTC day validates
instead of training; --early_stopping_patience stops on its AUC and keeps the best
epoch; --learning_rate_grid and --lambda_value=auto (from --lambda_grid, 0 included)
train one candidate each under candidates/ and ship the best on validation. With
--steps_per_epoch an epoch is a block of steps over a repeating input (each pass a new
shuffle), so validation and early stopping check every that many steps.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from typing import Any, Callable, Sequence

import tensorflow as tf

import cli
import config_flags
from config_flags import knob
from features import dataset as dataset_lib
from features import input as input_lib
from features import spec as spec_lib
from features import time_split
from models import distillation
from models import losses
from models.training import evaluation
from models.training import run_directory
from models.training import selection
from models.training import stages
from models.training import strategies
from models.training import warm_start
from models.config import Mode, ModelConfig
# What a run writes that its readers (export/, a warm start) restore.
from models.training.restore import FINAL_WEIGHTS, METRICS_FILE
from models.training.train_config import TrainConfig


def validation_split(dataset: dataset_lib.PublishedDataset, task: str, days: int
                     ) -> tuple[input_lib.TimeRange | None, input_lib.TimeRange | None]:
  """(What trains, what validates): with `days`, the train split without its last
  `days` UTC days, and those days; else (None, None), the whole split trains.

  Raises:
    ValueError: The run report does not record where the train split ends, or one
      of the two holds no example of `task`.
  """
  if not days:
    return None, None
  end = dataset.report.eval_start_ms
  if end is None:
    raise ValueError(f"validation_days needs the end of the train split, which the run "
                     f"report of {dataset.data_dir!r} does not record (eval_start_ms): "
                     "publish the dataset again with pipelines.join_logs.")
  # The last `days` UTC days before eval's start, as the join chose eval's days.
  start = time_split.eval_start_ms(end - 1, days)
  train_range, validation_range = (0, start), (start, end)
  for what, time_range in (("train on", train_range),
                           ("validate on", validation_range)):
    if not input_lib.example_count(dataset, "train", task, time_range):
      raise ValueError(f"validation_days={days} leaves no example of task {task!r} to "
                       f"{what} in the train split of {dataset.data_dir!r}.")
  return train_range, validation_range


def train_base_rate(dataset: dataset_lib.PublishedDataset, task: str) -> float:
  """The train split's positive rate of `task`, as the run report counts it: its
  label's positives over its examples (a clicked-only task's: over the clicks).
  The whole split's, validation days included: a constant, the rate a model
  without features would predict.

  Raises:
    ValueError: The split holds no positive or no negative of the task.
  """
  examples = dataset.example_count("train", task)
  positives = dataset.report.positives("train", dataset.spec.task(task).label)
  if not 0 < positives < examples:
    raise ValueError(f"Mode {Mode.SMOOTH.value!r} mixes the train split's positive rate "
                     f"of task {task!r} into the targets, but the run report of "
                     f"{dataset.data_dir!r} counts {positives} positives in {examples} "
                     "examples: pass --smoothing_base_rate.")
  return positives / examples


def _with_base_rate(dataset: dataset_lib.PublishedDataset, model_config: ModelConfig
                    ) -> ModelConfig:
  """`model_config`, in mode smooth with its smoothing_base_rate set (the train
  split's, `train_base_rate`, unless given): the model is built with the number,
  which metrics.json's model_config records (the requested config keeps None)."""
  if not model_config.mode.smooths_labels or model_config.smoothing_base_rate is not None:
    return model_config
  return dataclasses.replace(model_config, smoothing_base_rate=train_base_rate(
      dataset, model_config.task))


ModelBuilder = Callable[[spec_lib.FeatureSpec, str, ModelConfig],
                       distillation.DistillationModel]


def train_and_evaluate(dataset: str | dataset_lib.PublishedDataset, model_dir: str,
                       model_config: ModelConfig, train_config: TrainConfig,
                       build_model: ModelBuilder = distillation.DistillationModel,
                       overwrite: bool = False) -> dict[str, Any]:
  """Trains per `model_config.mode`, evaluates on the eval split, writes metrics.json.

  With `train_config.validation_days`, the train split's last days validate each
  epoch (and early stopping follows them); with grids (lambda_value=auto,
  `learning_rate_grid`), each candidate trains in its own directory under
  run_directory.CANDIDATES_DIR and the one with the best validation AUC of the
  shipped head is the run: its config (the chosen numbers) and weights, and the eval
  split, read once, for it alone.

  Args:
    dataset: A PublishedDataset, or the directory of one; `model_config.task` must
      be a task of its spec.
    build_model: `(spec, data_dir, config) -> model`; a subclass serves diagnostics
      (benchmarks/teacher_ceiling.py replaces the teacher by the simulator's oracle).
    overwrite: Remove the run `model_dir` holds first, instead of refusing a run
      of another config or a finished one (`model_dir_conflict`).

  Returns:
    What metrics.json holds.

  Raises:
    ValueError: `model_dir_conflict` names why `model_dir` is refused.
  """
  run_start = time.perf_counter()
  candidates = selection.candidates(model_config, train_config)
  cluster = strategies.make(train_config.strategy, train_config.ps_min_shard_bytes)
  if train_config.deterministic:
    tf.config.experimental.enable_op_determinism()
  dataset = dataset_lib.published(dataset)
  candidates = [_with_base_rate(dataset, config) for config in candidates]
  task = model_config.task
  binding = dataset.binding(task)
  run_directory.prepare_model_dir(
      model_dir, run_directory.run_record(model_config, train_config, binding),
      run_directory.model_dir_conflict(model_dir, model_config, train_config, binding),
      overwrite, cluster.is_chief)
  train_range, validation_range = validation_split(dataset, task,
                                                    train_config.validation_days)

  # A ranking loss trains on whole requests. Eval and validation are read in the
  # split's order (request batches of several shards interleave in another order,
  # which would break paired tests between runs); their ranking loss loses the
  # pairs cut at batch edges, their metrics none.
  by_request = model_config.distillation_loss in losses.REQUEST_LOSSES

  def train_batches(batch_size: int, input_context=None, *, seed: int
                    ) -> tf.data.Dataset:
    return input_lib.make_dataset(
        dataset, "train", task, batch_size, shuffle=True,
        shuffle_buffer=train_config.shuffle_buffer, seed=seed,
        deterministic=train_config.deterministic,
        repeat=input_context is not None or train_config.steps_per_epoch is not None,
        input_context=input_context, time_range=train_range,
        fraction=train_config.train_fraction,
        group_by_request=by_request, cache=train_config.cache_subsets)

  # Workers that repeat their shards have no epochs of their own: an epoch is then
  # the split's number of batches.
  steps_per_epoch = train_config.steps_per_epoch or (
      -(-input_lib.example_count(dataset, "train", task, train_range,
                                 train_config.train_fraction)
        // train_config.batch_size)
      if cluster.repeats(by_request) else None)
  scoring_batch_size = train_config.eval_batch_size or train_config.batch_size
  eval_data = cluster.data_sharded(input_lib.make_dataset(
      dataset, "eval", task, scoring_batch_size, shuffle=False,
      deterministic=True, fraction=train_config.eval_fraction,
      cache=train_config.cache_subsets))
  validation_data = None if validation_range is None else cluster.data_sharded(
      input_lib.make_dataset(dataset, "train", task, scoring_batch_size,
                             shuffle=False, deterministic=True,
                             time_range=validation_range,
                             fraction=train_config.validation_fraction,
                             cache=train_config.cache_subsets))

  def train_stream(stage: int) -> tf.data.Dataset:
    """The train input of the `stage`-th stage (seed + stage: a later stage over an
    endless input reads a stream of its own)."""
    return cluster.distribute(
        functools.partial(train_batches, seed=train_config.seed + stage),
        train_config.batch_size, by_request)

  def train_candidate(config: ModelConfig, run_dir: str) -> selection.Trained:
    # The same seed, data and initialisation for every candidate: lambda 0 is the
    # student alone trained as it would be in its own run.
    tf.keras.utils.set_random_seed(train_config.seed)
    train_data = train_stream(0)
    with cluster.strategy.scope():
      model = build_model(dataset.spec, dataset.data_dir, config)
      model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
      model.build_from_batch(next(iter(
          eval_data if validation_data is None else validation_data))[0])
    if train_config.warm_start_from:
      warm_start.continue_run(train_config.warm_start_from, model)
    history, record = stages.fit_stages(
        model, stages.plan(config.mode, train_config.epochs,
                           train_config.teacher_epochs),
        run_dir, train_data, train_stream, steps_per_epoch, validation_data,
        train_config.early_stopping_patience, cluster.write_dir)
    return selection.Trained(
        model, config, {name: [float(v) for v in values]
                        for name, values in history.history.items()}, record)

  start = time.perf_counter()
  selected = selection.choose(candidates, model_dir, train_candidate)
  chosen = selected.chosen
  model = chosen.model
  train_seconds = time.perf_counter() - start
  results = {
      "task": task, "mode": model_config.mode.value,
      **run_directory.run_record(model_config, train_config, binding),
      # The chosen config's concrete numbers: what export rebuilds the model from.
      "model_config": chosen.config.to_dict(),
      "train_config": dataclasses.asdict(train_config),
      "train_seconds": train_seconds,
      "train_steps": int(model.optimizer.iterations.numpy()),
      # Per epoch this process ran (a resumed run: those after the restart).
      "history": chosen.history,
      "eval": evaluation.evaluate(model, eval_data, os.path.join(
          cluster.write_dir(model_dir), evaluation.SCORES_FILE)),
  }
  if validation_data is not None:
    results["validation"] = {
        "days": train_config.validation_days, "time_range_ms": list(validation_range),
        "examples": input_lib.example_count(dataset, "train", task, validation_range,
                                            train_config.validation_fraction),
        **chosen.validation}
  if len(candidates) > 1:
    results["selection"] = selected.record()
  # Every worker saves (the save is collective); the chief's copy is the run's.
  model.save_weights(os.path.join(cluster.write_dir(model_dir), FINAL_WEIGHTS))
  results["run_seconds"] = time.perf_counter() - run_start  # Eval and saves too.
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
  overwrite: bool = knob(False, "Remove the run --model_dir holds first; without it, "
                         "a run of another config or data, or a finished run, is "
                         "refused (a killed run of the same config resumes).")


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
  results = train_and_evaluate(dataset, job.model_dir, model_config, train_config,
                               overwrite=job.overwrite)
  print(json.dumps(results["eval"], indent=2, sort_keys=True))


if __name__ == "__main__":
  config_flags.define(TrainJob, required=["data_dir", "model_dir", "task"])
  config_flags.define(ModelConfig)
  config_flags.define(TrainConfig)
  cli.run(main)
