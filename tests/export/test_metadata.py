"""Tests for export/metadata.py: what a published version says about itself."""

import json
import os
import re

import pytest

from export import gate
from export import metadata
from export import warmup
from features import spec as spec_lib

SPEC = spec_lib.DEFAULT_SPEC
TRAINING = {"mode": "pfd", "eval": {"student_auc": 0.7},
            "data": {"run_id": "run-1", "task": "cvr"}}
VALIDATION = {"eval_auc": 0.7, "parity_max_abs_diff": 0.0}


def _record(task: str = "cvr", **kwargs):
  kwargs = {"model_name": task, "version": 12, "spec": SPEC, "task": task,
            "signature_inputs": {"serving_default": ["examples"]},
            "training": TRAINING, "validation": VALIDATION, **kwargs}
  return metadata.build_metadata(**kwargs)


def test_metadata_records_what_was_left_out_and_the_gate_figures(published,
                                                                 trained_run):
  record = published.metadata
  task = trained_run.model.model_config.task
  privileged = [f.name for f in trained_run.spec.privileged(task)]
  assert record["privileged_features_excluded"] == privileged
  assert record["feature_spec_fingerprint"] == trained_run.spec.fingerprint()
  served = {key for keys in record["signatures"].values() for key in keys}
  assert served.isdisjoint(privileged) and "examples" in served
  assert record["validation"]["parity_max_abs_diff"] <= gate.PARITY_TOLERANCE
  assert record["validation"]["eval_examples"] == len(trained_run.examples.labels)
  assert record["training"]["mode"] == "pfd"


def test_metadata_binds_the_version_to_its_task_and_training_data(published,
                                                                  trained_run,
                                                                  tiny_world):
  data = published.metadata["data"]
  assert data == trained_run.run["data"]
  assert data["task"] == published.metadata["task"] == "ctr"
  assert data["run_id"] == tiny_world.report["run_id"] and data["run_id"]
  assert data["feature_spec_fingerprint"] == published.metadata[
      "feature_spec_fingerprint"]
  regular = {f.vocabulary for f in trained_run.spec.regular("ctr") if f.vocabulary}
  assert regular and regular <= data["vocabularies"].keys()
  assert len(data["vocabulary_digest"]) == 64


@pytest.mark.parametrize("task", sorted(SPEC.tasks))
def test_every_model_input_is_listed_once_under_its_role(task):
  record = _record(task)
  lists = [record["regular_features"], record["privileged_features_excluded"],
           record["excluded_features"]]
  listed = [name for names in lists for name in names]
  assert len(listed) == len(set(listed))
  # Labels and metadata are no model's input: none of the three lists has them.
  inputs = {f.name for f in SPEC
            if f.kind not in (spec_lib.Kind.LABEL, spec_lib.Kind.METADATA)}
  assert set(listed) == inputs
  assert record["privileged_features_excluded"] == [f.name
                                                    for f in SPEC.privileged(task)]
  assert record["regular_features"] == [f.name for f in SPEC.regular(task)]


def test_the_record_names_the_version_its_task_and_spec():
  record = _record("ctr", model_name="ranker", version=12)
  assert (record["model_name"], record["version"], record["task"]) == ("ranker", 12,
                                                                       "ctr")
  assert record["feature_spec_fingerprint"] == SPEC.fingerprint()
  assert record["signatures"] == {"serving_default": ["examples"]}
  assert record["training"] == TRAINING and record["validation"] == VALIDATION


def test_a_run_without_a_data_binding_records_none():
  # Runs of older code wrote no `data`; their export still says so explicitly.
  training = {k: v for k, v in TRAINING.items() if k != "data"}
  assert _record(training=training)["data"] is None
  assert _record()["data"] == TRAINING["data"]


def test_an_unknown_task_is_refused_by_name():
  with pytest.raises(ValueError, match="Unknown task 'ltr'"):
    _record("ltr")


def test_the_record_round_trips_through_the_versions_metadata_file(tmp_path):
  record = _record()
  path = metadata.write_metadata(str(tmp_path), record)
  # Beside the warm-up file, in the directory TF Serving does not load as a model.
  assert path == os.path.join(tmp_path, warmup.ASSETS_EXTRA, "model_metadata.json")
  with open(path) as f:
    assert json.load(f) == record
  assert metadata.read_metadata(str(tmp_path)) == record


def test_metadata_and_warmup_share_assets_extra(tmp_path):
  example = b""  # An empty tf.train.Example: enough for the warm-up builder.
  warmup.write_warmup(str(tmp_path), "cvr", [example])
  metadata.write_metadata(str(tmp_path), _record())
  assert metadata.read_metadata(str(tmp_path))["task"] == "cvr"
  assert len(warmup.read_warmup(str(tmp_path))) == 3  # Predict, Regress, Classify.


def test_a_version_without_metadata_names_its_directory_and_the_exporter(tmp_path):
  with pytest.raises(FileNotFoundError,
                     match=f"No model_metadata.json in {re.escape(str(tmp_path))}: .*"
                           "export.export_model"):
    metadata.read_metadata(str(tmp_path))
