"""Tests for features/tfds_metadata.py: tfds' reader loads our shards as written."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from features import example_serializer
from features import spec as spec_lib
from features import tfds_metadata

SPEC = spec_lib.DEFAULT_SPEC
# Split -> examples per shard; two shards each.
SHARD_LENGTHS = {"train": [2, 1], "eval": [1, 1]}


def _values(i: int) -> dict:
  """Distinct values for example `i`; example 0 has empty sequences."""
  values = {}
  for j, feature in enumerate(SPEC):
    if feature.is_sequence:
      values[feature.name] = [f"{feature.name}_{i}_{k}" for k in range(i)]
    elif feature.dtype is spec_lib.DType.STRING:
      values[feature.name] = f"{feature.name}_{i}"
    elif feature.dtype is spec_lib.DType.INT64:
      values[feature.name] = 1_700_000_000_000 + 100 * i + j  # Needs 64 bits.
    else:
      values[feature.name] = i + j / 4  # Exact in float32.
  return values


def _write_shards(data_dir: str) -> dict[str, list[dict]]:
  written, i = {}, 0
  serialize = example_serializer.ExampleSerializer(SPEC)
  for split, lengths in SHARD_LENGTHS.items():
    written[split] = []
    for shard, length in enumerate(lengths):
      path = os.path.join(
          data_dir, f"pfd-{split}.tfrecord-{shard:05d}-of-{len(lengths):05d}")
      with tf.io.TFRecordWriter(path) as writer:
        for _ in range(length):
          values = _values(i)
          writer.write(serialize(values))
          written[split].append(values)
          i += 1
  return written


def _as_python(value: np.ndarray | bytes | int | float):
  if isinstance(value, np.ndarray):
    return [_as_python(v) for v in value]
  return value.decode("utf-8") if isinstance(value, bytes) else value.item()


def test_tfds_reads_back_every_feature_of_every_example(tmp_path):
  data_dir = str(tmp_path)
  written = _write_shards(data_dir)
  tfds_metadata.write_tfds_metadata(data_dir, SPEC, SHARD_LENGTHS,
                                    num_bytes={"train": 123}, description="Test set.")

  builder = tfds.builder_from_directory(data_dir)
  assert builder.info.splits["train"].num_examples == 3
  assert builder.info.splits["train"].num_shards == 2
  assert builder.info.splits["eval"].num_examples == 2
  assert builder.info.description == "Test set."
  for split, expected in written.items():
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    read = [{k: _as_python(v) for k, v in example.items()}
            for example in tfds.as_numpy(dataset)]
    for got, want in zip(read, expected, strict=True):
      assert got.keys() == want.keys()
      assert got == want  # Exact: floats were chosen exact in float32.
  assert written["train"][0]["hist_item_ids"] == []  # The empty sequence was checked.
  assert len(written["train"][2]["hist_item_ids"]) == 2


def test_dtypes_and_shapes_follow_the_spec():
  features = tfds_metadata.tfds_features(SPEC)
  assert features["hist_item_ids"].shape == (None,)
  assert features["hist_item_ids"].dtype == tf.string
  assert features["position"].shape == ()
  assert features["position"].dtype == tf.int64
  assert features["price"].dtype == tf.float32


def test_shard_count_must_match_the_files(tmp_path):
  data_dir = str(tmp_path)
  _write_shards(data_dir)
  with pytest.raises(ValueError, match="'eval'.*3 shards"):
    tfds_metadata.write_tfds_metadata(data_dir, SPEC,
                                      {"train": [2, 1], "eval": [1, 1, 0]})
