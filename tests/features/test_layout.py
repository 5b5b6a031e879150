"""Tests for features/layout.py: the names a published dataset's files go by."""

import os

import pytest
import tensorflow as tf

from features import layout


def _shard(data_dir: str, dataset_name: str, split: str, index: int, of: int) -> str:
  """A shard's path as the join job writes it: the prefix, then -SSSSS-of-NNNNN."""
  return f"{layout.shard_prefix(data_dir, dataset_name, split)}-{index:05d}-of-{of:05d}"


def test_a_shard_prefix_is_tensorflow_datasets_template(tmp_path):
  # tfds.builder_from_directory reads <name>-<split>.tfrecord-SSSSS-of-NNNNN.
  assert layout.shard_prefix(str(tmp_path), "pfd", "train") == os.path.join(
      tmp_path, "pfd-train.tfrecord")


@pytest.mark.parametrize("dataset_name", ["pfd", "my-shop-logs"])
@pytest.mark.parametrize("split", [layout.TRAIN, layout.EVAL,
                                   layout.clicked_view(layout.TRAIN)])
def test_the_split_is_read_back_from_a_shard_name(dataset_name, split):
  # A hyphen in the dataset's name must not be taken for the split's separator.
  name = os.path.basename(_shard("/data", dataset_name, split, 0, 2))
  assert layout.split_of_shard(name, dataset_name) == split


@pytest.mark.parametrize("shard_name, dataset_name", [
    ("other-train.tfrecord-00000-of-00001", "pfd"),  # Another dataset's shard.
    ("pfd-train.json", "pfd"),  # Not a shard at all.
])
def test_a_name_that_is_not_the_datasets_shard_is_refused_by_name(shard_name,
                                                                  dataset_name):
  with pytest.raises(ValueError, match=f"{shard_name!r} is not a shard name of "
                                       f"dataset {dataset_name!r}"):
    layout.split_of_shard(shard_name, dataset_name)


def test_a_splits_glob_finds_its_shards_and_not_its_clicked_view(tmp_path):
  data_dir = str(tmp_path)
  written = {split: [_shard(data_dir, "pfd", split, i, 2) for i in range(2)]
             for split in (*layout.SPLITS, layout.clicked_view(layout.TRAIN))}
  for path in (p for paths in written.values() for p in paths):
    open(path, "w").close()
  for split, paths in written.items():
    assert sorted(tf.io.gfile.glob(layout.shard_glob(data_dir, split))) == paths


def test_a_splits_glob_ignores_the_datasets_name(tmp_path):
  path = _shard(str(tmp_path), "kuairand", layout.EVAL, 0, 1)
  open(path, "w").close()
  assert tf.io.gfile.glob(layout.shard_glob(str(tmp_path), layout.EVAL)) == [path]


def test_a_clicked_view_is_a_split_of_its_own():
  views = [layout.clicked_view(split) for split in layout.SPLITS]
  assert len(set(views)) == len(views)
  assert set(views).isdisjoint(layout.SPLITS)


def test_a_vocabulary_is_a_text_file_in_the_vocabulary_directory(tmp_path):
  assert layout.vocabulary_path(str(tmp_path), "item_id") == os.path.join(
      tmp_path, layout.VOCAB_DIR, "item_id.txt")
