"""Tests for models/training/local_cluster.py: a cluster of processes on this machine."""

import json
import sys

import pytest

from models.training import local_cluster


def test_a_cluster_has_distinct_addresses_per_job_and_no_empty_job():
  cluster = local_cluster.cluster_of(worker=2, ps=1, chief=0)
  assert {job: len(a) for job, a in cluster.items()} == {"worker": 2, "ps": 1}
  addresses = [a for job in cluster.values() for a in job]
  assert len(set(addresses)) == 3
  assert all(a.startswith("localhost:") for a in addresses)


def test_each_task_reads_its_own_tf_config():
  cluster = local_cluster.cluster_of(worker=2)
  outputs = local_cluster.run_workers(
      [sys.executable, "-c", "import os; print(os.environ['TF_CONFIG'])"], cluster,
      timeout_s=60)
  configs = [json.loads(output) for output in outputs]
  assert [c["task"] for c in configs] == [{"type": "worker", "index": 0},
                                          {"type": "worker", "index": 1}]
  assert all(c["cluster"] == cluster for c in configs)


def test_a_failed_worker_raises_with_its_output():
  cluster = local_cluster.cluster_of(worker=1)
  with pytest.raises(RuntimeError, match=r"worker 0 exited with 3:\nboom"):
    local_cluster.run_workers([sys.executable, "-c", "print('boom'); exit(3)"],
                              cluster, timeout_s=60)
