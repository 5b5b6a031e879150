"""Tests for features/dataset.py on hand-made published directories (no join job)."""

import hashlib
import json
import os
import shutil

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


def _write_vocabularies(data_dir: str, reversed_name: str | None = None) -> None:
  """Three tokens per vocabulary of SPEC (`reversed_name`'s in the reverse order)."""
  os.makedirs(os.path.join(data_dir, layout.VOCAB_DIR), exist_ok=True)
  for name in SPEC.vocabularies():
    tokens = [f"{name}_{i}" for i in range(3)]
    with open(layout.vocabulary_path(data_dir, name), "w") as f:
      f.write("".join(f"{t}\n" for t in (tokens[::-1] if name == reversed_name
                                         else tokens)))


def test_a_binding_digests_the_tasks_vocabularies_and_not_the_run_id(data_dir,
                                                                    tmp_path):
  _write_vocabularies(data_dir)
  binding = dataset_lib.PublishedDataset.open(data_dir).binding("cvr")
  used = {f.vocabulary for f in SPEC.regular("cvr") + SPEC.privileged("cvr")
          if f.vocabulary is not None}
  assert used and binding.vocabularies.keys() == used
  for name in used:
    with open(layout.vocabulary_path(data_dir, name), "rb") as f:
      assert binding.vocabularies[name] == hashlib.sha256(f.read()).hexdigest()
  assert (binding.task, binding.spec_fingerprint) == ("cvr", SPEC.fingerprint())
  record = json.loads(json.dumps(binding.to_dict()))
  assert dataset_lib.DataBinding.from_dict(record) == binding
  assert len(record["vocabulary_digest"]) == 64
  # The same data published again, by another run into another directory.
  again = str(tmp_path / "again")
  shutil.copytree(data_dir, again)
  with open(os.path.join(again, layout.REPORT_FILE)) as f:
    report = json.load(f)
  with open(os.path.join(again, layout.REPORT_FILE), "w") as f:
    json.dump({**report, run_report.RUN_ID: "another-run"}, f)
  republished = dataset_lib.PublishedDataset.open(again).binding("cvr")
  assert republished.run_id == "another-run" != binding.run_id
  assert binding.mismatch(republished) is None
  # One vocabulary in another order: every id would read another embedding row.
  changed = sorted(used)[0]
  _write_vocabularies(again, reversed_name=changed)
  reordered = dataset_lib.PublishedDataset.open(again).binding("cvr")
  what, here, there = binding.mismatch(reordered)
  assert what == f"vocabulary {changed!r}" and here != there
  assert here == f"sha256 {binding.vocabularies[changed][:12]}"
  assert reordered.vocabulary_digest != binding.vocabulary_digest
  assert binding.mismatch(dataset_lib.PublishedDataset.open(data_dir).binding(
      "ctr"))[0] == "task"
