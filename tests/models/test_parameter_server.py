"""ParameterServerStrategy: a chief, 2 workers and 2 parameter servers (in one process,
as TensorFlow's own tests build it) train the model with the same train_step; its tables
live on both parameter servers, the distillation term reaches no teacher-only variable,
and the chief's weights restore and export as a student without a cluster."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from export import export_model
from export import gate
from features import spec
from models.training import local_cluster
from models.training import restore

SCRIPT = r"""
import json, os, sys
sys.path[:0] = [{root!r}]
import legacy_keras
import tensorflow as tf
cluster = {cluster}
# In one process the servers share a thread pool: with fewer inter-op threads than
# workers + 1 the steps deadlock (TensorFlow's parameter-server tutorial).
config = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=len(cluster["worker"]) + 1)
for job in ("worker", "ps"):
  for index in range(len(cluster[job])):
    tf.distribute.Server(tf.train.ClusterSpec(cluster), job_name=job, task_index=index,
                         protocol="grpc", config=config, start=True)
os.environ["TF_CONFIG"] = json.dumps({{"cluster": cluster,
                                      "task": {{"type": "chief", "index": 0}}}})
from models import distillation, train
from models.config import ModelConfig
built = []
def build(*args):
  built.append(distillation.DistillationModel(*args))
  return built[-1]
results = train.train_and_evaluate(
    {data_dir!r}, {model_dir!r},
    ModelConfig(task="ctr", mode="pfd", embedding_dim=4, student_hidden=(8,),
                teacher_hidden=(8,), learning_rate=0.01),
    train.TrainConfig(batch_size=32, epochs=3, seed=1, strategy="parameter_server",
                      ps_min_shard_bytes=256), build_model=build)
model = built[0]
devices = {{v.name: v.device for v in model.variables}}
# The distillation term's gradient, read on the coordinator, on one eval batch.
from features import input as input_lib
# In order: the export check below compares the split's first 64 records.
features, labels = next(iter(input_lib.make_dataset({data_dir!r}, "eval", "ctr", 64,
                                                    shuffle=False, deterministic=True)))
with tf.GradientTape(persistent=True) as tape:
  out = model.compute_losses(features, labels, None, training=True)
teacher_only = model.variable_groups()["teacher_only"]
blocked = [g is None or not bool(tf.reduce_any(tf.not_equal(tf.convert_to_tensor(g), 0)))
           for g in tape.gradient(out["distillation_loss"], teacher_only)]
reached = [g is not None for g in tape.gradient(out["teacher_loss"], teacher_only)]
student = model.predict_step((features, labels))["student"].numpy()
scores = dict(zip((i.decode() for i in features["impression_id"].numpy()),
                  student.tolist()))
print("RESULT", json.dumps({{"history": results["history"], "devices": devices,
                            "blocked": blocked, "reached": reached,
                            "distillation": float(out["distillation_loss"]),
                            "scores": scores}}))
"""


@pytest.fixture(scope="module")
def ps_run(tiny_world, tmp_path_factory):
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  cluster = local_cluster.cluster_of(chief=1, worker=2, ps=2)
  model_dir = str(tmp_path_factory.mktemp("ps") / "model")
  script = SCRIPT.format(root=root, cluster=cluster, data_dir=tiny_world.examples_dir,
                         model_dir=model_dir)
  result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=500, cwd=root, check=False)
  assert result.returncode == 0, result.stderr[-4000:]
  return model_dir, json.loads(result.stdout.split("RESULT", 1)[1])


def test_the_loss_falls_over_the_epochs(ps_run):
  _, out = ps_run
  for loss in ("teacher_loss", "student_loss"):
    history = out["history"][loss]
    assert len(history) == 3 and history[-1] < history[0], (loss, history)


def test_id_tables_are_split_over_both_parameter_servers(ps_run):
  _, out = ps_run
  for key in (spec.DEFAULT_SPEC.user_feature, spec.DEFAULT_SPEC.item_feature):
    parts = {name: device for name, device in out["devices"].items()
             if f"_{key}/embedding/embeddings/part_" in name}
    assert len(parts) == 2, (key, out["devices"])
    assert sorted(d.split("/job:ps/replica:0/task:")[1][0] for d in parts.values()
                  ) == ["0", "1"], parts


def test_the_distillation_term_reaches_no_teacher_only_variable(ps_run):
  _, out = ps_run
  assert out["distillation"] > 0
  assert out["blocked"] and all(out["blocked"])
  assert all(out["reached"])  # While the teacher's own loss reaches every one.


def test_the_chiefs_student_restores_and_exports_without_a_cluster(ps_run, tiny_world,
                                                                  tmp_path):
  model_dir, out = ps_run
  model, run = restore.restore_trained_model(model_dir, tiny_world.examples_dir)
  examples = export_model.load_eval_examples(tiny_world.examples_dir, "ctr")
  published = export_model.export_student(
      model, spec.DEFAULT_SPEC, export_base=str(tmp_path / "serving"),
      model_name="ctr", examples=examples, training=run,
      policy=gate.BlessingPolicy(min_auc=0.0, max_auc_drop=1.0))
  serve = tf.saved_model.load(published.path).signatures["serving_default"]
  records = list(examples.serialized[:64])
  served = serve(examples=tf.constant(records))["probability"].numpy()
  ids = [tf.train.Example.FromString(r).features.feature["impression_id"]
         .bytes_list.value[0].decode() for r in records]
  # What the chief's model scored in the cluster, the export serves without one.
  assert set(ids) == set(out["scores"])
  np.testing.assert_allclose(served, [out["scores"][i] for i in ids], atol=1e-5)


def test_a_parameter_server_process_of_the_train_job_serves_its_address(tiny_world):
  cluster = local_cluster.cluster_of(chief=1, worker=1, ps=1)
  process = local_cluster.start(
      [sys.executable, "-m", "models.train", f"--data_dir={tiny_world.examples_dir}",
       "--model_dir=unused", "--task=ctr", "--strategy=parameter_server"], cluster,
      "ps", 0, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  host, port = cluster["ps"][0].split(":")
  try:
    deadline = time.monotonic() + 120
    while True:
      assert process.poll() is None, "the parameter server exited"
      try:
        socket.create_connection((host, int(port)), timeout=1).close()
        break
      except OSError:
        assert time.monotonic() < deadline, "nothing listens on the ps address"
        time.sleep(0.2)
  finally:
    process.kill()
    process.wait()
