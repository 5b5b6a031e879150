"""Tests for features/input_records.py: a task's records, filtered and counted."""

import shutil

import pytest
import tensorflow as tf

from features import dataset as dataset_lib
from features import input_records


@pytest.fixture(scope="module")
def data_dir(tiny_world):
  return tiny_world.examples_dir


def test_cvr_reads_the_clicked_view_or_filters_a_dataset_without_one(data_dir,
                                                                   tmp_path):
  without_view = str(tmp_path / "no_view")
  shutil.copytree(data_dir, without_view,
                  ignore=shutil.ignore_patterns("*_clicked.tfrecord-*"))

  def ids(directory):
    examples = (tf.train.Example.FromString(r.numpy())
                for r in input_records.task_records(directory, "train", "cvr"))
    return sorted(e.features.feature["impression_id"].bytes_list.value[0]
                  for e in examples)

  assert ids(data_dir) == ids(without_view)
  assert len(ids(data_dir)) > 0


def test_a_filtered_count_is_one_pass_per_dataset_object(data_dir, monkeypatch):
  dataset = dataset_lib.PublishedDataset.open(data_dir)
  counted = [input_records.example_count(dataset, "train", "ctr", fraction=0.5)]
  passes = []
  real = input_records.task_blocks
  monkeypatch.setattr(input_records, "task_blocks",
                      lambda *args, **kwargs: passes.append(1) or real(*args, **kwargs))
  counted.append(input_records.example_count(dataset, "train", "ctr", fraction=0.5))
  assert not passes and counted[0] == counted[1]
  other = dataset_lib.PublishedDataset.open(data_dir)  # A fresh object counts again.
  assert input_records.example_count(other, "train", "ctr", fraction=0.5) == counted[0]
  assert input_records.example_count(dataset, "train", "ctr", fraction=0.25) < counted[0]
  assert len(passes) == 2


def test_whole_runs_recut_elements_so_no_run_of_keys_spans_two():
  # Keys 1 1 | 1 2 2 | 3 | (empty) | 3 4: runs 1x3, 2x2, 3x2, 4x1.
  keys = [[1, 1], [1, 2, 2], [3], [], [3, 4]]
  elements = tf.data.Dataset.from_generator(
      lambda: ((tf.constant([f"r{k}" for k in ks], tf.string),
                tf.constant(ks, tf.int64)) for ks in keys),
      output_signature=(tf.TensorSpec([None], tf.string),
                        tf.TensorSpec([None], tf.int64)))
  recut = [list(k) for _, k in input_records.whole_runs(elements).as_numpy_iterator()]
  assert sum(recut, []) == sum(keys, [])  # The same rows in the same order,
  assert all(recut)  # none left empty,
  assert all(a[-1] != b[0] for a, b in zip(recut, recut[1:]))  # runs whole.
