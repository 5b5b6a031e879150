"""Strategies by name: what each refuses before touching a cluster."""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

from models.training import strategies


def test_an_unknown_strategy_is_named():
  with pytest.raises(ValueError, match="'tpu'"):
    strategies.make("tpu")


def test_parameter_server_without_parameter_servers_is_refused():
  resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
      tf.train.ClusterSpec({"chief": ["localhost:1"], "worker": ["localhost:2"]}),
      task_type="chief", task_id=0)
  with pytest.raises(ValueError, match="needs parameter servers"):
    strategies.make("parameter_server", cluster_resolver=resolver)


def test_multi_worker_slices_batches_that_every_worker_reads_in_one_order():
  # Each worker keeps its slice of the same global batch only if all read the
  # batches in one order: an unordered dataset is made ordered, sliced by DATA.
  options = tf.data.Options()
  options.deterministic = False
  unordered = tf.data.Dataset.range(8).batch(2).with_options(options)
  cluster = strategies.Cluster(tf.distribute.get_strategy(), "multi_worker")
  sharded = cluster.data_sharded(unordered).options()
  assert sharded.deterministic is True
  assert (sharded.experimental_distribute.auto_shard_policy
          == tf.data.experimental.AutoShardPolicy.DATA)
  assert strategies.Cluster(tf.distribute.get_strategy(), "default").data_sharded(
      unordered).options().deterministic is False


def test_the_default_strategy_is_its_own_chief_and_writes_in_place(tmp_path):
  cluster = strategies.make("default")
  assert cluster.is_chief and not cluster.coordinated
  assert cluster.write_dir(str(tmp_path)) == str(tmp_path)
  dataset = tf.data.Dataset.range(4).batch(2)
  assert cluster.distribute(lambda batch_size: dataset, 2) is dataset


WHOLE_REQUESTS_SCRIPT = r"""
import sys
sys.path[:0] = [{root!r}]
import legacy_keras
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from features import input as input_lib
from models.training import strategies

cluster = strategies.make("mirrored")
assert cluster.repeats(whole_batches=True) and not cluster.repeats()
creator = cluster.distribute(
    lambda batch_size, input_context=None: input_lib.make_dataset(
        {data_dir!r}, "train", "ctr", batch_size, seed=0, repeat=True,
        input_context=input_context, group_by_request=True), 64, whole_batches=True)
batches = iter(cluster.strategy.distribute_datasets_from_function(creator))
for _ in range(20):
  features, _ = next(batches)
  one, two = (set(t.numpy().tolist()) for t in
              cluster.strategy.experimental_local_results(features["request_id"]))
  assert one and two and not one & two, (one & two)
print("WHOLE")

# And fit trains from them: a step per global batch, steps_per_epoch counted.
from models import train
from models.config import ModelConfig
results = train.train_and_evaluate({data_dir!r}, {model_dir!r}, ModelConfig(
    task="ctr", mode="pfd", distillation_loss="bpr", embedding_dim=4,
    student_hidden=(8,), teacher_hidden=(8,)), train.TrainConfig(
        batch_size=64, epochs=1, strategy="mirrored"))
print("STEPS", results["train_steps"])
"""


def test_mirrored_replicas_get_whole_requests_for_a_ranking_loss(tiny_world, tmp_path):
  # Two logical CPUs need a fresh process: devices are fixed at TF's first use.
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  result = subprocess.run(
      [sys.executable, "-c", WHOLE_REQUESTS_SCRIPT.format(
          root=root, data_dir=tiny_world.examples_dir, model_dir=str(tmp_path))],
      capture_output=True, text=True, check=False, cwd=root)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "WHOLE" in result.stdout
  train_examples = tiny_world.report["examples"]["train"]
  assert int(result.stdout.split("STEPS")[1]) == -(-train_examples // 64)
