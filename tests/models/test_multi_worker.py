"""Beyond one process: 2 MultiWorkerMirrored workers on localhost end where one process
trained on the same global batches ends, and the chief alone writes the run's files;
with a ranking loss, each worker trains on whole requests of its own."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from models.training import local_cluster

STEPS = 6


# The workers sum a row's gradient in another order than one process does: where a
# row's gradient is near Adam's epsilon that order decides its step, so the seed is
# one whose batches leave no such row on the tiny world (the join's record order
# decides which rows those are).
SEED = 6


def _command(data_dir, model_dir, strategy):
  return [sys.executable, "-m", "models.train", f"--data_dir={data_dir}",
          f"--model_dir={model_dir}", "--task=ctr", "--mode=pfd", "--epochs=2",
          f"--steps_per_epoch={STEPS // 2}", "--batch_size=16", "--embedding_dim=4",
          "--student_hidden=8", "--teacher_hidden=8", "--deterministic",
          f"--seed={SEED}",
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


WHOLE_REQUESTS_SCRIPT = r"""
import json
import os
import sys
sys.path[:0] = [{root!r}]
import legacy_keras
import numpy as np
import tensorflow as tf
from models import distillation
from models import train
from models.config import ModelConfig

steps, built = [], []


class RecordingModel(distillation.DistillationModel):
  # The request ids of each batch this worker's replica trains on, step by step: what
  # fit hands it, whichever way the cluster distributes the input.
  def train_step(self, data):
    tf.py_function(lambda ids: steps.append(sorted(set(
        i.decode() for i in ids.numpy().tolist()))), [data[0]["request_id"]], [])
    return super().train_step(data)


def build(*args):
  built.append(RecordingModel(*args))
  return built[-1]


# A shuffle window within one read block: a wider one would span several passes of
# the tiny, repeated split, and the request shuffle groups a request's copies.
results = train.train_and_evaluate({data_dir!r}, {model_dir!r}, ModelConfig(
    task="ctr", mode="pfd", distillation_loss="bpr", embedding_dim=4,
    student_hidden=(8,), teacher_hidden=(8,)), train.TrainConfig(
        batch_size=16, epochs=1, steps_per_epoch={steps}, shuffle_buffer=200, seed=5,
        strategy="multi_worker"), build_model=build)
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
with open(os.path.join({out_dir!r}, f"worker-{{index}}.json"), "w") as f:
  json.dump({{"requests": steps, "history": results["history"]}}, f)
np.savez(os.path.join({out_dir!r}, f"weights-{{index}}.npz"), *built[-1].get_weights())
"""


def test_two_workers_train_a_ranking_loss_on_whole_requests_of_their_own(
    tiny_world, tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  # The tiny world's requests are 5 impressions each, and most global batches of 16
  # hold 3 of them: sliced in two (8 and 7 examples), they cut a request.
  script = WHOLE_REQUESTS_SCRIPT.format(root=root, data_dir=tiny_world.examples_dir,
                                        model_dir=str(tmp_path / "run"),
                                        out_dir=str(tmp_path), steps=STEPS)
  local_cluster.run_workers([sys.executable, "-c", script],
                            local_cluster.cluster_of(worker=2), timeout_s=400)

  workers = [json.load(open(tmp_path / f"worker-{i}.json")) for i in range(2)]
  requests = [w["requests"] for w in workers]
  assert [len(steps) for steps in requests] == [STEPS, STEPS]
  assert all(all(step) for steps in requests for step in steps)
  # Each worker reads its own requests: none is shared, within a step (two slices of
  # one global batch) or across steps (workers whose parallel input stages emit the
  # batches in different orders slice different global batches).
  shared = set().union(*requests[0]) & set().union(*requests[1])
  assert not shared, sorted(shared)
  for name, values in workers[0]["history"].items():
    assert np.isfinite(values).all(), name
  # Synchronous training: both workers hold the same weights at the end.
  weights = [np.load(tmp_path / f"weights-{i}.npz") for i in range(2)]
  assert weights[0].files and weights[0].files == weights[1].files
  for name in weights[0].files:
    np.testing.assert_allclose(weights[1][name], weights[0][name], rtol=0, atol=1e-6,
                               err_msg=name)
