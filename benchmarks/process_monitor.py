"""Wall time and peak resident memory of a command and all its child processes."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from typing import Sequence

import psutil

_POLL_S = 0.1


@dataclasses.dataclass(frozen=True)
class ProcessUsage:
  wall_s: float
  peak_rss_mb: float  # The process and its descendants together, at the worst moment.


def _rss(process: psutil.Process) -> int:
  try:
    return process.memory_info().rss
  except (psutil.NoSuchProcess, psutil.AccessDenied):
    return 0  # Exited between listing and reading: it holds no memory now.


def run_and_measure(command: Sequence[str], log_path: str) -> ProcessUsage:
  """Runs `command` to completion, polling memory; raises if it fails.

  Args:
    command: argv of the process to run.
    log_path: where its stdout and stderr go (named in the error on failure).
  """
  start = time.perf_counter()
  with open(log_path, "w") as log:
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
      try:
        children = root.children(recursive=True)
      except psutil.NoSuchProcess:
        children = []
      peak = max(peak, _rss(root) + sum(_rss(c) for c in children))
      time.sleep(_POLL_S)
  wall = time.perf_counter() - start
  if proc.returncode:
    raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}; see {log_path}.")
  return ProcessUsage(wall, peak / 2**20)
