"""Training beyond one process, on this machine's loopback (models/training/local_cluster.py).

The models.train job, CTR task, on a simulated world, the same global batch and
steps in every run; examples/s = steps x batch / train_seconds (metrics.json: the
fit calls, the first step's tracing included):

* train.multi_worker_2_over_1: 2 MultiWorkerMirrored worker processes over 1
  process (default strategy). On a machine with fewer cores than 2 workers' worth,
  the workers split the cores the single process had, and each step adds an
  all-reduce of every gradient over gRPC: expect well under 2 there.
* train.ps_examples_per_s: a chief, 2 workers and 2 parameter servers, each a
  process; a step is one worker's batch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from benchmarks import datasets
from models.training import local_cluster

IMPRESSIONS = 100_000
BATCH_SIZE = 512
STEPS_PER_EPOCH = 100
EPOCHS = 2
TIMEOUT_S = 900


def _command(data_dir: str, model_dir: str, strategy: str) -> list[str]:
  return [sys.executable, "-m", "models.train", f"--data_dir={data_dir}",
          f"--model_dir={model_dir}", "--task=ctr", "--mode=pfd",
          f"--batch_size={BATCH_SIZE}", f"--epochs={EPOCHS}",
          f"--steps_per_epoch={STEPS_PER_EPOCH}", f"--strategy={strategy}"]


def _examples_per_s(model_dir: str) -> float:
  with open(os.path.join(model_dir, "metrics.json")) as f:
    metrics = json.load(f)
  return metrics["train_steps"] * BATCH_SIZE / metrics["train_seconds"]


def _parameter_server_run(data_dir: str, model_dir: str) -> None:
  command = _command(data_dir, model_dir, "parameter_server")
  cluster = local_cluster.cluster_of(chief=1, worker=2, ps=2)
  servers = [local_cluster.start(command, cluster, job, index,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for job in ("worker", "ps") for index in range(len(cluster[job]))]
  try:
    chief = local_cluster.start(command, cluster, "chief", 0, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    output = chief.communicate(timeout=TIMEOUT_S)[0]
    if chief.returncode:
      raise RuntimeError(f"The chief exited with {chief.returncode}:\n{output[-3000:]}")
  finally:
    for server in servers:  # They serve until killed.
      server.kill()
      server.wait()


def measure() -> dict[str, float]:
  with tempfile.TemporaryDirectory() as tmp:
    data_dir = datasets.simulate_and_join(os.path.join(tmp, "raw"),
                                          os.path.join(tmp, "examples"), IMPRESSIONS)
    single, workers, ps = (os.path.join(tmp, name) for name in ("one", "two", "ps"))
    subprocess.run(_command(data_dir, single, "default"), check=True,
                   capture_output=True, timeout=TIMEOUT_S)
    local_cluster.run_workers(_command(data_dir, workers, "multi_worker"),
                              local_cluster.cluster_of(worker=2), TIMEOUT_S)
    _parameter_server_run(data_dir, ps)
    return {
        "train.multi_worker_2_over_1": _examples_per_s(workers) / _examples_per_s(single),
        "train.one_process_examples_per_s": _examples_per_s(single),
        "train.multi_worker_2_examples_per_s": _examples_per_s(workers),
        "train.ps_examples_per_s": _examples_per_s(ps),
    }


if __name__ == "__main__":
  print(measure())
