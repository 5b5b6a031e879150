"""Beyond one process: 2 MultiWorkerMirrored workers on localhost end where one process
trained on the same global batches ends, and the chief alone writes the run's files."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from models import local_cluster

STEPS = 6


def _command(data_dir, model_dir, strategy):
  return [sys.executable, "-m", "models.train", f"--data_dir={data_dir}",
          f"--model_dir={model_dir}", "--task=ctr", "--mode=pfd", "--epochs=2",
          f"--steps_per_epoch={STEPS // 2}", "--batch_size=16", "--embedding_dim=4",
          "--student_hidden=8", "--teacher_hidden=8", "--deterministic", "--seed=5",
          "--swap_step=2", f"--strategy={strategy}"]


def _weights(model_dir):
  reader = tf.train.load_checkpoint(os.path.join(model_dir, "final", "weights"))
  # The heads' weights (metric states are per worker, summed when read).
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if name.startswith(("student/", "teacher/")) and "OPTIMIZER_SLOT" not in name}


def test_two_workers_end_within_1e5_of_one_process_on_the_same_global_batches(
    tiny_world, tmp_path):
  single, cluster = str(tmp_path / "single"), str(tmp_path / "cluster")
  subprocess.run(_command(tiny_world.examples_dir, single, "default"), check=True,
                 capture_output=True)
  local_cluster.run_workers(_command(tiny_world.examples_dir, cluster, "multi_worker"),
                            local_cluster.cluster_of(worker=2), timeout_s=400)

  results = [json.load(open(os.path.join(d, "metrics.json"))) for d in (single, cluster)]
  assert results[0]["train_steps"] == results[1]["train_steps"] == STEPS
  expected, got = _weights(single), _weights(cluster)
  assert expected and expected.keys() == got.keys()
  for name in expected:
    np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-5,
                               err_msg=name)
  # Metrics over the whole eval split, every worker's share (one worker's slice would
  # hold half the examples and a different AUC).
  for key in ("eval_examples", "eval_positives"):
    assert results[1]["eval"][key] == results[0]["eval"][key]
  for key in ("student_auc", "student_gauc", "teacher_auc"):
    assert abs(results[1]["eval"][key] - results[0]["eval"][key]) < 1e-4, key
  # The chief's files only: the other worker's scratch copies are gone.
  assert not [name for name in os.listdir(cluster) if "scratch" in name or "temp" in name]
  assert os.path.exists(os.path.join(cluster, "tensorboard"))
