"""tensorflow-datasets metadata for the Beam job's TFRecords, so tfds' readers load them.

The job writes `<data_dir>/<dataset_name>-<split>.tfrecord-<i>-of-<n>` shards, which is
tfds' default filename template, and then calls `write_tfds_metadata` with the per-shard
example counts it has already computed. After that,
`tfds.builder_from_directory(data_dir).as_dataset(split="train")` reads the examples
(this is tfds' documented external-TFRecord route, `tfds.folder_dataset.write_metadata`).

tfds parses a `Tensor(shape=())` feature with `tf.io.FixedLenFeature([])` and a
`Tensor(shape=(None,))` one with `tf.io.FixedLenSequenceFeature([], allow_missing=True)`,
which matches `features.example_serializer.ExampleSerializer`: every scalar is a
1-element list and every sequence a possibly empty list of strings.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import tensorflow_datasets as tfds
from apache_beam.io.filesystems import FileSystems

from features import spec as spec_lib

FILE_FORMAT = "tfrecord"
# numpy's dtypes, which tfds takes as well as TensorFlow's (features.json is the same
# either way): the join job writes this metadata without importing TensorFlow.
_NUMPY_DTYPES = {
    spec_lib.DType.STRING: np.object_,
    spec_lib.DType.INT64: np.int64,
    spec_lib.DType.FLOAT32: np.float32,
}


def tfds_features(spec: spec_lib.FeatureSpec) -> tfds.features.FeaturesDict:
  """The tfds FeaturesDict of examples written by `example_serializer`."""
  features = {}
  for feature in spec:
    shape = (None,) if feature.is_sequence else ()
    features[feature.name] = tfds.features.Tensor(
        shape=shape, dtype=_NUMPY_DTYPES[feature.dtype],
        doc=feature.description or None)
  return tfds.features.FeaturesDict(features)


def write_tfds_metadata(data_dir: str,
                        spec: spec_lib.FeatureSpec,
                        shard_lengths: Mapping[str, Sequence[int]],
                        num_bytes: Mapping[str, int] | None = None,
                        dataset_name: str = "pfd",
                        description: str = "") -> None:
  """Writes `dataset_info.json` and `features.json` next to the shards in `data_dir`.

  Args:
    data_dir: The directory holding the shards (local or e.g. gs://).
    spec: The feature spec the examples were encoded with.
    shard_lengths: Split name -> the number of examples in each of its shards, in
      shard order. Every split on disk must be listed, with one count per shard file.
    num_bytes: Split name -> its size in bytes (shown by tfds; 0 when not given).
    dataset_name: The `<dataset_name>` of the shard names.
    description: Shown in the dataset's tfds info.
  """
  num_bytes = num_bytes or {}
  unknown = set(num_bytes) - set(shard_lengths)
  if unknown:
    raise ValueError(f"num_bytes names splits without shard_lengths: {sorted(unknown)}.")
  split_infos = []
  for split, lengths in shard_lengths.items():
    _check_shards(data_dir, dataset_name, split, len(lengths))
    split_infos.append(tfds.core.SplitInfo(
        name=split, shard_lengths=[int(n) for n in lengths],
        num_bytes=int(num_bytes.get(split, 0))))
  tfds.folder_dataset.write_metadata(
      data_dir=data_dir,
      features=tfds_features(spec),
      split_infos=split_infos,
      # The features come from the spec the shards were encoded with, and the tests
      # read them back; re-reading an example on every job run adds nothing.
      check_data=False,
      description=description)


def _check_shards(data_dir: str, dataset_name: str, split: str,
                  num_shards: int) -> None:
  """Raises ValueError unless exactly the `num_shards` shard files of `split` exist.

  tfds would only fail later, at read time, on a missing shard, and would silently
  never read an extra one.
  """
  if num_shards == 0:
    raise ValueError(f"Split {split!r} has no shards; drop it from shard_lengths.")
  prefix = os.path.join(data_dir, f"{dataset_name}-{split}.{FILE_FORMAT}-")
  expected = {f"{prefix}{i:05d}-of-{num_shards:05d}" for i in range(num_shards)}
  found = {m.path for m in FileSystems.match([prefix + "*"])[0].metadata_list}
  if found != expected:
    raise ValueError(
        f"Split {split!r}: shard_lengths lists {num_shards} shards, but the shard files "
        f"differ; missing: {sorted(expected - found)}, unexpected: "
        f"{sorted(found - expected)}.")
