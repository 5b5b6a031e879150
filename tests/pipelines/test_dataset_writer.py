"""Tests for pipelines/dataset_writer.py's shard counting (tfds' shard lengths)."""

import pytest
import tensorflow as tf

from pipelines import dataset_writer

RECORDS = [b"", b"x", b"y" * 100, b"z" * 5000, b"w" * 17]


def write_shard(path, records):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for record in records:
      writer.write(record)


@pytest.mark.parametrize("chunk_bytes", [1, 11, 12, 13, 64, 4096, 1 << 22])
@pytest.mark.parametrize("records", [[], RECORDS, RECORDS * 50])
def test_counts_the_records_whatever_the_chunk_size(tmp_path, chunk_bytes, records):
  path = tmp_path / "pfd-train.tfrecord-00000-of-00001"
  write_shard(path, records)
  assert dataset_writer._count_records(str(path), chunk_bytes) == (
      "shard/pfd-train.tfrecord-00000-of-00001", len(records))


def test_a_truncated_header_is_named(tmp_path):
  path = tmp_path / "shard"
  write_shard(path, RECORDS)
  path.write_bytes(path.read_bytes() + b"\x05\x00\x00")
  with pytest.raises(ValueError, match="truncated TFRecord header after 5 records"):
    dataset_writer._count_records(str(path), chunk_bytes=7)
