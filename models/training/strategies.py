"""tf.distribute strategies by name, and what each asks of a training run's input and
writes.

- `default`: this process's first device.
- `mirrored`: every local GPU, or every logical CPU device without one.
- `multi_worker`: MultiWorkerMirroredStrategy over the cluster in `TF_CONFIG` (every
  worker runs the same command). Each worker reads the whole split and keeps its
  slice of every global batch (data sharding): every worker then takes the same
  number of steps (a worker whose files ran out first would stall the all-reduce),
  and the global batches, so the lambda schedule, are those of one process. Batches
  that must stay whole (a ranking loss's requests) cannot be sliced: each worker
  then reads its own share of the split (`DatasetCreator`), repeated, and all take
  the steps the run counts.
- `parameter_server`: ParameterServerStrategy, the chief coordinating the workers and
  parameter servers of `TF_CONFIG` (their processes serve until killed); tables of
  at least `min_shard_bytes` are partitioned over the parameter servers, and each
  worker reads its own shards of the split (`DatasetCreator`), repeated.

Only the chief writes where the run's files go: another worker's checkpoints and
weights (saving is collective) go to a scratch directory of its own.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
from typing import Callable

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "parameter_server")
SERVER_ROLES = ("worker", "ps")  # parameter_server: the roles that only serve.


@dataclasses.dataclass(frozen=True)
class Cluster:
  """The strategy and the facts about it a training run needs."""
  strategy: tf.distribute.Strategy
  name: str

  @property
  def is_chief(self) -> bool:
    return self.strategy.extended.should_checkpoint

  @property
  def coordinated(self) -> bool:
    """Steps are scheduled on remote workers (parameter_server)."""
    return self.name == "parameter_server"

  def write_dir(self, model_dir: str) -> str:
    """Where this worker writes `model_dir`'s files: the chief into it, another
    worker into a scratch directory of its own under it (remove with
    `remove_scratch`)."""
    if self.is_chief:
      return model_dir
    resolver = self.strategy.cluster_resolver
    return posixpath.join(model_dir, f"scratch-{resolver.task_type}-{resolver.task_id}")

  def remove_scratch(self, model_dir: str) -> None:
    scratch = self.write_dir(model_dir)
    if scratch != model_dir and tf.io.gfile.exists(scratch):
      tf.io.gfile.rmtree(scratch)

  def repeats(self, whole_batches: bool = False) -> bool:
    """Whether `distribute` gives `fit` a DatasetCreator of repeated batches (whose
    epochs are then a number of steps)."""
    return self.coordinated or (whole_batches and
                                self.name in ("mirrored", "multi_worker")
                                and self.strategy.num_replicas_in_sync > 1)

  def distribute(self, make_dataset: Callable[..., tf.data.Dataset],
                 batch_size: int, whole_batches: bool = False):
    """What `fit` reads: `make_dataset(batch_size, input_context=None)`'s batches, for
    parameter_server a DatasetCreator of each worker's shards, repeated.

    Args:
      whole_batches: The batches must reach a replica whole (batches of whole
        requests): under mirrored and multi_worker, each replica takes whole batches
        of the per-replica size (a DatasetCreator, repeated; each worker's pipeline
        reads its own share of the split, so no request reaches two workers) instead
        of a slice of every global batch.
    """
    if self.repeats(whole_batches):
      return tf.keras.utils.experimental.DatasetCreator(
          lambda context: make_dataset(context.get_per_replica_batch_size(batch_size),
                                       input_context=context))
    return self.data_sharded(make_dataset(batch_size))

  def data_sharded(self, dataset: tf.data.Dataset) -> tf.data.Dataset:
    """multi_worker: each worker keeps its slice of every batch (module docstring),
    in order: workers whose parallel stages emitted batches in different orders
    would slice different global batches, training some examples twice and others
    not at all."""
    if self.name != "multi_worker":
      return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    options.deterministic = True
    return dataset.with_options(options)


def serve_if_a_server() -> None:
  """For parameter_server: if `TF_CONFIG` makes this process a worker or a parameter
  server, serves the cluster until killed (never returns); else returns."""
  resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
  if resolver.task_type not in SERVER_ROLES:
    return
  server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                                task_index=resolver.task_id,
                                protocol=resolver.rpc_layer or "grpc", start=True)
  server.join()


def check_name(name: str) -> None:
  """Raises ValueError unless `name` is one of STRATEGIES."""
  if name not in STRATEGIES:
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}.")


def make(name: str, min_shard_bytes: int = 256 << 10,
         cluster_resolver: tf.distribute.cluster_resolver.ClusterResolver | None = None
         ) -> Cluster:
  """The strategy `name` (one of STRATEGIES); create it before other TF work.

  Args:
    min_shard_bytes: parameter_server: a variable is split into shards of at least
      this many bytes, at most one per parameter server (small dense kernels stay
      whole; the id tables are what is split).
    cluster_resolver: multi_worker / parameter_server: the cluster (default: from
      `TF_CONFIG`).

  Raises:
    ValueError: An unknown name, or a parameter_server cluster without parameter
      servers.
  """
  check_name(name)
  if name == "mirrored":
    return Cluster(tf.distribute.MirroredStrategy(), name)
  if name == "multi_worker":
    return Cluster(tf.distribute.MultiWorkerMirroredStrategy(
        cluster_resolver=cluster_resolver), name)
  if name == "parameter_server":
    resolver = (cluster_resolver or
                tf.distribute.cluster_resolver.TFConfigClusterResolver())
    num_ps = len(resolver.cluster_spec().as_dict().get("ps", []))
    if not num_ps:
      raise ValueError(f"strategy parameter_server needs parameter servers (`ps` in "
                       f"TF_CONFIG); the cluster is {resolver.cluster_spec().as_dict()}"
                       f" (TF_CONFIG={os.environ.get('TF_CONFIG')!r}).")
    partitioner = tf.distribute.experimental.partitioners.MinSizePartitioner(
        min_shard_bytes=min_shard_bytes, max_shards=num_ps)
    return Cluster(tf.distribute.ParameterServerStrategy(
        resolver, variable_partitioner=partitioner), name)
  return Cluster(tf.distribute.get_strategy(), name)
