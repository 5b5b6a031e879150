"""What a day costs on the daily path, against a full join over every day.

On a 10-day churn world (the `daily` preset's density, `IMPRESSIONS_PER_DAY` a day),
each join runs as a separate process on the local FnApiRunner with 2 workers
(`beam_throughput.RUNNER_ARGS`), as the other join figures do:

* daily.full_join_s: wall time of the full join of the 10 days.
* daily.join_s_day: wall time of the daily join of the last day
  (`pipelines.join_logs --date --state_from`), on the state a backfill (a full join
  of the first 9 days with --write_state, not timed) wrote.
* daily.join_s_day_over_full: their ratio.
* daily.join_s_day_over_one_day: the daily join of the last day over a full join of
  that day's files alone (no history): a day costs O(day), not O(history), when
  this stays near 1. The job's fixed cost (starting the runner and its workers,
  writing the metadata) is most of a day's time at this size, so the first ratio
  falls with the size of a day, not with the number of days.
"""

from __future__ import annotations

import os
import sys
import tempfile

from benchmarks import beam_throughput
from benchmarks import process_monitor
from benchmarks import results
from simulation import preset

RESULTS_FILE = "benchmarks/results.json"
DAYS = 10
IMPRESSIONS_PER_DAY = preset("daily").num_impressions // preset("daily").n_days
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


def measure() -> dict[str, float]:
  with tempfile.TemporaryDirectory() as tmp:
    raw_dir = os.path.join(tmp, "raw")
    _generate(raw_dir, tmp)
    last_day = sorted(os.listdir(os.path.join(raw_dir, "impressions")))[-1]
    date = last_day[len("impressions-"):][:len("YYYY-MM-DD")]
    full_s = _join_s(os.path.join(tmp, "full.log"), *_globs(raw_dir, "*"),
                     f"--output_dir={tmp}/full")
    one_day_s = _join_s(
        os.path.join(tmp, "one_day.log"),
        *_globs(_linked(raw_dir, os.path.join(tmp, "last_day"), slice(-1, None)), "*"),
        f"--output_dir={tmp}/one_day")
    backfill = os.path.join(tmp, "backfill")
    _join_s(os.path.join(tmp, "backfill.log"),
            *_globs(_linked(raw_dir, os.path.join(tmp, "first_days"), slice(-1)), "*"),
            f"--output_dir={backfill}", "--write_state")
    day_s = _join_s(os.path.join(tmp, "day.log"),
                    *(f"--{log}={raw_dir}/{log}/{log}-{{date}}.jsonl.gz"
                      for log in _LOGS),
                    f"--output_dir={tmp}/day", f"--date={date}",
                    f"--state_from={backfill}")
  return {"daily.full_join_s": full_s, "daily.join_s_day": day_s,
          "daily.join_s_day_over_full": day_s / full_s,
          "daily.join_s_day_over_one_day": day_s / one_day_s}


if __name__ == "__main__":
  figures = measure()
  results.update_results(RESULTS_FILE, figures, replace_prefix="daily.")
  print(figures)
