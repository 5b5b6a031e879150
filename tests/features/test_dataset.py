"""Tests for features/dataset.py on hand-made published directories (no join job)."""

import os

import pytest
import tensorflow as tf

from features import dataset as dataset_lib
from features import example_serializer
from features import input as input_lib
from features import layout
from features import run_report
from features import spec as spec_lib


def _renamed_click_spec() -> spec_lib.FeatureSpec:
  """The default spec with its click label called `tap`: nothing may assume `click`."""
  payload = spec_lib.DEFAULT_SPEC.to_dict()
  for row in payload["features"]:
    if row["name"] == "click":
      row["name"] = "tap"
  for task in payload["tasks"].values():
    if task["label"] == "click":
      task["label"] = "tap"
    task["auxiliary_labels"] = ["tap" if label == "click" else label
                                for label in task.get("auxiliary_labels", [])]
  return spec_lib.FeatureSpec.from_dict(payload)


SPEC = _renamed_click_spec()
# Per split: (examples, taps). Train has two shards; only eval has a clicked view.
COUNTS = {layout.TRAIN: (10, 4), layout.EVAL: (6, 3)}


def _shard(split: str, index: int, of: int) -> str:
  return f"{layout.shard_prefix('', 'pfd', split)}-{index:05d}-of-{of:05d}"


def _write_records(path: str, records: list[bytes]) -> None:
  with tf.io.TFRecordWriter(path) as writer:
    for record in records:
      writer.write(record)


def publish(root: str, success: bool = True) -> str:
  """A published dataset of SPEC: spec, report, shards, a view, then `_SUCCESS`."""
  os.makedirs(root)
  serialize = example_serializer.ExampleSerializer(SPEC)
  facts = {}
  for split, (examples, taps) in COUNTS.items():
    records = [serialize({"impression_id": f"{split}-{i}", "tap": int(i < taps)})
               for i in range(examples)]
    num_shards = 2 if split == layout.TRAIN else 1
    for s in range(num_shards):
      _write_records(os.path.join(root, _shard(split, s, num_shards)),
                     records[s::num_shards])
    if split == layout.EVAL:
      _write_records(os.path.join(root, _shard(layout.clicked_view(split), 0, 1)),
                     records[:taps])
    facts[run_report.examples(split)] = examples
    facts[run_report.positives(split, "tap")] = taps
  report = run_report.build_report(facts, ["impressions"], "impressions", [], 0.01)
  files = {layout.SPEC_FILE: SPEC.to_json(),
           layout.REPORT_FILE: run_report.RunReport(report).to_json()}
  if success:
    files[layout.SUCCESS_FILE] = ""
  for name, text in files.items():
    with open(os.path.join(root, name), "w") as f:
      f.write(text)
  return root


@pytest.fixture
def data_dir(tmp_path):
  return publish(str(tmp_path / "examples"))


def test_open_reads_the_spec_and_the_report_once(data_dir, monkeypatch):
  dataset = dataset_lib.PublishedDataset.open(data_dir)
  os.remove(os.path.join(data_dir, layout.SPEC_FILE))
  os.remove(os.path.join(data_dir, layout.REPORT_FILE))

  def reopen(cls, path):
    raise AssertionError(f"{path} opened again")

  monkeypatch.setattr(dataset_lib.PublishedDataset, "open", classmethod(reopen))
  assert dataset.spec == SPEC
  assert dataset.report.examples(layout.TRAIN) == 10
  batches = input_lib.make_dataset(dataset, layout.TRAIN, "ctr", 4, shuffle=False)
  assert sum(len(labels) for _, labels in batches) == 10


def test_a_directory_without_success_is_not_a_dataset(tmp_path):
  unpublished = publish(str(tmp_path / "partial"), success=False)
  with pytest.raises(FileNotFoundError,
                     match="is not a published dataset: it has no _SUCCESS") as error:
    dataset_lib.PublishedDataset.open(unpublished)
  assert repr(unpublished) in str(error.value)
  with pytest.raises(FileNotFoundError, match="_SUCCESS"):
    input_lib.make_dataset(unpublished, layout.TRAIN, "ctr", 8)


@pytest.mark.parametrize("split", layout.SPLITS)
def test_example_count_is_the_taps_for_a_clicked_task_else_every_impression(data_dir,
                                                                           split):
  dataset = dataset_lib.PublishedDataset.open(data_dir)
  examples, taps = COUNTS[split]
  assert not SPEC.task("ctr").clicked_only and SPEC.task("cvr").clicked_only
  assert dataset.example_count(split, "ctr") == examples
  assert dataset.example_count(split, "cvr") == taps
  with pytest.raises(ValueError, match="Unknown task 'ltr'"):
    dataset.example_count(split, "ltr")


@pytest.mark.parametrize("split", layout.SPLITS)
def test_a_clicked_task_reads_the_view_or_filters_on_the_specs_click_label(data_dir,
                                                                         split):
  """Eval has a view, train is filtered; both hold the tapped impressions only."""
  dataset = dataset_lib.PublishedDataset.open(data_dir)
  assert dataset.has_view(layout.clicked_view(split)) == (split == layout.EVAL)
  examples = [tf.train.Example.FromString(r.numpy())
              for r in input_lib.task_records(dataset, split, "cvr")]
  _, taps = COUNTS[split]
  assert sorted(e.features.feature["impression_id"].bytes_list.value[0]
                for e in examples) == [f"{split}-{i}".encode() for i in range(taps)]


def test_shards_are_sorted_and_a_missing_split_names_itself(data_dir):
  dataset = dataset_lib.PublishedDataset.open(data_dir)
  assert dataset.splits == layout.SPLITS
  assert dataset.shards(layout.TRAIN) == [
      os.path.join(data_dir, _shard(layout.TRAIN, s, 2)) for s in range(2)]
  with pytest.raises(FileNotFoundError, match="No shards of split 'test'") as error:
    dataset.shards("test")
  assert repr(data_dir) in str(error.value)


def test_vocabulary_path_is_the_layouts_for_a_spec_vocabulary(data_dir):
  dataset = dataset_lib.PublishedDataset.open(data_dir)
  assert dataset.vocabulary_path("item_id") == layout.vocabulary_path(data_dir,
                                                                      "item_id")
  with pytest.raises(ValueError, match="No vocabulary 'colour'.*'item_id'"):
    dataset.vocabulary_path("colour")
