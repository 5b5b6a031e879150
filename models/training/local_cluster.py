"""A tf.distribute cluster of processes on this machine: the same training command
per task, each with its own `TF_CONFIG` (how tests and benchmarks stand in for
several machines)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from typing import Mapping, Sequence


def free_addresses(n: int) -> list[str]:
  """`n` distinct `localhost:port` addresses free now."""
  sockets = [socket.socket() for _ in range(n)]
  try:
    for s in sockets:
      s.bind(("localhost", 0))
    return [f"localhost:{s.getsockname()[1]}" for s in sockets]
  finally:
    for s in sockets:
      s.close()


def cluster_of(**sizes: int) -> dict[str, list[str]]:
  """`cluster_of(worker=2, ps=1)` -> {"worker": [2 addresses], "ps": [1 address]}."""
  addresses = iter(free_addresses(sum(sizes.values())))
  return {job: [next(addresses) for _ in range(n)] for job, n in sizes.items() if n}


def tf_config(cluster: Mapping[str, Sequence[str]], task_type: str, index: int) -> str:
  return json.dumps({"cluster": {job: list(a) for job, a in cluster.items()},
                     "task": {"type": task_type, "index": index}})


def start(command: Sequence[str], cluster: Mapping[str, Sequence[str]],
          task_type: str, index: int, **popen_kwargs) -> subprocess.Popen:
  """`command` as task `index` of `task_type` in `cluster`."""
  env = dict(os.environ, TF_CONFIG=tf_config(cluster, task_type, index))
  return subprocess.Popen(list(command), env=env, **popen_kwargs)


def run_workers(command: Sequence[str], cluster: Mapping[str, Sequence[str]],
                timeout_s: float) -> list[str]:
  """Runs `command` on every worker of `cluster` and waits; returns each worker's
  output.

  Raises:
    RuntimeError: A worker failed; the message holds the end of its output.
  """
  processes = [start(command, cluster, "worker", index, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, text=True)
               for index in range(len(cluster["worker"]))]
  outputs = [p.communicate(timeout=timeout_s)[0] for p in processes]
  for index, (p, output) in enumerate(zip(processes, outputs)):
    if p.returncode:
      raise RuntimeError(f"worker {index} exited with {p.returncode}:\n"
                         f"{output[-3000:]}")
  return outputs
