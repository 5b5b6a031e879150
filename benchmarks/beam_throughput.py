"""Throughput and memory of the join job on simulated logs (DirectRunner-style, local).

Runs `pipelines.join_logs` as a separate process on the FnApiRunner in
multi-processing mode with 2 workers, on 100k and 1M simulated impressions. Figures:

* beam.impressions_per_s: impressions / wall time of the whole job at 1M (launch,
  join, write, report and publication included).
* beam.peak_rss_1m_over_100k: peak memory of the SDK worker processes (where the DoFns
  run, as on Dataflow workers) at 1M over 100k: stays flat when no stage holds a whole
  log in a worker.
* beam.launcher_peak_rss_1m_over_100k: the same for the launching process, which with
  the local FnApiRunner also holds the in-memory shuffle (a Dataflow launcher does not).
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
  figures = {}
  with tempfile.TemporaryDirectory() as tmp:
    usage = {}
    for n in sizes:
      raw_dir = os.path.join(tmp, f"raw_{n}")
      _generate(n, raw_dir, tmp)
      usage[n] = _join(raw_dir, os.path.join(tmp, f"examples_{n}"),
                       os.path.join(tmp, f"join_{n}.log"))
    figures["beam.impressions_per_s"] = large / usage[large].wall_s
    figures["beam.wall_s_1m"] = usage[large].wall_s
    for n, label in ((small, "100k"), (large, "1m")):
      figures[f"beam.workers_peak_rss_mb_{label}"] = usage[n].peak_children_rss_mb
      figures[f"beam.launcher_peak_rss_mb_{label}"] = usage[n].peak_rss_mb
    figures["beam.peak_rss_1m_over_100k"] = (usage[large].peak_children_rss_mb /
                                             usage[small].peak_children_rss_mb)
    figures["beam.launcher_peak_rss_1m_over_100k"] = (usage[large].peak_rss_mb /
                                                      usage[small].peak_rss_mb)
  return figures


if __name__ == "__main__":
  print(measure())
