r"""Trains several modes on one dataset and tabulates them beside the Bayes ceilings.

    python -m models.compare --data_dir=workspace/examples \
      --oracle_dir=workspace/raw/oracle --work_dir=workspace/models

By default every mode trains under the tuned protocol (`tuned_protocol`): each
chooses its learning rate from the same grid on validation, checked and early
stopped several times a pass, so that no arm wins by the one learning rate suiting
it better. `--fast` keeps the train flags as given (`make demo`'s): quicker, and
said to be no fair comparison under the table.

What `make demo` prints at the end, and what `make evidence` repeats over seeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Collection, Mapping, Sequence

import numpy as np
import tensorflow as tf

import cli
import config_flags
from config_flags import knob
from features import dataset as dataset_lib
from features import input as input_lib
from features import spec as spec_lib
from models import distillation
from models import train
from models.training import run_directory
from models.config import HeadRole, Mode, ModelConfig

DEFAULT_MODES = (Mode.STUDENT, Mode.PFD, Mode.TEACHER, Mode.LUPI)
# What a PFD gain is checked against, each a student gain without the
# privileged information: md (a teacher of the same architecture on the regular
# features: model distillation), smooth (softer targets, no teacher) and
# pfd_permuted (PFD with the privileged features cut from their examples).
CONTROL_MODES = (Mode.MD, Mode.SMOOTH, Mode.PFD_PERMUTED)
# A row's flag, not a metric: summarize leaves it out.
FIRST_CHECK = "best_at_first_check"
FIRST_CHECK_NOTE = ("* best at its first check (some seed's kept weights are its "
                    "first validation's): it may want a lower learning rate or finer "
                    "checks (--steps_per_epoch).")


def best_at_first_check(validation: Mapping[str, Any] | None) -> bool:
  """Whether a run's kept weights are from its first validation check of several
  (metrics.json's `validation`): it may have overfitted within its first epoch, so
  that an arm that merely learns slower (softer targets) would beat it."""
  if not validation:
    return False
  # Runs recorded before `checks` was: the checks of their last process.
  checks = validation.get("checks", len(validation.get("auc_per_epoch", [])))
  return validation.get("kept_epoch") == 1 and checks > 1


def flagged_modes(rows: Sequence[dict[str, Any]]) -> set[str]:
  """The modes with a row (a seed) whose kept weights are its first check's."""
  return {row["mode"] for row in rows if row.get(FIRST_CHECK)}


# The tuned protocol: every arm, baseline and controls alike, gets these.
TUNED_LEARNING_RATES = (0.0005, 0.001, 0.002)
CHECKS_PER_PASS = 4  # Validations (early stopping checks) per pass over the train days.
FAST_NOTE = ("--fast: not a fair comparison (one learning rate, epoch-level "
             "stopping); without it each mode chooses its learning rate on validation.")


def tuned_protocol(train_config: train.TrainConfig, batches_per_pass: int
                   ) -> train.TrainConfig:
  """`train_config` under the tuned protocol: what it leaves at its default gets the
  protocol's (what it sets is kept).

  With an arm overfitting within its first epoch, one learning rate and checks a
  pass apart favour whichever arm learns slower (softer targets): each arm instead
  chooses from `TUNED_LEARNING_RATES` on the train split's last day
  (`validation_days` 1), validated `CHECKS_PER_PASS` times a pass
  (`steps_per_epoch`; `epochs` scaled to the same number of steps), and stops after
  a pass without a better check (`early_stopping_patience`), keeping the best.

  Args:
    batches_per_pass: Train batches in one pass over the train days (those before
      the validation days).
  """
  config = dataclasses.replace(
      train_config, validation_days=train_config.validation_days or 1,
      learning_rate_grid=train_config.learning_rate_grid or TUNED_LEARNING_RATES)
  if config.steps_per_epoch is None:
    steps = max(1, -(-batches_per_pass // CHECKS_PER_PASS))

    def checks(epochs: int | None) -> int | None:
      return epochs and -(-epochs * batches_per_pass // steps)

    config = dataclasses.replace(config, steps_per_epoch=steps,
                                 epochs=checks(config.epochs),
                                 teacher_epochs=checks(config.teacher_epochs))
  return dataclasses.replace(config, early_stopping_patience=(
      config.early_stopping_patience or -(-batches_per_pass // config.steps_per_epoch)))


def tune(train_config: train.TrainConfig, dataset: dataset_lib.PublishedDataset,
         task: str) -> train.TrainConfig:
  """`tuned_protocol` for `task` on `dataset`: a pass counted over the train days
  that do not validate (and `train_fraction`)."""
  train_range, _ = train.validation_split(dataset, task,
                                          train_config.validation_days or 1)
  examples = input_lib.example_count(dataset, "train", task, train_range,
                                     train_config.train_fraction)
  return tuned_protocol(train_config, -(-examples // train_config.batch_size))


def format_protocol(train_config: train.TrainConfig) -> str:
  """One line under the table: how `tuned_protocol`'s config tuned each mode."""
  return (f"protocol: each mode's learning rate chosen from "
          f"{', '.join(f'{r:g}' for r in train_config.learning_rate_grid)} on the "
          f"last {train_config.validation_days} train day(s), checked every "
          f"{train_config.steps_per_epoch} steps, stopped after "
          f"{train_config.early_stopping_patience} checks without a better one "
          f"(at most {train_config.epochs})")


def head_metrics(spec: spec_lib.FeatureSpec) -> list[tuple[str, str]]:
  """(metric, column header) per head metric the table shows: the spec's evaluation
  slices sit between GAUC and calibration (evaluation.evaluate names them)."""
  return [("auc", "AUC"), ("gauc", "GAUC"),
          *((f"{s.name}_auc", f"AUC, {s.name}") for s in spec.slices),
          ("calibration", "calibration")]


@dataclasses.dataclass
class Share:
  """One process's share of a job's runs, when several processes split them.

  Every process enumerates the same runs in the same order, and a run goes to the
  first process that claims it: a directory made under `claims_dir` (os.mkdir is
  atomic on one machine's file system). A process that ends its runs early takes
  the next one instead of idling while another still has a queue of its own, as a
  fixed deal in turn would leave it. Runs already finished are read, whoever's
  they were.
  """
  claims_dir: str
  claimed: set[str] = dataclasses.field(default_factory=set)

  def take(self, key: str) -> bool:
    """Whether the run named `key` (its directory) is this process's; a key it
    claimed before (e.g. one world that two sweeps share) stays its own."""
    if key in self.claimed:
      return True
    try:
      os.mkdir(os.path.join(self.claims_dir,
                            hashlib.sha256(key.encode()).hexdigest()))
    except FileExistsError:
      return False
    self.claimed.add(key)
    return True


def run_variants(dataset: str | dataset_lib.PublishedDataset, work_dir: str,
                 variants: Mapping[str, ModelConfig], seeds: Sequence[int],
                 train_config: train.TrainConfig,
                 build_model: train.ModelBuilder = distillation.DistillationModel,
                 share: Share | None = None, train_missing: bool = True
                 ) -> list[dict[str, Any]]:
  """One training run per (variant, seed): a row of eval metrics per run.

  A run whose directory holds a finished run of the same configs on the same data
  is read, not trained again (run_directory.finished_run); a killed one resumes. A run of
  other configs or data there is an earlier job's, stale for this one: it is
  removed and trained again (train.train_and_evaluate's overwrite).

  Args:
    dataset: A PublishedDataset, or the directory of one (opened once for all runs).
    variants: Row name -> model config, e.g. two PFD runs with different teachers.
      The name goes into the rows' "mode" and the run directory's name.
    build_model: Builds every variant's model (see train.train_and_evaluate).
    share: Train only this process's share of the runs; the others' rows are
      left out unless finished.
    train_missing: False: train nothing, the finished runs' rows alone.
  """
  dataset = dataset_lib.published(dataset)
  metrics = [metric for metric, _ in head_metrics(dataset.spec)]
  rows = []
  for seed in seeds:
    for name, model_config in variants.items():
      run_dir = os.path.join(work_dir, f"{name}-seed{seed}")
      seeded = dataclasses.replace(train_config, seed=seed)
      mine = (share is None or share.take(run_dir)) and train_missing
      binding = dataset.binding(model_config.task)
      results = run_directory.finished_run(run_dir, model_config, seeded, binding)
      if results is None and not mine:
        continue
      if results is None:
        stale = run_directory.model_dir_conflict(run_dir, model_config, seeded, binding)
        results = train.train_and_evaluate(dataset, run_dir, model_config, seeded,
                                           build_model, overwrite=stale is not None)
      row = {"mode": name, "seed": seed, "train_seconds": results["train_seconds"]}
      if "validation" in results:
        row[FIRST_CHECK] = best_at_first_check(results["validation"])
      for head in (role.value for role in HeadRole):
        for metric in metrics:
          key = f"{head}_{metric}"
          if key in results["eval"]:
            row[key] = results["eval"][key]
      rows.append(row)
  return rows


def run_modes(dataset: str | dataset_lib.PublishedDataset, work_dir: str,
              modes: Sequence[Mode], seeds: Sequence[int], model_config: ModelConfig,
              train_config: train.TrainConfig) -> list[dict[str, Any]]:
  """One training run per (mode, seed); returns a row of eval metrics per run."""
  return run_variants(dataset, work_dir, {
      mode.value: dataclasses.replace(model_config, mode=mode) for mode in modes},
                      seeds, train_config)


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, tuple[float, float]]]:
  """mode -> metric -> (mean, std over seeds); not the FIRST_CHECK flag
  (`flagged_modes`)."""
  by_mode: dict[str, dict[str, list[float]]] = {}
  for row in rows:
    for key, value in row.items():
      if key not in ("mode", "seed", FIRST_CHECK):
        by_mode.setdefault(row["mode"], {}).setdefault(key, []).append(value)
  return {mode: {k: (float(np.mean(v)), float(np.std(v))) for k, v in metrics.items()}
          for mode, metrics in by_mode.items()}


def paired_gain(rows: Sequence[dict[str, Any]], mode: str, baseline: str, metric: str
                ) -> np.ndarray:
  """Per seed: `mode`'s `metric` minus the baseline's, same seed (seed order)."""
  by_seed = {(r["mode"], r["seed"]): r for r in rows}
  seeds = sorted({r["seed"] for r in rows if r["mode"] == mode})
  return np.array([by_seed[(mode, s)][metric] - by_seed[(baseline, s)][metric]
                   for s in seeds])


@dataclasses.dataclass(frozen=True)
class PrivilegedShare:
  """What of PFD's student gain over the student alone no control gives.

  Attributes:
    control: The control mode whose mean gain over the student is the largest.
    seeds: The seeds every mode of the comparison ran, ascending.
    per_seed: [len(seeds)] (PFD - student) - (control - student), seed by seed.
  """
  control: str
  seeds: tuple[int, ...]
  per_seed: np.ndarray


def privileged_share(rows: Sequence[dict[str, Any]], metric: str = "student_auc",
                     arm: str = Mode.PFD.value) -> PrivilegedShare | None:
  """`arm`'s gain in `metric` over the student (default: PFD's) minus the largest
  control's, paired by seed; None unless the student, `arm` and every CONTROL_MODES
  ran on a common seed.

  The largest control is the one with the largest mean gain, then subtracted seed by
  seed: a per-seed maximum over the controls would add the largest of their noises
  to the controls and so bias the share down.
  """
  needed = [Mode.STUDENT.value, arm, *(m.value for m in CONTROL_MODES)]
  seeds = set.intersection(*({row["seed"] for row in rows
                              if row["mode"] == mode and metric in row}
                             for mode in needed))
  if not seeds:
    return None
  common = [row for row in rows if row["seed"] in seeds]
  gains = {mode: paired_gain(common, mode, Mode.STUDENT.value, metric)
           for mode in needed[1:]}
  control = max(needed[2:], key=lambda mode: float(np.mean(gains[mode])))
  return PrivilegedShare(control, tuple(sorted(seeds)),
                         gains[arm] - gains[control])


def format_privileged_share(share: PrivilegedShare) -> str:
  """One line under the table: the share's mean ± std over seeds, and its control."""
  return (f"privileged share of PFD's student AUC gain: "
          f"{np.mean(share.per_seed):+.4f} ± {np.std(share.per_seed):.4f} over "
          f"{len(share.seeds)} seed(s) (PFD's gain minus {share.control}'s, the largest "
          f"of the controls {', '.join(m.value for m in CONTROL_MODES)})")


def load_ceilings(oracle_dir: str | None, task: str) -> dict[str, float]:
  """The simulator's Bayes-optimal eval AUCs for the task, if an oracle is at hand."""
  path = oracle_dir and os.path.join(oracle_dir, "summary.json")
  if not path or not tf.io.gfile.exists(path):
    return {}
  with tf.io.gfile.GFile(path) as f:
    auc = json.load(f)["eval"]["auc"]
  # The oracle knows the simulator's tasks only (none for a task a spec adds).
  return {name: auc[f"{task}_{name}"] for name in ("regular", "full")
          if f"{task}_{name}" in auc}


def format_table(summary: dict[str, dict[str, tuple[float, float]]],
                 ceilings: dict[str, float], spec: spec_lib.FeatureSpec,
                 flagged: Collection[str] = ()) -> str:
  """A markdown table: one row per mode and head, mean ± std over seeds.

  Args:
    spec: The dataset's spec: its evaluation slices are columns (`head_metrics`).
    flagged: Modes marked `*`, with FIRST_CHECK_NOTE under the table
      (`flagged_modes`).
  """
  columns = head_metrics(spec)
  lines = ["| mode | head | " + " | ".join(header for _, header in columns) + " |",
           "| --- | --- |" + " --- |" * len(columns)]
  for mode, metrics in summary.items():
    for head in (role.value for role in HeadRole):
      if f"{head}_auc" not in metrics:
        continue
      cells = [f"{metrics[f'{head}_{m}'][0]:.4f} ± {metrics[f'{head}_{m}'][1]:.4f}"
               for m, _ in columns]
      name = f"{mode}*" if mode in flagged else mode
      lines.append(f"| {name} | {head} | " + " | ".join(cells) + " |")
  for name, value in ceilings.items():
    sees = "regular features" if name == "regular" else "regular + privileged"
    # The oracle's AUC is undefined (null) on an eval split without positives.
    cell = "n/a" if value is None else f"{value:.4f}"
    lines.append(f"| Bayes-optimal ({sees}) | oracle | {cell} |"
                 + " |" * (len(columns) - 1))
  if set(flagged) & summary.keys():
    lines += ["", FIRST_CHECK_NOTE]
  return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class CompareJob:
  """What to compare, on which dataset, and where the runs go."""
  data_dir: str = knob(help="A dataset published by pipelines.join_logs.")
  work_dir: str = knob(help="Model directories go here, one per run.")
  task: str = knob(help="A task of the dataset's spec.")
  oracle_dir: str | None = knob(None, "The simulator's oracle/ (for the ceilings).")
  modes: tuple[Mode, ...] = knob(DEFAULT_MODES, "Modes to compare.")
  seeds: tuple[int, ...] = knob((0,), "Seeds, a run per mode each (they replace "
                                "--seed).")
  fast: bool = knob(False, "Train as the train flags say (one learning rate, checks "
                    "a pass apart) instead of the tuned protocol (a learning rate "
                    "grid, several checks a pass: 3 runs a mode): quicker, not a "
                    "fair comparison (make demo's).")


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(CompareJob)
  # Every mode gets the same model knobs (e.g. MD's and PFD's teacher_hidden): the
  # task's model_defaults, then the model flags given.
  overrides = config_flags.explicit(ModelConfig)
  if "mode" in overrides:
    raise ValueError(f"--mode={overrides['mode'].value}: models.compare trains every "
                     "mode of --modes; pass --modes instead.")
  dataset = dataset_lib.PublishedDataset.open(job.data_dir)
  train_config = config_flags.from_flags(train.TrainConfig)
  if not job.fast:
    train_config = tune(train_config, dataset, job.task)
  rows = run_modes(dataset, job.work_dir, job.modes, job.seeds,
                   ModelConfig.for_task(dataset.spec, job.task, **overrides),
                   train_config)
  print(f"\n== {job.task.upper()} on the eval split ==")
  print(format_table(summarize(rows), load_ceilings(job.oracle_dir, job.task),
                     dataset.spec, flagged_modes(rows)))
  print(FAST_NOTE if job.fast else format_protocol(train_config))
  share = privileged_share(rows)
  if share is not None:
    print(format_privileged_share(share))


if __name__ == "__main__":
  config_flags.define(CompareJob, required=["data_dir", "work_dir", "task"])
  config_flags.define(ModelConfig)
  config_flags.define(train.TrainConfig)
  cli.run(main)
