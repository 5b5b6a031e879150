"""The `make evidence` job: trains every task's runs, split between processes, and
merges their figures into benchmarks/evidence.json."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Mapping, Sequence

import tensorflow as tf

import config_flags
from config_flags import knob
from benchmarks import datasets
from benchmarks import results
from benchmarks import teacher_ceiling
from benchmarks import world_sweeps
from benchmarks.evidence import figures
from benchmarks.evidence import registry
from benchmarks.evidence import report
from features import dataset as dataset_lib
from features import input as input_lib
from features import layout
from models import compare
from models import train
from models.training import restore
from models.config import ModelConfig
from simulation import load_oracle, preset


def ensure_dataset(data_dir: str, raw_dir: str, world: str = "demo") -> None:
  """Generates and joins the `world` preset unless `data_dir` is already published."""
  if not tf.io.gfile.exists(os.path.join(data_dir, layout.SUCCESS_FILE)):
    datasets.simulate_and_join(raw_dir, data_dir, oracle=True, quiet=False,
                               preset=world)


def sweep_variants(evidence: registry.TaskEvidence, steps: int
                   ) -> dict[str, ModelConfig]:
  """`<sweep>-<value>` -> its config, for every sweep of the task (`steps`: the
  run's optimizer steps, which a swap fraction is of)."""
  out = {}
  for name, sweep in evidence.sweeps.items():
    for value in sweep.values:
      change = ({"swap_step": int(value * steps)}
                if sweep.field == registry.SWAP_FRACTION
                else {sweep.field: value})
      out[f"{name}-{value:g}"] = dataclasses.replace(sweep.base, **change)
  return out


def sweep_runs(evidence: registry.TaskEvidence, steps: int
               ) -> tuple[dict[str, ModelConfig], dict[str, str]]:
  """(the sweep points to train, point -> the row whose config it is): a point at a
  row's own config (e.g. RQ3's lambda 0.5) reads that row's runs."""
  points = sweep_variants(evidence, steps)
  rows_of = {point: name for point, config in points.items()
             for name, variant in evidence.variants.items() if config == variant}
  return {p: c for p, c in points.items() if p not in rows_of}, rows_of


@dataclasses.dataclass(frozen=True)
class EvidenceJob:
  """Which tasks and seeds, on which world, and where the figures go."""
  data_dir: str = knob("workspace/examples", "The world's dataset (generated from "
                       "--world when not published yet).")
  raw_dir: str = knob("workspace/raw", "Its raw logs and oracle.")
  world: str = knob("demo", "The simulation preset to generate: demo, or evidence "
                    "(simulation/config.py: dense enough for a gain to show).")
  sweep_world: str = knob("sweep", "The preset each world of the world sweeps "
                          "(benchmarks/world_sweeps.py) starts from.")
  work_dir: str = knob("workspace/evidence", "Model directories, under <task>/, "
                       "and the world sweeps' worlds; a finished run there is read, "
                       "not trained again.")
  tasks: tuple[str, ...] = knob(tuple(registry.TASKS), "Tasks to run (the others' "
                                "figures stay).")
  seeds: tuple[int, ...] = knob((0, 1, 2), "Seeds.")
  sweep_seeds: int = knob(2, "How many of --seeds each sweep value runs (the RQ3, "
                          "swap, size and world sweeps).")
  output_dir: str = knob("benchmarks", "Where evidence.* go.")
  parts: tuple[str, ...] = knob(registry.PARTS, "What runs beside the RQ1 rows (TASKS' "
                                "variants and oracle teachers), in this order: "
                                "methods, lr_grid, world_sweeps, sweeps (RQ3, swap, "
                                "size).")
  quick: bool = knob(False, "The RQ1 rows alone: --parts empty.")
  train_missing: bool = knob(True, "Train the runs not finished yet; false: the "
                             "figures of the finished ones alone (after a job was "
                             "stopped).")
  processes: int = knob(1, "Processes that split the runs, each training one at a "
                        "time (a run keeps about one core busy).")
  claims_dir: str = knob("", "Where the processes claim runs (compare.Share); the "
                         "job sets it for the processes it starts, which it marks "
                         "as such.")

  def __post_init__(self):
    config_flags.check_choices("tasks", self.tasks, registry.TASKS, "evidence tasks")
    config_flags.check_choices("parts", self.parts, registry.PARTS, "evidence parts")
    if self.quick:
      object.__setattr__(self, "parts", ())
    if not 1 <= self.sweep_seeds <= len(self.seeds):
      raise ValueError(f"sweep_seeds={self.sweep_seeds} must be in [1, "
                       f"{len(self.seeds)}] (the number of --seeds).")


# A process opens the world's dataset once: its filtered counts (a pass over the split
# each) then serve every part and run.
published = functools.cache(dataset_lib.PublishedDataset.open)


# Validation and eval only score: large batches cost less per example and change no
# metric (train.TrainConfig.eval_batch_size).
EVAL_BATCH_SIZE = 4096


# Epochs per run unless --epochs says (id-embedding models overfit after one).
EPOCHS = 1


def _train_config(evidence: registry.TaskEvidence,
                  overrides: Mapping[str, Any] | None = None) -> train.TrainConfig:
  """EPOCHS, the task's batch size and shuffle, then `overrides` (e.g. the job's
  protocol: models.train's flags given, --batch_size among them)."""
  return train.TrainConfig(**{
      "epochs": EPOCHS, "batch_size": evidence.batch_size,
      "eval_batch_size": EVAL_BATCH_SIZE, "shuffle_buffer": evidence.shuffle_buffer,
      **(overrides or {})})


def run_task(job: EvidenceJob, task: str, protocol: Mapping[str, Any] | None = None,
             share: compare.Share | None = None,
             parts: Sequence[str] | None = None) -> dict[str, float]:
  """Trains the task's variants for every seed, and its `parts` (default: the
  job's); returns its figures.

  Args:
    protocol: TrainConfig overrides every run gets alike (e.g. validation_days,
      early_stopping_patience, learning_rate_grid: models.train's flags), recorded as
      `quality.<task>.protocol.<knob>` where numeric.
    share: Train only this share of the runs and return no figures.
  """
  parts = job.parts if parts is None else parts
  evidence = registry.TASKS[task]
  dataset = published(job.data_dir)
  # What trains: the train split without its validation days, if any.
  train_range, validation_range = train.validation_split(dataset, task, (
      protocol or {}).get("validation_days", train.TrainConfig.validation_days))
  available = input_lib.example_count(dataset, "train", task, train_range)

  def capped(cap: int | None, count: int) -> float:
    return min(1.0, (cap or count) / count)

  train_config = _train_config(evidence, {
      "train_fraction": capped(evidence.train_examples, available),
      # Capped subsets are small: held in memory, later epochs and runs of the
      # process read them there instead of the split.
      "cache_subsets": evidence.train_examples is not None,
      "eval_fraction": capped(evidence.eval_examples,
                              dataset.example_count("eval", task)),
      **({} if validation_range is None else {
          "validation_fraction": capped(evidence.validation_examples,
                                        input_lib.example_count(
                                            dataset, "train", task,
                                            validation_range))}),
      **(protocol or {})})
  work_dir = os.path.join(job.work_dir, task)
  oracle_dir = os.path.join(job.raw_dir, "oracle")
  sweep_seeds = job.seeds[:job.sweep_seeds]
  run = functools.partial(compare.run_variants, dataset, work_dir, share=share,
                          train_missing=job.train_missing)
  rows = run(dict(evidence.variants), job.seeds, train_config)
  if evidence.oracle_teachers:
    oracle = load_oracle(oracle_dir)
    rows += teacher_ceiling.run(dataset, work_dir, oracle, job.seeds,
                                evidence.variants["pfd"], train_config, share,
                                job.train_missing)
  if "methods" in parts:
    rows += run({f"method.{name}": config
                 for name, config in evidence.methods.items()}, job.seeds, train_config)
  if "sweeps" in parts:
    steps = train_config.epochs * (train_config.steps_per_epoch or -(-int(
        available * train_config.train_fraction) // train_config.batch_size))
    points, rows_of = sweep_runs(evidence, steps)
    rows += run(points, sweep_seeds, train_config)
    rows += [{**row, "mode": point} for point, name in rows_of.items() for row in rows
             if row["mode"] == name and row["seed"] in sweep_seeds]
    for size in evidence.sizes:
      if size <= available:
        rows += run({f"{registry.SIZE_SWEEP_NAME}-{size}-{name}":
                     evidence.variants[name]
                     for name in (evidence.baseline, "pfd")}, sweep_seeds,
                    dataclasses.replace(train_config, train_fraction=size / available))
  tuned = {}
  if registry.LR_GRID_NAME in parts and evidence.tuned:
    tuned = tune_learning_rates(job, task, train_config, share)
  if share is not None:
    return {}
  extra = {f"quality.{task}.protocol.{name}": float(getattr(train_config, name))
           for name in ("epochs", "batch_size", "validation_days",
                        "early_stopping_patience", "train_fraction",
                        "validation_fraction", "eval_fraction")}
  extra[f"quality.{task}.protocol.learning_rate"] = (
      evidence.variants[evidence.baseline].learning_rate)
  extra[f"quality.{task}.protocol.sweep_seeds"] = float(job.sweep_seeds)
  if evidence.oracle_teachers:
    extra[f"quality.{task}.soft_label_noise_kept"] = (
        teacher_ceiling.soft_label_noise_kept(oracle))
  if evidence.sizes and "sweeps" in parts:
    extra[f"quality.{task}.{registry.SIZE_SWEEP_NAME}.available"] = float(available)
  ceilings = compare.load_ceilings(oracle_dir, task)
  return {**figures.figures(rows, ceilings, task), **extra, **tuned,
          **figures.sweep_figures(rows, task),
          **figures.delong_figures(work_dir, task, job.seeds,
                           {(r["mode"], r["seed"]) for r in rows})}


def tune_learning_rates(job: EvidenceJob, task: str, train_config: train.TrainConfig,
                        share: compare.Share | None = None) -> dict[str, float]:
  """The lr_grid part (TaskEvidence.tuned): per tuned variant, on the first seed, a
  run at each rate of LR_GRID beside its own (`lr_grid.<variant>.<rate>`; its own is
  its RQ1 run, read, not trained again), and the rate whose run validates best: its
  figures `quality.<task>.lr_grid.<variant>.chosen` and `.<rate>` (each rate's
  validation AUC), for the runs finished (none with a `share`). What
  `--learning_rate_grid` would choose, without training the row's own rate twice."""
  if not train_config.validation_days:
    raise ValueError(f"The {registry.LR_GRID_NAME} part chooses on validation: set "
                     "--validation_days (make evidence's EVIDENCE_PROTOCOL does).")
  evidence, work_dir = registry.TASKS[task], os.path.join(job.work_dir, task)
  seed = job.seeds[0]
  out = {}
  for name in evidence.tuned:
    config = evidence.variants[name]
    runs = {name: config, **{
        f"{registry.LR_GRID_NAME}.{name}.{rate:g}": dataclasses.replace(
            config, learning_rate=rate)
        for rate in registry.LR_GRID if rate != config.learning_rate}}
    rows = compare.run_variants(published(job.data_dir), work_dir, runs, [seed],
                                train_config, share=share,
                                train_missing=job.train_missing)
    if share is not None or {row["mode"] for row in rows} != runs.keys():
      continue
    aucs = {}
    for run, run_config in runs.items():
      path = os.path.join(work_dir, f"{run}-seed{seed}", restore.METRICS_FILE)
      with tf.io.gfile.GFile(path) as f:
        aucs[run_config.learning_rate] = json.load(f)["validation"]["auc"]
    prefix = f"quality.{task}.{registry.LR_GRID_NAME}.{name}"
    out[f"{prefix}.chosen"] = max(aucs, key=aucs.get)
    out.update({f"{prefix}.{rate:g}": auc for rate, auc in aucs.items()})
  return out


def run_world_sweeps(job: EvidenceJob, protocol: Mapping[str, Any] | None = None,
                     share: compare.Share | None = None) -> dict[str, float]:
  """The world sweeps' figures (benchmarks/world_sweeps.py) for the task they are of,
  with its batch size and shuffle and the job's `protocol` (as run_task's); with a
  `share`, its worlds alone, no figures."""
  train_config = _train_config(registry.TASKS[world_sweeps.TASK], protocol)
  out = {}
  for name, sweep in world_sweeps.WORLD_SWEEPS.items():
    out.update(world_sweeps.run_sweep(
        name, sweep, preset(job.sweep_world),
        os.path.join(job.work_dir, "world_sweeps"), job.seeds[:job.sweep_seeds],
        train_config, share=share, train_missing=job.train_missing))
  return {} if share is not None else out


def _wait_for_dataset(data_dir: str, poll_seconds: float = 10.0) -> None:
  """Until the job's first process has published `data_dir` (it builds the world
  while the others start on theirs)."""
  parent = os.getppid()
  while not tf.io.gfile.exists(os.path.join(data_dir, layout.SUCCESS_FILE)):
    if os.getppid() != parent:
      raise RuntimeError(f"The job's first process ended before publishing "
                         f"{data_dir!r}.")
    time.sleep(poll_seconds)


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(EvidenceJob)
  start = time.perf_counter()
  cpus = os.cpu_count() or 1
  # Each process's ops on its share of the cores: TF's default pool spans them all,
  # and the processes' pools then contend.
  tf.config.threading.set_intra_op_parallelism_threads(max(1, cpus // job.processes))
  # models.train's protocol flags, alike for every run (the job's own win).
  protocol = config_flags.explicit(train.TrainConfig)
  # Each process claims the next run not yet claimed (compare.Share), from a
  # directory on this machine that the first process makes for the job.
  claims_dir = job.claims_dir or (tempfile.mkdtemp(prefix="evidence-claims-")
                                  if job.processes > 1 else "")
  share = compare.Share(claims_dir) if claims_dir else None

  def train_share() -> None:
    # The RQ1 rows first, then each part in turn: a job stopped early has the most
    # basic figures' runs; a run or world goes to one process whichever part it is
    # met in (Share.take by its directory).
    for part in ("rq1", *job.parts):
      if part == "world_sweeps":
        run_world_sweeps(job, protocol, share)
        continue
      for task in job.tasks:
        run_task(job, task, protocol, share, parts=() if part == "rq1" else (part,))

  if job.claims_dir:  # A process the first one started: its share, then done.
    if "world_sweeps" in job.parts and not tf.io.gfile.exists(
        os.path.join(job.data_dir, layout.SUCCESS_FILE)):
      # While the first process builds the world.
      run_world_sweeps(job, protocol, share)
    _wait_for_dataset(job.data_dir)
    train_share()
    return
  others = [subprocess.Popen([sys.executable, "-m", "benchmarks.evidence",
                              *sys.argv[1:], f"--claims_dir={claims_dir}"])
            for _ in range(1, job.processes)]
  ensure_dataset(job.data_dir, job.raw_dir, job.world)
  if share is not None:
    train_share()
  for index, process in enumerate(others, 1):
    if process.wait():
      raise RuntimeError(f"Evidence process {index} of the {job.processes - 1} it "
                         f"started failed (exit status {process.returncode}); its "
                         "finished runs are kept, a rerun trains the rest.")
  if claims_dir:
    shutil.rmtree(claims_dir)
  path = os.path.join(job.output_dir, "evidence.json")
  dataset = published(job.data_dir)
  for task in job.tasks:
    results.update_results(path, {**run_task(job, task, protocol),
                                  **figures.world_figures(dataset, task)})
  if "world_sweeps" in job.parts:
    results.update_results(path, run_world_sweeps(job, protocol))
  if job.train_missing:  # A pass over finished runs alone times no job.
    results.update_results(path, {"quality.job.seconds": time.perf_counter() - start,
                                  "quality.job.processes": float(job.processes),
                                  "quality.job.cpus": float(cpus)})
  report.render(job.output_dir)
