r"""Batch job: every item of the logs through the two-tower student's item tower.

    python -m models.item_vectors --data_dir=workspace/examples \
      --model_dir=workspace/models/ctr-pfd --output_dir=workspace/item_vectors/ctr-pfd \
      [--index=ivf --num_probes=20]

The catalogue is every item of the dataset's splits (every item shown at least once,
keyed by the spec's identity `item` feature), each with the item features of the first
record read (they are catalogue attributes, the same on every impression). Writes,
through tf.io.gfile:

    <output_dir>/ids-SSSSS-of-NNNNN.npy       [n] bytes item ids
    <output_dir>/vectors-SSSSS-of-NNNNN.npy   [n, dim] float32, row i for ids[i]
    <output_dir>/ivf-centroids.npy            --index=ivf: [partitions, dim] float32
    <output_dir>/ivf-assignments.npy          --index=ivf: [n] int32, item i's partition
    <output_dir>/manifest.json                count, dim, shards, source run, the IVF
                                              build's figures; last

numpy arrays without pickles; `read` returns them as ItemVectors, whose `index` is
the serving index (models/retrieval/__init__.py, models/retrieval/ivf_index.py).
"""

from __future__ import annotations

import dataclasses
import enum
import io
import json
import posixpath
from typing import Sequence

import numpy as np
import tensorflow as tf

import cli
import config_flags
from config_flags import knob
from features import dataset as dataset_lib
from features import input as input_lib
from features import spec as spec_lib
from models.retrieval import ivf_index
from models.training import restore
from models import retrieval
from models.heads import two_tower

MANIFEST_FILE = "manifest.json"
_CENTROIDS_FILE = "ivf-centroids.npy"
_ASSIGNMENTS_FILE = "ivf-assignments.npy"
_BATCH = 4096


class IndexKind(enum.Enum):
  """Which index the job builds beside the vectors (WORKSPACE.md: when to choose)."""
  EXACT = "exact"  # Brute force: nothing to build.
  IVF = "ivf"  # k-means partitions, models/retrieval/ivf_index.py.


@dataclasses.dataclass(frozen=True, eq=False)
class ItemVectors:
  """A catalogue's vectors as the job wrote them, and the index they serve with.

  Attributes:
    ids: `[n]` bytes item ids.
    vectors: `[n, dim]` float32, row i for ids[i].
    partitions: The IVF index's partitions over these vectors; None: exact search.
  """
  ids: np.ndarray
  vectors: np.ndarray
  partitions: ivf_index.Partitions | None = None

  def index(self, k: int = retrieval.DEFAULT_K) -> retrieval.Index:
    """The serving index: IVF over the partitions if any, else exact."""
    if self.partitions is None:
      return retrieval.ItemIndex(self.ids, self.vectors, k)
    return ivf_index.IVFIndex(self.ids, self.vectors, self.partitions, k)


def _all_impressions_task(spec: spec_lib.FeatureSpec) -> str:
  """A task whose examples are every impression: an item never clicked is still in
  the catalogue, whatever the model's task."""
  for task in spec.tasks.values():
    if not task.clicked_only:
      return task.name
  raise ValueError(f"The spec has no task whose examples are all impressions (its "
                   f"tasks: {sorted(spec.tasks)}, all clicked-only): the catalogue "
                   "reads every impression through one.")


def catalogue(dataset: str | dataset_lib.PublishedDataset, feature_names: Sequence[str],
              splits: Sequence[str] | None = None) -> dict[str, tf.Tensor]:
  """Every distinct item's features, from the first record that shows it.

  Args:
    dataset: A PublishedDataset, or the directory of one.
    feature_names: The item features to read.
    splits: Default: all of the dataset's.

  Returns:
    Feature name -> `[num_items, ...]` tensor; the spec's item feature
    (`spec.item_feature`) is among them.
  """
  dataset = dataset_lib.published(dataset)
  item = dataset.spec.item_feature
  task = _all_impressions_task(dataset.spec)
  names = sorted(set(feature_names) | {item})
  seen, parts = set(), []
  for split in splits or dataset.splits:
    batches = input_lib.make_dataset(dataset, split, task, _BATCH, features=names,
                                     shuffle=False, deterministic=True)
    for features, _ in batches:
      ids = features[item].numpy()
      _, first = np.unique(ids, return_index=True)
      new = [i for i in sorted(first) if ids[i] not in seen]
      seen.update(ids[new])
      if new:
        parts.append({n: tf.gather(features[n], new) for n in names})
  return {n: tf.concat([p[n] for p in parts], axis=0) for n in names}


def compute(head: two_tower.TwoTowerHead, items: dict[str, tf.Tensor],
            item_feature: str) -> tuple[np.ndarray, np.ndarray]:
  """(ids `[n]` bytes, vectors `[n, head.vector_dim]` float32) for a catalogue.

  Args:
    item_feature: The catalogue's key (the spec's `item_feature`).
  """
  vectors_fn = tf.function(head.item_vectors)
  batches = tf.data.Dataset.from_tensor_slices(items).batch(_BATCH)
  vectors = [vectors_fn(batch).numpy() for batch in batches]
  return items[item_feature].numpy(), np.concatenate(vectors)


def _shard_name(kind: str, shard: int, num_shards: int) -> str:
  return f"{kind}-{shard:05d}-of-{num_shards:05d}.npy"


def _save(path: str, array: np.ndarray) -> None:
  buffer = io.BytesIO()
  np.save(buffer, array, allow_pickle=False)
  with tf.io.gfile.GFile(path, "wb") as f:
    f.write(buffer.getvalue())


def _load(path: str) -> np.ndarray:
  with tf.io.gfile.GFile(path, "rb") as f:
    return np.load(io.BytesIO(f.read()), allow_pickle=False)


def write(output_dir: str, items: ItemVectors, num_shards: int = 1,
          source: dict | None = None) -> None:
  """Writes the shards and partitions, then the manifest (a reader needs it, so it
  comes last)."""
  if num_shards < 1:
    raise ValueError(f"num_shards must be >= 1, got {num_shards}.")
  tf.io.gfile.makedirs(output_dir)
  ids, vectors, partitions = items.ids, items.vectors, items.partitions
  bounds = np.linspace(0, len(ids), num_shards + 1).astype(int)
  for shard, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
    _save(posixpath.join(output_dir, _shard_name("ids", shard, num_shards)),
          ids[start:end].astype(bytes))
    _save(posixpath.join(output_dir, _shard_name("vectors", shard, num_shards)),
          vectors[start:end].astype(np.float32))
  manifest = {"num_items": len(ids), "dim": int(vectors.shape[1]),
              "num_shards": num_shards, "source": source or {}}
  if partitions is not None:
    _save(posixpath.join(output_dir, _CENTROIDS_FILE), partitions.centroids)
    _save(posixpath.join(output_dir, _ASSIGNMENTS_FILE), partitions.assignments)
    manifest["ivf"] = {
        "num_partitions": partitions.num_partitions,
        "num_probes": partitions.num_probes,
        "largest_partition": int(np.bincount(partitions.assignments).max()),
        "build_s": partitions.build_s,
        "bytes": partitions.centroids.nbytes + partitions.assignments.nbytes}
  with tf.io.gfile.GFile(posixpath.join(output_dir, MANIFEST_FILE), "w") as f:
    f.write(json.dumps(manifest, indent=2, sort_keys=True))


def read(output_dir: str) -> ItemVectors:
  """The vectors (and partitions) as `write` wrote them.

  Raises:
    FileNotFoundError: No manifest: the job has not finished writing here.
    ValueError: The partitions do not fit the vectors (written by another run).
  """
  manifest_path = posixpath.join(output_dir, MANIFEST_FILE)
  if not tf.io.gfile.exists(manifest_path):
    raise FileNotFoundError(f"No {MANIFEST_FILE} in {output_dir}: models.item_vectors "
                            "has not finished writing there.")
  with tf.io.gfile.GFile(manifest_path) as f:
    manifest = json.load(f)
  num_shards = manifest["num_shards"]
  ids, vectors = zip(*[
      (_load(posixpath.join(output_dir, _shard_name("ids", s, num_shards))),
       _load(posixpath.join(output_dir, _shard_name("vectors", s, num_shards))))
      for s in range(num_shards)])
  items = ItemVectors(np.concatenate(ids), np.concatenate(vectors))
  if "ivf" not in manifest:
    return items
  partitions = ivf_index.Partitions(
      _load(posixpath.join(output_dir, _CENTROIDS_FILE)),
      _load(posixpath.join(output_dir, _ASSIGNMENTS_FILE)),
      manifest["ivf"]["num_probes"], manifest["ivf"]["build_s"])
  try:
    partitions.check(*items.vectors.shape)
  except ValueError as e:
    raise ValueError(f"The IVF partitions in {output_dir} do not fit its vectors: "
                     f"{e}") from e
  return dataclasses.replace(items, partitions=partitions)


def run(dataset: str | dataset_lib.PublishedDataset, model_dir: str, output_dir: str,
        num_shards: int = 1, ivf: ivf_index.IVFConfig | None = None) -> ItemVectors:
  """Restores the run's two-tower student and writes its item vectors, with IVF
  partitions built over them if `ivf` is given.

  Raises:
    ValueError: The run's student is not a two-tower head.
  """
  dataset = dataset_lib.published(dataset)
  model, run_metrics = restore.restore_trained_model(model_dir, dataset)
  head = getattr(model, "student", None)
  if not isinstance(head, two_tower.TwoTowerHead):
    raise ValueError(f"The run in {model_dir} has no two-tower student (its config: "
                     f"{run_metrics['model_config']}); item vectors come from a run "
                     "with student_architecture two_tower.")
  items = ItemVectors(*compute(head, catalogue(dataset, head.item_feature_names),
                               dataset.spec.item_feature))
  if ivf is not None:
    items = dataclasses.replace(items, partitions=ivf_index.build(items.vectors, ivf))
  write(output_dir, items, num_shards,
        source={"model_dir": model_dir, "data_dir": dataset.data_dir,
                "item_features": head.item_feature_names})
  return items


@dataclasses.dataclass(frozen=True)
class ItemVectorsJob:
  """Which run's item tower, over which catalogue, and where the vectors go."""
  data_dir: str = knob(help="The dataset the run was trained on; its items are the "
                       "catalogue.")
  model_dir: str = knob(help="A finished models.train run with a two-tower student.")
  output_dir: str = knob(help="Where the vectors go.")
  num_shards: int = knob(1, "Files per array.")
  index: IndexKind = knob(IndexKind.EXACT, "exact: brute force over the vectors; ivf: "
                          "also build k-means partitions for approximate search "
                          "(models.retrieval.ivf_index's flags).")


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(ItemVectorsJob)
  ivf = (config_flags.from_flags(ivf_index.IVFConfig)
         if job.index is IndexKind.IVF else None)
  items = run(job.data_dir, job.model_dir, job.output_dir, job.num_shards, ivf)
  print(f"{len(items.ids)} item vectors of dim {items.vectors.shape[1]} in "
        f"{job.output_dir}")
  if items.partitions is not None:
    print(f"IVF: {items.partitions.num_partitions} partitions, probing "
          f"{items.partitions.num_probes}, built in {items.partitions.build_s:.1f} s")


if __name__ == "__main__":
  config_flags.define(ItemVectorsJob, required=["data_dir", "model_dir", "output_dir"])
  config_flags.define(ivf_index.IVFConfig)
  cli.run(main)
