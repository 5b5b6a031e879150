"""Throughput and memory of the join job on simulated logs, run locally.

Runs `pipelines.join_logs` as a separate process on 100k and 1M simulated impressions,
on the local FnApiRunner in multi-processing mode with 2 workers (`RUNNER_ARGS`): the
setting the figures are defined for, on the 2 cores they are defined for. That mode is
opt-in for the job itself (see `pipelines.join_logs._pipeline_options`). Each run must
reconcile, or the job fails and so does this.

* beam.impressions_per_s: impressions / wall time of the whole job at 1M (start-up,
  join, write, report and publication included).
* beam.impressions_per_s_one_process: the same in one process
  (`--direct_running_mode=in_memory`): what the 2 workers gain over it.
* beam.us_per_impression_cpu: CPU time (user + system) of the default run's process
  tree per impression at 1M: what a run costs, however many cores it spreads over.
* beam.dask_impressions_per_s: the same at 1M on `pipelines.dask_runner.DaskRunner`
  against a dask.distributed LocalCluster of 2 single-threaded worker processes
  (started before the clock, as a standing cluster would be).
* beam.peak_rss_1m_over_100k: peak memory of the job's process tree (the launcher,
  which runs the shuffles, and its workers; see `process_monitor`) at 1M over 100k.
  The local runner holds the shuffled data in memory (on Dataflow the shuffle is a
  service), so this grows with the input even though no DoFn holds more than one
  user's impressions or one vocabulary; shuffled records cross as bytes
  (`pipelines.wire`) to keep that small. Each process's interpreter with Beam (not
  TensorFlow: the job never imports it) is a fixed part of either figure.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import sys
import tempfile
from typing import Sequence

import dask.distributed as ddist

from benchmarks import process_monitor

SIZES = (100_000, 1_000_000)
RUNNER_ARGS = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")
ONE_PROCESS_ARGS = ("--direct_running_mode=in_memory",)


@dataclasses.dataclass(frozen=True)
class _JoinUsage:
  usage: process_monitor.ProcessUsage
  cpu_s: float  # The job's process tree, user + system.


def _children_cpu_s() -> float:
  """CPU time of this process's finished children and their waited descendants."""
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def _generate(num_impressions: int, raw_dir: str, log_dir: str) -> None:
  process_monitor.run_and_measure(
      [sys.executable, "-m", "simulation.generate", "--preset=demo",
       f"--num_impressions={num_impressions}", f"--output_dir={raw_dir}",
       "--nooracle"], os.path.join(log_dir, f"generate_{num_impressions}.log"))


def _join(raw_dir: str, output_dir: str, log_path: str,
          runner_args: Sequence[str] = RUNNER_ARGS) -> _JoinUsage:
  cpu_s = _children_cpu_s()
  usage = process_monitor.run_and_measure(
      [sys.executable, "-m", "pipelines.join_logs",
       f"--impressions={raw_dir}/impressions/*", f"--clicks={raw_dir}/clicks/*",
       f"--detail_pages={raw_dir}/detail_pages/*", f"--output_dir={output_dir}",
       *runner_args],
      log_path)
  return _JoinUsage(usage, _children_cpu_s() - cpu_s)


def _join_on_dask(raw_dir: str, output_dir: str, log_path: str) -> float:
  """The join's wall time on a fresh 2-worker cluster; its workers are not the job's
  process tree, so only the time is a figure."""
  with ddist.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
    return _join(raw_dir, output_dir, log_path,
                 ["--runner=pipelines.dask_runner.DaskRunner",
                  f"--dask_client_address={cluster.scheduler_address}"]).usage.wall_s


def measure(sizes: tuple[int, int] = SIZES) -> dict[str, float]:
  small, large = sizes
  usage = {}
  with tempfile.TemporaryDirectory() as tmp:
    for n in sizes:
      raw_dir = os.path.join(tmp, f"raw_{n}")
      _generate(n, raw_dir, tmp)
      usage[n] = _join(raw_dir, os.path.join(tmp, f"examples_{n}"),
                       os.path.join(tmp, f"join_{n}.log"))
    one_process = _join(os.path.join(tmp, f"raw_{large}"),
                        os.path.join(tmp, "examples_one_process"),
                        os.path.join(tmp, "join_one_process.log"), ONE_PROCESS_ARGS)
    dask_wall_s = _join_on_dask(os.path.join(tmp, f"raw_{large}"),
                                os.path.join(tmp, "examples_dask"),
                                os.path.join(tmp, "join_dask.log"))
  small_usage, large_usage = usage[small].usage, usage[large].usage
  return {
      "beam.impressions_per_s": large / large_usage.wall_s,
      "beam.impressions_per_s_one_process": large / one_process.usage.wall_s,
      "beam.us_per_impression_cpu": usage[large].cpu_s / large * 1e6,
      "beam.dask_impressions_per_s": large / dask_wall_s,
      "beam.wall_s_1m": large_usage.wall_s,
      "beam.peak_rss_mb_100k": small_usage.peak_rss_mb,
      "beam.peak_rss_mb_1m": large_usage.peak_rss_mb,
      "beam.peak_rss_1m_over_100k": large_usage.peak_rss_mb / small_usage.peak_rss_mb,
  }


if __name__ == "__main__":
  print(measure())
