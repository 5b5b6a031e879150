"""The daily study's job: joins each world's days once, trains every arm day after
day for every seed (finished runs are read), and merges the figures into
benchmarks/evidence.json."""

from __future__ import annotations

import dataclasses
import os
import posixpath
import subprocess
import sys
from typing import Iterator, Sequence

import tensorflow as tf

import config_flags
import roc
from config_flags import knob
from benchmarks import results
from benchmarks.daily_evidence import figures
from benchmarks.daily_evidence import worlds
from features import dataset as dataset_lib
from features import input as input_lib
from features import layout
from features import spec as spec_lib
from models import train
from models.config import Mode, ModelConfig
from models.training import evaluation
from models.training import run_directory
from simulation import preset, simulate
from workflow import daily
from workflow import train_view

_LOGS = ("impressions", "clicks", "detail_pages")
# Each day's join in this process, as the daily run's tests run it.
_PIPELINE_ARGS = ("--runner=FnApiRunner",)


@dataclasses.dataclass(frozen=True)
class DailyEvidenceJob:
  """Which worlds and arms, how big, and where the runs and figures go."""
  worlds: tuple[str, ...] = knob(tuple(worlds.WORLDS), "Worlds to run.")
  seeds: tuple[int, ...] = knob((0, 1, 2), "Seeds; arms are paired by seed and day.")
  window_days: int = knob(3, "The from-scratch arm trains on the last N days.")
  churn_days: int = knob(10, "Days of the churn world (the `daily` preset).")
  churn_impressions_per_day: int = knob(20_000, "Its impressions a day (the "
                                        "preset's density).")
  kuairand_raw_dir: str = knob("workspace/kuairand/raw", "KuaiRand's logs, a file "
                               "per day (make kuairand's); converted from "
                               "--kuairand_data_dir when absent.")
  kuairand_data_dir: str = knob("../shared/data/kuairand", "KuaiRand's files; "
                                "neither there: its world is skipped.")
  work_dir: str = knob("workspace/daily_evidence", "Days, views and runs, under "
                       "<world>/; a finished run there is read, not trained again.")
  output_dir: str = knob("benchmarks", "Where evidence.json and EVIDENCE.md are.")
  epochs: int = knob(1, "Passes over a model's days.")
  batch_size: int = knob(256, "Batch size of every arm.")
  shuffle_buffer: int = knob(100_000, "Train records shuffled together (a day's "
                             "examples are written user by user).")
  embedding_dim: int = knob(8, "Embedding width of every arm.")
  hidden: tuple[int, ...] = knob((64, 32), "Student and teacher MLP widths.")
  tower_dim: int = knob(16, "Two-tower heads' width.")

  def __post_init__(self):
    config_flags.check_choices("worlds", self.worlds, worlds.WORLDS, "daily worlds")
    if self.window_days < 1:
      raise ValueError(f"--window_days must be >= 1, got {self.window_days}.")


def configs(job: DailyEvidenceJob, spec: spec_lib.FeatureSpec, task: str, mode: Mode,
            seed: int, warm_start_from: str | None
            ) -> tuple[ModelConfig, train.TrainConfig]:
  """An arm's model and training of one day (benchmarks/daily.py times the same)."""
  return (ModelConfig.for_task(spec, task, mode=mode, embedding_dim=job.embedding_dim,
                               student_hidden=job.hidden, teacher_hidden=job.hidden,
                               tower_dim=job.tower_dim),
          train.TrainConfig(batch_size=job.batch_size, epochs=job.epochs,
                            shuffle_buffer=job.shuffle_buffer, seed=seed,
                            warm_start_from=warm_start_from))


def _world_dir(job: DailyEvidenceJob, world: worlds.World) -> str:
  """A world's work directory; the churn world's names its size, so that another
  size never reads its days."""
  if world.name == worlds.CHURN:
    return os.path.join(job.work_dir, f"{world.name}-{job.churn_days}d-"
                        f"{job.churn_impressions_per_day}")
  return os.path.join(job.work_dir, world.name)


def raw_logs(job: DailyEvidenceJob, world: worlds.World) -> str | None:
  """The world's logs (made if absent), or None (said) where KuaiRand's are not
  there to make."""
  if world.name == worlds.CHURN:
    raw_dir = os.path.join(_world_dir(job, world), "raw")
    if not tf.io.gfile.exists(os.path.join(raw_dir, "impressions")):
      simulate(dataclasses.replace(
          preset("daily"), n_days=job.churn_days,
          num_impressions=job.churn_days * job.churn_impressions_per_day),
          raw_dir, with_oracle=False)
    return raw_dir
  if tf.io.gfile.exists(os.path.join(job.kuairand_raw_dir, "impressions")):
    return job.kuairand_raw_dir
  if not tf.io.gfile.exists(job.kuairand_data_dir):
    print(f"daily_evidence: neither KuaiRand's logs at {job.kuairand_raw_dir!r} nor "
          f"its files at {job.kuairand_data_dir!r} (make kuairand converts them): "
          "its world is skipped.", flush=True)
    return None
  # A job of its own: examples/ sits beside benchmarks/ in the layers.
  subprocess.run([sys.executable, "-m", "examples.kuairand.convert",
                  f"--data_dir={job.kuairand_data_dir}",
                  f"--output_dir={job.kuairand_raw_dir}"], check=True)
  return job.kuairand_raw_dir


def log_dates(raw_dir: str) -> list[str]:
  """The days with an impression file (`impressions-YYYY-MM-DD.jsonl.gz`)."""
  names = tf.io.gfile.listdir(os.path.join(raw_dir, "impressions"))
  return sorted(name[len("impressions-"):][:len("YYYY-MM-DD")] for name in names)


def join_days(job: DailyEvidenceJob, world: worlds.World, raw_dir: str
              ) -> tuple[str, list[str]]:
  """Each day's dataset, joined once on the day before's state (workflow.daily's
  join); returns the daily root and the days."""
  root = os.path.join(_world_dir(job, world), "daily")
  spec = (spec_lib.load_spec_file(world.spec_file) if world.spec_file
          else spec_lib.DEFAULT_SPEC)
  dates = log_dates(raw_dir)
  for date in dates:
    daily.join_day(daily.DailyConfig(
        **{log: f"{raw_dir}/{log}/{log}-{{date}}.jsonl.gz" for log in _LOGS},
        root=root, export_base=os.path.join(root, "serving"), task=world.task,
        feature_spec=spec, date=date), date, _PIPELINE_ARGS)
  return root, dates


def _view(root: str, dates: Sequence[str], day: int, window: int
          ) -> dataset_lib.PublishedDataset:
  """The view training on the `window` days up to `day` and tested on the next
  (built once)."""
  view_dir = posixpath.join(root, "views", f"{window}d", dates[day])
  if not tf.io.gfile.exists(posixpath.join(view_dir, layout.SUCCESS_FILE)):
    train_view.build(daily.dataset_dir(root, dates[day]),
                     daily.dataset_dir(root, dates[day + 1]), view_dir,
                     [daily.dataset_dir(root, d) for d in dates[day - window + 1:day]])
  return dataset_lib.PublishedDataset.open(view_dir)


def _arm_runs(job: DailyEvidenceJob, world: worlds.World, root: str,
              dates: Sequence[str], arm: worlds.Arm, seed: int
              ) -> Iterator[figures.DayRun]:
  """The arm's model of every day it trains, tested on the next day: warm arms
  continue the day before's model from the first day on; the window arm starts
  where a whole window is there."""
  window = 1 if arm.warm else job.window_days
  previous = None
  for day in range(window - 1, len(dates) - 1):
    view = _view(root, dates, day, window)
    model_config, train_config = configs(job, view.spec, world.task, arm.mode, seed,
                                         previous)
    run_dir = os.path.join(_world_dir(job, world), "runs", f"{arm.name}-seed{seed}",
                           dates[day])
    result = (run_directory.finished_run(run_dir, model_config, train_config,
                                         view.binding(world.task))
              or train.train_and_evaluate(view, run_dir, model_config, train_config,
                                          overwrite=True))
    scores = evaluation.read_scores(run_dir)
    run = figures.DayRun(
        arm.name, seed, day + 1, roc.auc(scores["labels"], scores["student"]),
        result["train_seconds"],
        job.epochs * input_lib.example_count(view, layout.TRAIN, world.task),
        scores["labels"], scores["student"])
    print(f"daily_evidence: {world.name} {arm.name} seed {seed} {dates[day]}: next-day "
          f"AUC {run.auc:.4f}, {run.train_seconds:.1f} s", flush=True)
    if arm.warm:
      previous = run_dir
    yield run


def run_world(job: DailyEvidenceJob, world: worlds.World, raw_dir: str
              ) -> dict[str, float]:
  """Joins the world's days, trains every arm and seed, returns its figures."""
  root, dates = join_days(job, world, raw_dir)
  if len(dates) < job.window_days + 1:
    raise ValueError(f"{world.name} has {len(dates)} days; a {job.window_days}-day "
                     "window and a next day to test on need at least "
                     f"{job.window_days + 1}.")
  runs = [run for seed in job.seeds for arm in worlds.ARMS
          for run in _arm_runs(job, world, root, dates, arm, seed)]
  examples = [_view(root, dates, day, 1).report.examples(layout.TRAIN)
              for day in range(len(dates) - 1)]
  return figures.figures(world.name, runs, window_days=job.window_days,
                         epochs=job.epochs, num_days=len(dates),
                         examples_day=sum(examples) / len(examples))


def run(job: DailyEvidenceJob) -> None:
  """Every world's figures into evidence.json (replacing its earlier ones), then
  the report."""
  path = os.path.join(job.output_dir, "evidence.json")
  for name in job.worlds:
    world = worlds.WORLDS[name]
    raw_dir = raw_logs(job, world)
    if raw_dir is not None:
      results.update_results(path, run_world(job, world, raw_dir),
                             replace_prefix=figures.prefix(name))
  # EVIDENCE.md holds every section; benchmarks.evidence renders it (and this one).
  from benchmarks.evidence import report  # pylint: disable=g-import-not-at-top
  report.render(job.output_dir)


def main(argv: Sequence[str]) -> None:
  del argv
  run(config_flags.from_flags(DailyEvidenceJob))
