"""Tests for models/training/run_directory.py: which runs a model directory admits."""

import json
import os

import pytest

from features import dataset as dataset_lib
from models.config import ModelConfig
from models.training import run_directory
from models.training.restore import METRICS_FILE
from models.training.train_config import TrainConfig

MODEL = ModelConfig(task="cvr", embedding_dim=4)
TRAIN = TrainConfig(epochs=1)
DATA = dataset_lib.DataBinding("cvr", "/data/d1", "run1", "spec1", {"item_id": "aa"})


def _write(model_dir, name, record):
  os.makedirs(model_dir, exist_ok=True)
  with open(os.path.join(model_dir, name), "w") as f:
    json.dump(record, f)


def _conflict(model_dir, model=MODEL, data=DATA):
  return run_directory.model_dir_conflict(str(model_dir), model, TRAIN, data)


def test_a_new_or_empty_directory_or_a_killed_run_of_the_same_configs_admits_it(
    tmp_path):
  assert _conflict(tmp_path / "new") is None
  assert _conflict(tmp_path) is None
  _write(str(tmp_path), run_directory.RUN_CONFIG_FILE,
         run_directory.run_record(MODEL, TRAIN, DATA))
  assert _conflict(tmp_path) is None  # It resumes.


def test_another_config_or_data_is_refused_naming_what_differs(tmp_path):
  _write(str(tmp_path), run_directory.RUN_CONFIG_FILE,
         run_directory.run_record(MODEL, TRAIN, DATA))
  refusal = _conflict(tmp_path, model=ModelConfig(task="cvr", embedding_dim=8))
  assert "model_config.embedding_dim is 4 there, 8 now" in refusal
  other_data = dataset_lib.DataBinding("cvr", "/data/d1", "run1", "spec1",
                                       {"item_id": "bb"})
  assert "holds a run of another config" in _conflict(tmp_path, data=other_data)


def test_a_knob_recorded_at_its_default_or_not_recorded_is_the_same_run(tmp_path):
  record = run_directory.run_record(MODEL, TRAIN, DATA)
  del record["requested"]["model_config"]["temperature"]  # A knob added since.
  _write(str(tmp_path), METRICS_FILE, record)
  assert run_directory.finished_run(str(tmp_path), MODEL, TRAIN, DATA) == record
  assert run_directory.finished_run(
      str(tmp_path), ModelConfig(task="cvr", embedding_dim=4, temperature=2.0), TRAIN,
      DATA) is None


def test_a_finished_run_is_refused_unless_overwritten_and_then_removed(tmp_path):
  model_dir = str(tmp_path / "run")
  _write(model_dir, METRICS_FILE, run_directory.run_record(MODEL, TRAIN, DATA))
  conflict = _conflict(model_dir)
  assert "holds a finished run of this config" in conflict
  with pytest.raises(ValueError, match="finished run"):
    run_directory.prepare_model_dir(model_dir, {"new": 1}, conflict, overwrite=False,
                                    is_chief=True)
  run_directory.prepare_model_dir(model_dir, {"new": 1}, conflict, overwrite=True,
                                  is_chief=True)
  assert sorted(os.listdir(model_dir)) == [run_directory.RUN_CONFIG_FILE]


def test_files_no_run_writes_are_never_removed(tmp_path):
  _write(str(tmp_path), "notes.txt", {})
  conflict = _conflict(tmp_path)
  assert "files no models.train run writes (e.g. 'notes.txt')" in conflict
  with pytest.raises(ValueError, match="notes.txt"):
    run_directory.prepare_model_dir(str(tmp_path), {}, conflict, overwrite=True,
                                    is_chief=True)
  assert os.listdir(tmp_path) == ["notes.txt"]


def test_a_run_of_older_code_without_its_record_is_refused(tmp_path):
  os.makedirs(tmp_path / "checkpoints")
  assert f"recorded no {run_directory.RUN_CONFIG_FILE}" in _conflict(tmp_path)


def test_only_the_chief_records_the_run(tmp_path):
  run_directory.prepare_model_dir(str(tmp_path / "w"), {"a": 1}, None,
                                  overwrite=False, is_chief=False)
  assert not os.path.exists(tmp_path / "w")
  run_directory.prepare_model_dir(str(tmp_path / "c"), {"a": 1}, None,
                                  overwrite=False, is_chief=True)
  with open(tmp_path / "c" / run_directory.RUN_CONFIG_FILE) as f:
    assert json.load(f) == {"a": 1}
