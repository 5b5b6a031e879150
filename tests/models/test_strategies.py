"""Strategies by name: what each refuses before touching a cluster."""

import pytest
import tensorflow as tf

from models import strategies


def test_an_unknown_strategy_is_named():
  with pytest.raises(ValueError, match="'tpu'"):
    strategies.make("tpu")


def test_parameter_server_without_parameter_servers_is_refused():
  resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
      tf.train.ClusterSpec({"chief": ["localhost:1"], "worker": ["localhost:2"]}),
      task_type="chief", task_id=0)
  with pytest.raises(ValueError, match="needs parameter servers"):
    strategies.make("parameter_server", cluster_resolver=resolver)


def test_the_default_strategy_is_its_own_chief_and_writes_in_place(tmp_path):
  cluster = strategies.make("default")
  assert cluster.is_chief and not cluster.coordinated
  assert cluster.write_dir(str(tmp_path)) == str(tmp_path)
  dataset = tf.data.Dataset.range(4).batch(2)
  assert cluster.distribute(lambda batch_size: dataset, 2) is dataset
