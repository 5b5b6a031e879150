"""Throughput and memory of the join job on simulated logs, run locally.

Runs `pipelines.join_logs` as a separate process on Beam's local FnApiRunner in
multi-processing mode with 2 SDK workers (Beam's DirectRunner would first try Prism,
which downloads a binary), on 100k and 1M simulated impressions. Each run must
reconcile, or the job fails and so does this.

* beam.impressions_per_s: impressions / wall time of the whole job at 1M (start-up,
  join, write, report and publication included).
* beam.peak_rss_1m_over_100k: peak memory of the SDK worker processes, where every
  DoFn runs (as on Dataflow workers), at 1M over 100k. Flat when no stage holds a
  whole log in a worker.
* beam.launcher_peak_rss_1m_over_100k: the same for the launching process, which for
  the local runner also holds the shuffled data in memory (a Dataflow launcher does
  not: the shuffle is a service there), so it grows with the input.
"""

from __future__ import annotations

import os
import sys
import tempfile

from benchmarks import process_monitor

SIZES = (100_000, 1_000_000)


def _generate(num_impressions: int, raw_dir: str, log_dir: str) -> None:
  process_monitor.run_and_measure(
      [sys.executable, "-m", "simulation.generate", "--preset=demo",
       f"--num_impressions={num_impressions}", f"--output_dir={raw_dir}",
       "--nooracle"], os.path.join(log_dir, f"generate_{num_impressions}.log"))


def _join(raw_dir: str, output_dir: str, log_path: str
          ) -> process_monitor.ProcessUsage:
  return process_monitor.run_and_measure(
      [sys.executable, "-m", "pipelines.join_logs",
       f"--impressions={raw_dir}/impressions/*", f"--clicks={raw_dir}/clicks/*",
       f"--detail_pages={raw_dir}/detail_pages/*", f"--output_dir={output_dir}",
       "--runner=FnApiRunner", "--direct_running_mode=multi_processing",
       "--direct_num_workers=2"], log_path)


def measure(sizes: tuple[int, int] = SIZES) -> dict[str, float]:
  small, large = sizes
  usage = {}
  with tempfile.TemporaryDirectory() as tmp:
    for n in sizes:
      raw_dir = os.path.join(tmp, f"raw_{n}")
      _generate(n, raw_dir, tmp)
      usage[n] = _join(raw_dir, os.path.join(tmp, f"examples_{n}"),
                       os.path.join(tmp, f"join_{n}.log"))
  figures = {"beam.impressions_per_s": large / usage[large].wall_s,
             "beam.wall_s_1m": usage[large].wall_s}
  for name, field in (("workers", "peak_children_rss_mb"),
                      ("launcher", "peak_root_rss_mb"), ("total", "peak_rss_mb")):
    small_mb, large_mb = (getattr(usage[n], field) for n in sizes)
    figures[f"beam.{name}_peak_rss_mb_100k"] = small_mb
    figures[f"beam.{name}_peak_rss_mb_1m"] = large_mb
    figures[f"beam.{name}_peak_rss_1m_over_100k"] = large_mb / small_mb
  figures["beam.peak_rss_1m_over_100k"] = figures["beam.workers_peak_rss_1m_over_100k"]
  return figures


if __name__ == "__main__":
  print(measure())
