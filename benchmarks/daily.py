"""What a day costs on the daily path, against a full join over every day and a
from-scratch train on a window of days.

On a 10-day churn world (the `daily` preset, `IMPRESSIONS_PER_DAY` a day),
each join runs as a separate process on the local FnApiRunner with 2 workers
(`beam_throughput.RUNNER_ARGS`), as the other join figures do:

* daily.full_join_s: wall time of the full join of the 10 days.
* daily.join_s_day: wall time of the daily join of the last day
  (`pipelines.join_logs --date --state_from`), on the state the daily joins of the
  days before carried from a backfill (a full join of the first 6 days with
  --write_state); those joins are not timed.
* daily.join_s_day_over_full: their ratio.
* daily.join_s_day_over_one_day: the daily join of the last day over a full join of
  that day's files alone (no history): a day costs O(day), not O(history), when
  this stays near 1. The job's fixed cost (starting the runner and its workers,
  writing the metadata) is paid by every join, so the first ratio falls towards
  1 / 10 only as a day grows.

The daily datasets then train, in this process, the daily study's small PFD model
(benchmarks/daily_evidence: one epoch), each tested on the next day:

* daily.train_s_day_warm: the train seconds (models.train's `train_seconds`: the
  fit, not the eval) of the model of day 9 of 10 on that day alone, warm-started
  from the model of day 8.
* daily.train_s_window_scratch: the same model from scratch on the `WINDOW_DAYS`
  days up to day 9 (workflow.train_view's window).
* daily.train_s_day_warm_over_window_scratch: their ratio. The window trains
  WINDOW_DAYS times the examples, but at this size a run's fixed cost (building and
  tracing the model; for the warm run also restoring and remapping yesterday's) is
  most of its time, so the ratio falls towards 1 / WINDOW_DAYS only as days grow.
"""

from __future__ import annotations

import os
import sys
import tempfile

from benchmarks import beam_throughput
from benchmarks import process_monitor
from benchmarks import results
from benchmarks.daily_evidence import runner as daily_evidence
from features import dataset as dataset_lib
from models import train
from models.config import Mode
from workflow import train_view

RESULTS_FILE = "benchmarks/results.json"
DAYS = 10
# A day large enough that its join's fixed cost (starting the runner and its workers,
# writing the metadata) is not most of its time, as a production day's is not.
IMPRESSIONS_PER_DAY = 200_000
WINDOW_DAYS = 3
TASK = "ctr"
# The daily joins after the backfill: the window, the warm start's day and the last.
_DAILY_DAYS = WINDOW_DAYS + 1
_LOGS = ("impressions", "clicks", "detail_pages")


def _generate(raw_dir: str, log_dir: str) -> None:
  process_monitor.run_and_measure(
      [sys.executable, "-m", "simulation.generate", "--preset=daily",
       f"--n_days={DAYS}", f"--num_impressions={DAYS * IMPRESSIONS_PER_DAY}",
       f"--output_dir={raw_dir}", "--nooracle"],
      os.path.join(log_dir, "generate.log"))


def _linked(raw_dir: str, out_dir: str, days: slice) -> str:
  """`out_dir` with links to the log files of `days` (in file name order)."""
  for log in _LOGS:
    os.makedirs(os.path.join(out_dir, log))
    for name in sorted(os.listdir(os.path.join(raw_dir, log)))[days]:
      os.symlink(os.path.join(raw_dir, log, name), os.path.join(out_dir, log, name))
  return out_dir


def _join_s(log_path: str, *flags: str) -> float:
  return process_monitor.run_and_measure(
      [sys.executable, "-m", "pipelines.join_logs", *flags,
       *beam_throughput.RUNNER_ARGS], log_path).wall_s


def _globs(raw_dir: str, file_glob: str) -> list[str]:
  return [f"--{log}={raw_dir}/{log}/{file_glob}" for log in _LOGS]


def _train_s(day_dirs: list[str], next_day_dir: str, view_dir: str,
             warm_start_from: str | None = None) -> float:
  """Trains the daily study's PFD model on `day_dirs` (the last day's view, the
  others its window) tested on `next_day_dir`; its train seconds."""
  view = dataset_lib.PublishedDataset.open(
      train_view.build(day_dirs[-1], next_day_dir, view_dir, day_dirs[:-1]))
  model_config, train_config = daily_evidence.configs(
      daily_evidence.DailyEvidenceJob(), view.spec, TASK, Mode.PFD, 0, warm_start_from)
  return train.train_and_evaluate(view, os.path.join(view_dir, "model"), model_config,
                                  train_config)["train_seconds"]


def measure() -> dict[str, float]:
  with tempfile.TemporaryDirectory() as tmp:
    raw_dir = os.path.join(tmp, "raw")
    _generate(raw_dir, tmp)
    dates = daily_evidence.log_dates(raw_dir)
    full_s = _join_s(os.path.join(tmp, "full.log"), *_globs(raw_dir, "*"),
                     f"--output_dir={tmp}/full")
    one_day_s = _join_s(
        os.path.join(tmp, "one_day.log"),
        *_globs(_linked(raw_dir, os.path.join(tmp, "last_day"), slice(-1, None)), "*"),
        f"--output_dir={tmp}/one_day")
    state = os.path.join(tmp, "backfill")
    _join_s(os.path.join(tmp, "backfill.log"), *_globs(_linked(
        raw_dir, os.path.join(tmp, "first_days"), slice(-_DAILY_DAYS)), "*"),
            f"--output_dir={state}", "--write_state")
    days = []
    for date in dates[-_DAILY_DAYS:]:
      days.append(os.path.join(tmp, "days", date))
      day_s = _join_s(os.path.join(tmp, f"{date}.log"),
                      *(f"--{log}={raw_dir}/{log}/{log}-{{date}}.jsonl.gz"
                        for log in _LOGS),
                      f"--output_dir={days[-1]}", f"--date={date}",
                      f"--state_from={state}")
      state = days[-1]
    # The model of day 8 (untimed), which day 9's continues.
    yesterday = os.path.join(tmp, "views", "yesterday")
    _train_s(days[-3:-2], days[-2], yesterday)
    warm_s = _train_s(days[-2:-1], days[-1], os.path.join(tmp, "views", "warm"),
                      os.path.join(yesterday, "model"))
    window_s = _train_s(days[-1 - WINDOW_DAYS:-1], days[-1],
                        os.path.join(tmp, "views", "window"))
  return {"daily.full_join_s": full_s, "daily.join_s_day": day_s,
          "daily.join_s_day_over_full": day_s / full_s,
          "daily.join_s_day_over_one_day": day_s / one_day_s,
          "daily.train_s_day_warm": warm_s, "daily.train_s_window_scratch": window_s,
          "daily.train_s_day_warm_over_window_scratch": warm_s / window_s}


if __name__ == "__main__":
  figures = measure()
  results.update_results(RESULTS_FILE, figures, replace_prefix="daily.")
  print(figures)
