"""Tests for features/input.py on a tiny dataset published by the real join job."""

import glob
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from features import dataset as dataset_lib
from features import input as input_lib
from features import spec as spec_lib

SPEC = spec_lib.DEFAULT_SPEC


@pytest.fixture(scope="module")
def data_dir(tiny_world):
  return tiny_world.examples_dir


@pytest.fixture(scope="module")
def report(data_dir):
  with open(os.path.join(data_dir, "run_report.json")) as f:
    return json.load(f)


@pytest.fixture(scope="module")
def records(data_dir):
  """impression_id -> the train split's tf.train.Example, read without input.py."""
  paths = tf.io.gfile.glob(os.path.join(data_dir, "pfd-train.tfrecord-*"))
  examples = [tf.train.Example.FromString(r)
              for r in tf.data.TFRecordDataset(paths).as_numpy_iterator()]
  return {e.features.feature["impression_id"].bytes_list.value[0]: e for e in examples}


def _int(example, name):
  return example.features.feature[name].int64_list.value[0]


def _epoch(data_dir, split, task, batch_size=64, **kwargs):
  """All batches of one unshuffled pass, as numpy."""
  kwargs.setdefault("shuffle", False)
  dataset = input_lib.make_dataset(data_dir, split, task, batch_size, **kwargs)
  return list(dataset.as_numpy_iterator())


def _assert_full_batches(batches, batch_size, total):
  """All batches hold batch_size examples but one, the remainder (in any order)."""
  sizes = sorted((len(labels) for _, labels in batches), reverse=True)
  assert sizes == [batch_size] * (total // batch_size) + (
      [total % batch_size] if total % batch_size else [])


def _impression_ids(batches):
  return [i for features, _ in batches for i in features["impression_id"]]


def test_batches_have_the_requested_size_and_the_task_inputs(data_dir, report):
  batches = _epoch(data_dir, "train", "ctr", batch_size=64)
  _assert_full_batches(batches, 64, report["examples"]["train"])
  features, labels = batches[0]
  inputs = {f.name for f in SPEC.regular("ctr") + SPEC.privileged("ctr")}
  metadata = {f.name for f in SPEC.metadata_features()}
  assert {"user_id", "impression_id", "price"} <= metadata
  assert set(features) == inputs | metadata
  assert labels.dtype == np.float32
  assert features["price"].shape == (64,)


def test_drop_remainder_gives_a_static_batch_dimension(data_dir):
  for task in SPEC.tasks:
    dataset = input_lib.make_dataset(data_dir, "train", task, 16, drop_remainder=True,
                                     seed=1)
    features, labels = dataset.element_spec
    assert labels.shape == (16,)
    assert features["hist_item_ids"].shape.as_list() == [16, None]
    assert all(len(labels) == 16 for _, labels in dataset.as_numpy_iterator())


def test_sequences_are_what_the_example_holds(data_dir, records):
  def hist(example):
    return list(example.features.feature["hist_item_ids"].bytes_list.value)

  longest = max(records.values(), key=lambda e: len(hist(e)))
  assert len(hist(longest)) > 1
  impression_id = longest.features.feature["impression_id"].bytes_list.value[0]
  for features, _ in input_lib.make_dataset(data_dir, "train", "ctr", 64, seed=0):
    assert isinstance(features["hist_item_ids"], tf.RaggedTensor)
    rows = np.flatnonzero(features["impression_id"].numpy() == impression_id)
    if rows.size:
      assert features["hist_item_ids"][rows[0]].numpy().tolist() == hist(longest)
      return
  pytest.fail(f"Impression {impression_id!r} not found.")


def test_cvr_yields_only_clicked_rows_labelled_with_purchase(data_dir, report,
                                                             records):
  batches = _epoch(data_dir, "train", "cvr", batch_size=16)
  _assert_full_batches(batches, 16, report["positives"]["train/click"])
  for features, labels in batches:
    for impression_id, label in zip(features["impression_id"], labels):
      example = records[impression_id]
      assert _int(example, "click") == 1
      assert label == _int(example, "purchase")
  assert sum(labels.sum() for _, labels in batches) == (
      report["positives"].get("train/purchase", 0))


@pytest.mark.parametrize("split", ["train", "eval"])
def test_ctr_epoch_matches_the_run_report(data_dir, report, split):
  batches = _epoch(data_dir, split, "ctr", batch_size=128)
  labels = np.concatenate([labels for _, labels in batches])
  assert len(labels) == report["examples"][split]
  assert labels.sum() == report["positives"][f"{split}/click"]
  assert set(np.unique(labels)) == {0.0, 1.0}


@pytest.mark.parametrize("task, batch_size, drop_remainder", [
    ("ctr", 128, False), ("ctr", 128, True), ("cvr", 7, False)])
def test_cardinality_is_the_number_of_batches_a_pass_yields(data_dir, report, task,
                                                            batch_size, drop_remainder):
  dataset = input_lib.make_dataset(data_dir, "train", task, batch_size, seed=1,
                                   drop_remainder=drop_remainder)
  examples = dataset_lib.PublishedDataset.open(data_dir).example_count("train", task)
  assert examples == (report["positives"]["train/click"] if task == "cvr"
                      else report["examples"]["train"])
  num_batches = len(list(dataset.as_numpy_iterator()))
  assert dataset.cardinality().numpy() == num_batches
  assert num_batches == (examples // batch_size if drop_remainder
                         else -(-examples // batch_size))


def test_a_dataset_shorter_than_its_report_fails_at_the_end_of_a_pass(data_dir,
                                                                      tmp_path):
  tampered = str(tmp_path / "tampered")
  shutil.copytree(data_dir, tampered)
  report_path = os.path.join(tampered, "run_report.json")
  with open(report_path) as f:
    report = json.load(f)
  report["examples"]["train"] += 1000
  with open(report_path, "w") as f:
    json.dump(report, f)
  with pytest.raises(tf.errors.FailedPreconditionError, match="expected to contain"):
    list(input_lib.make_dataset(tampered, "train", "ctr", 128, shuffle=False))


def test_deterministic_order_repeats_and_the_seed_changes_it(data_dir):
  def order(**kwargs):
    return _impression_ids(_epoch(data_dir, "train", "ctr", shuffle=True,
                                  shuffle_buffer=500, **kwargs))

  first = order(seed=7, deterministic=True)
  assert order(seed=7, deterministic=True) == first
  assert order(seed=8) != first
  assert sorted(order(seed=8)) == sorted(first)


def test_repeat_runs_batches_across_epochs(data_dir, report):
  batch_size = 1500  # Not a divisor of the 2000 train examples.
  assert report["examples"]["train"] % batch_size
  dataset = input_lib.make_dataset(data_dir, "train", "ctr", batch_size, seed=3,
                                   repeat=True)
  assert [len(labels) for _, labels in dataset.take(3)] == [batch_size] * 3


def test_unpublished_dataset_is_refused(data_dir, tmp_path):
  unpublished = str(tmp_path / "examples")
  shutil.copytree(data_dir, unpublished)
  os.remove(os.path.join(unpublished, "_SUCCESS"))
  with pytest.raises(FileNotFoundError, match="_SUCCESS") as error:
    input_lib.make_dataset(unpublished, "train", "ctr", 8)
  assert unpublished in str(error.value)
  with pytest.raises(FileNotFoundError, match="_SUCCESS"):
    input_lib.task_records(unpublished, "train", "ctr")


def test_the_dataset_carries_the_spec_it_was_written_with(data_dir):
  dataset = dataset_lib.PublishedDataset.open(data_dir)
  assert dataset.spec.fingerprint() == SPEC.fingerprint()


@pytest.mark.parametrize("task", sorted(SPEC.tasks))
def test_teacher_gets_privileged_features_and_student_names_restrict(data_dir, task):
  privileged = {f.name for f in SPEC.privileged(task)}
  excluded = {f.name for f in SPEC.with_role(task, spec_lib.Role.EXCLUDED)}
  teacher, _ = next(iter(input_lib.make_dataset(data_dir, "train", task, 8, seed=0)))
  assert privileged <= set(teacher)
  assert not excluded & set(teacher)

  regular = [f.name for f in SPEC.regular(task)]
  student, _ = next(iter(input_lib.make_dataset(data_dir, "train", task, 8, seed=0,
                                                features=regular)))
  # A task's auxiliary labels come too: a multi-task head's loss reads them.
  assert set(student) == set(regular) | set(SPEC.task(task).auxiliary_labels)


def test_ctcvr_is_purchase_over_all_impressions_with_the_click_beside_it(data_dir,
                                                                        report,
                                                                        records):
  batches = _epoch(data_dir, "train", "ctcvr", batch_size=256)
  _assert_full_batches(batches, 256, report["examples"]["train"])
  for features, labels in batches:
    assert features["click"].dtype == np.float32
    for impression_id, click, label in zip(features["impression_id"],
                                           features["click"], labels):
      example = records[impression_id]
      assert (click, label) == (_int(example, "click"), _int(example, "purchase"))
      assert label <= click  # ESMM's premise: a purchase follows a click.


@pytest.mark.parametrize("task", ["ctr", "cvr"])
def test_a_fraction_is_one_fixed_subset_of_about_that_share(data_dir, task):
  everything = set(_impression_ids(_epoch(data_dir, "train", task)))
  half = _impression_ids(_epoch(data_dir, "train", task, fraction=0.5))
  shuffled = input_lib.make_dataset(data_dir, "train", task, 64, fraction=0.5, seed=3)
  assert sorted(i for features, _ in shuffled.as_numpy_iterator()
                for i in features["impression_id"]) == sorted(half)
  assert set(half) < everything and len(set(half)) == len(half)
  # A binomial share of the records: within 4 standard deviations of a half.
  assert abs(len(half) - len(everything) / 2) < 4 * np.sqrt(len(everything) / 4)
  dataset = dataset_lib.PublishedDataset.open(data_dir)
  assert input_lib.example_count(dataset, "train", task, fraction=0.5) == len(half)
  assert set(_impression_ids(_epoch(data_dir, "train", task, fraction=0.25))) < set(half)


@pytest.mark.parametrize("kwargs, message", [
    (dict(split="test"), "Unknown split 'test'; known splits: \\['train', 'eval'\\]"),
    (dict(task="ltr"),
     "Unknown task 'ltr'; this spec's tasks: \\['ctcvr', 'ctr', 'cvr'\\]"),
    (dict(features=["price", "colour"]), "Unknown features \\['colour'\\]"),
    (dict(features=["price", "click"]), "\\['click'\\] cannot be inputs"),
    (dict(features=["dwell_ms_total"]), "\\['dwell_ms_total'\\] cannot be inputs"),
    (dict(deterministic=True), "with a seed"),
    (dict(batch_size=0), "batch_size must be >= 1, got 0"),
    (dict(fraction=0.0), "fraction must be in \\(0, 1\\], got 0.0"),
])
def test_bad_arguments_name_the_offending_value(data_dir, kwargs, message):
  arguments = dict(split="train", task="ctr", batch_size=8) | kwargs
  with pytest.raises(ValueError, match=message):
    input_lib.make_dataset(data_dir, **arguments)


def test_examples_per_second_counts_timed_batches(data_dir):
  dataset = input_lib.make_dataset(data_dir, "train", "ctr", 100, seed=0)
  assert input_lib.examples_per_second(dataset, num_batches=5) > 0
  with pytest.raises(ValueError, match="ended before 31 batches"):
    input_lib.examples_per_second(dataset, num_batches=30)  # 2000 examples: 20.


def _reshard(data_dir, tmp_path, num_shards):
  """A copy of the dataset whose train split is `num_shards` files."""
  copy = str(tmp_path / "resharded")
  shutil.copytree(data_dir, copy)
  (path,) = tf.io.gfile.glob(os.path.join(copy, "pfd-train.tfrecord-*"))
  records = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
  os.remove(path)
  for shard in range(num_shards):
    name = f"pfd-train.tfrecord-{shard:05d}-of-{num_shards:05d}"
    with tf.io.TFRecordWriter(os.path.join(copy, name)) as writer:
      for record in records[shard::num_shards]:
        writer.write(record)
  return copy


@pytest.mark.parametrize("num_shards", [1, 3])  # Fewer shards than pipelines, more.
def test_input_pipelines_split_the_examples_between_them(data_dir, report, tmp_path,
                                                         num_shards):
  data_dir = _reshard(data_dir, tmp_path, num_shards)
  total = report["examples"]["train"]
  shares = []
  for pipeline in range(2):
    context = tf.distribute.InputContext(num_input_pipelines=2,
                                         input_pipeline_id=pipeline)
    dataset = input_lib.make_dataset(data_dir, "train", "ctr", 100, shuffle=False,
                                     deterministic=True, repeat=True,
                                     input_context=context)
    # Unshuffled and ordered, every pass over a share is the same: the first ends where an id
    # comes again.
    ids = _impression_ids(dataset.take(total // 100 + 1).as_numpy_iterator())
    first_pass = ids[:ids.index(ids[0], 1)]
    assert len(set(first_pass)) == len(first_pass)
    shares.append(set(first_pass))
  assert not shares[0] & shares[1]
  assert len(shares[0] | shares[1]) == total
  assert min(len(s) for s in shares) > total / 4


def test_an_input_context_needs_repeat(data_dir):
  with pytest.raises(ValueError, match="repeat"):
    input_lib.make_dataset(data_dir, "train", "ctr", 8, seed=0,
                           input_context=tf.distribute.InputContext(2, 0))


@pytest.mark.parametrize("task", ["ctr", "cvr"])
def test_request_batches_hold_whole_requests_and_every_example(data_dir, task):
  batches = _epoch(data_dir, "train", task, batch_size=64, shuffle=True,
                   shuffle_buffer=500, seed=1, group_by_request=True)
  per_batch = [set(features[SPEC.request_feature]) for features, _ in batches]
  # A request lies in one batch only, and no example is lost or repeated.
  assert sum(len(s) for s in per_batch) == len(set().union(*per_batch))
  ids = _impression_ids(batches)
  assert len(ids) == len(set(ids))
  assert set(ids) == set(_impression_ids(_epoch(data_dir, "train", task)))
  # As many batches as without requests, each near the batch size.
  assert len(batches) == -(-len(ids) // 64)
  assert max(len(labels) for _, labels in batches) < 64 + 20


def test_repeated_request_batches_hold_each_request_once_per_pass(data_dir):
  # A window larger than the split: repeated before the shuffle, one window would
  # hold two passes' copies of every request, merged into one request.
  examples = len(_impression_ids(_epoch(data_dir, "train", "ctr")))
  dataset = input_lib.make_dataset(data_dir, "train", "ctr", 64, repeat=True,
                                   shuffle_buffer=10 * examples, seed=1,
                                   deterministic=True, group_by_request=True)
  passes = 2
  batches = list(dataset.take(passes * -(-examples // 64)).as_numpy_iterator())
  ids = _impression_ids(batches)
  assert len(ids) == passes * examples and max(len(l) for _, l in batches) < 64 + 20
  first = _impression_ids(batches[:len(batches) // passes])
  assert sorted(first) == sorted(set(ids))


def test_request_batches_reshuffle_whole_requests_each_pass(data_dir):
  dataset = input_lib.make_dataset(data_dir, "train", "ctr", 64, shuffle_buffer=500,
                                   seed=3, deterministic=True, group_by_request=True)

  def request_order():
    order = [r for features, _ in dataset.as_numpy_iterator()
             for r in features[SPEC.request_feature]]
    return list(dict.fromkeys(order))  # Each request once, where it first comes.

  first, second = request_order(), request_order()
  assert sorted(first) == sorted(second) and first != second
  unshuffled = list(dict.fromkeys(
      r for features, _ in _epoch(data_dir, "train", "ctr", group_by_request=True)
      for r in features[SPEC.request_feature]))
  assert first != unshuffled


def test_request_batches_need_a_request_feature_and_varying_sizes(data_dir, tmp_path):
  with pytest.raises(ValueError, match="drop_remainder"):
    input_lib.make_dataset(data_dir, "train", "ctr", 8, group_by_request=True,
                           drop_remainder=True)
  copy = str(tmp_path / "no_requests")
  shutil.copytree(data_dir, copy)
  path = os.path.join(copy, "feature_spec.json")
  with open(path) as f:
    payload = json.load(f)
  del payload["identity"]["request"]
  with open(path, "w") as f:
    json.dump(payload, f)
  with pytest.raises(ValueError, match="identity: request"):
    input_lib.make_dataset(copy, "train", "ctr", 8, group_by_request=True)


def test_a_cached_subset_is_read_once_and_reshuffled_each_pass(data_dir, tmp_path):
  copy = str(tmp_path / "copy")
  shutil.copytree(data_dir, copy)
  dataset = input_lib.make_dataset(copy, "train", "ctr", 64, fraction=0.5, seed=2,
                                   shuffle_buffer=10_000, cache=True)
  first = _impression_ids(dataset.as_numpy_iterator())
  for shard in glob.glob(os.path.join(copy, "*-train.tfrecord-*")):
    os.remove(shard)  # A second pass that read the split again would fail.
  second = _impression_ids(dataset.as_numpy_iterator())
  assert sorted(first) == sorted(second) == sorted(
      _impression_ids(_epoch(data_dir, "train", "ctr", fraction=0.5)))
  assert first != second


def test_a_repeated_split_is_endless_and_each_pass_a_new_permutation(data_dir, report):
  total, batch_size = report["examples"]["train"], 500
  assert total % batch_size == 0
  dataset = input_lib.make_dataset(data_dir, "train", "ctr", batch_size, seed=3,
                                   deterministic=True, repeat=True)
  # Declared: a trainer reads it as one stream and counts its steps.
  assert int(dataset.cardinality()) == tf.data.INFINITE_CARDINALITY
  ids = _impression_ids(dataset.take(2 * total // batch_size).as_numpy_iterator())
  first, second = ids[:total], ids[total:]
  # Every example once per pass (the window spans no two passes), in a new order.
  assert sorted(first) == sorted(second) and len(set(first)) == total
  assert first != second
