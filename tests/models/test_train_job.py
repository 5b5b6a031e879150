"""The models.train job through its command line: a run is bound to its config and
data, and a --model_dir that holds another run is refused, not trained over."""

import dataclasses
import hashlib
import json
import os
import subprocess
import sys

import pytest

from features import dataset as dataset_lib
from models import train
from models.training import run_directory
from models.training import restore
from models.config import ModelConfig

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
TASK = "cvr"
FLAGS = {"mode": "student", "epochs": "1", "steps_per_epoch": "2", "batch_size": "16",
         "embedding_dim": "4", "student_hidden": "8"}


def _train(data_dir: str, model_dir: str, *extra: str, **flags: str
           ) -> subprocess.CompletedProcess:
  flags = {"task": TASK, **FLAGS, **flags}
  return subprocess.run(
      [sys.executable, "-m", "models.train", f"--data_dir={data_dir}",
       f"--model_dir={model_dir}", *(f"--{k}={v}" for k, v in flags.items()), *extra],
      capture_output=True, text=True, env=ENV)


@pytest.fixture(scope="module")
def finished(tiny_world, tmp_path_factory) -> str:
  model_dir = str(tmp_path_factory.mktemp("train_job") / TASK)
  done = _train(tiny_world.examples_dir, model_dir)
  assert done.returncode == 0, done.stderr[-3000:]
  return model_dir


def _metrics(model_dir: str) -> dict:
  with open(os.path.join(model_dir, restore.METRICS_FILE)) as f:
    return json.load(f)


def test_metrics_record_the_task_the_datasets_run_spec_and_vocabularies(
    finished, tiny_world):
  results = _metrics(finished)
  data = results["data"]
  dataset = dataset_lib.PublishedDataset.open(tiny_world.examples_dir)
  assert data["task"] == results["task"] == TASK
  assert data["run_id"] == tiny_world.report["run_id"] and data["run_id"]
  assert data["feature_spec_fingerprint"] == dataset.spec.fingerprint()
  spec = dataset.spec
  used = {f.vocabulary for f in spec.regular(TASK) + spec.privileged(TASK)
          if f.vocabulary is not None}
  assert data["vocabularies"].keys() == used
  for name in used:
    with open(dataset.vocabulary_path(name), "rb") as f:
      assert data["vocabularies"][name] == hashlib.sha256(f.read()).hexdigest()
  assert data["vocabulary_digest"] == dataset.binding(TASK).vocabulary_digest
  # What the run recorded before it trained says the same.
  with open(os.path.join(finished, run_directory.RUN_CONFIG_FILE)) as f:
    assert json.load(f) == {"requested": results["requested"], "data": data}


def test_a_model_dir_of_another_task_is_refused_in_one_line(finished, tiny_world):
  before = os.stat(os.path.join(finished, restore.METRICS_FILE)).st_mtime_ns
  out = _train(tiny_world.examples_dir, finished, task="ctr")
  assert out.returncode != 0
  lines = [line for line in out.stderr.splitlines()
           if "holds a run of another config" in line]
  assert lines, out.stderr[-3000:]
  assert repr(finished) in lines[0] and "task is 'cvr' there, 'ctr' now" in lines[0]
  assert "--overwrite" in lines[0]
  assert "incompatible tensor" not in out.stderr  # Refused before any restore.
  assert os.stat(os.path.join(finished, restore.METRICS_FILE)).st_mtime_ns == before


def test_a_finished_run_is_refused_and_trained_again_with_overwrite(finished,
                                                                    tiny_world):
  refused = _train(tiny_world.examples_dir, finished)
  assert refused.returncode != 0
  assert "holds a finished run of this config" in refused.stderr
  first = _metrics(finished)
  stale = os.path.join(finished, "checkpoints", "stale-file")
  open(stale, "w").close()
  again = _train(tiny_world.examples_dir, finished, "--overwrite")
  assert again.returncode == 0, again.stderr[-3000:]
  assert not os.path.exists(stale)  # The old run was removed first.
  second = _metrics(finished)
  assert second["run_seconds"] != first["run_seconds"]
  assert second["requested"] == first["requested"]


def test_a_killed_run_is_recognised_by_what_it_recorded_first(finished, tiny_world,
                                                              tmp_path):
  """Only run_config.json and a backup: the same configs resume, others are refused
  naming the first difference; files no run writes are never removed."""
  killed = tmp_path / "killed"
  (killed / "backup").mkdir(parents=True)
  with open(os.path.join(finished, run_directory.RUN_CONFIG_FILE)) as f:
    (killed / run_directory.RUN_CONFIG_FILE).write_text(f.read())
  requested = _metrics(finished)["requested"]
  model_config = ModelConfig.from_dict(requested["model_config"])
  train_config = train.TrainConfig(**{
      k: tuple(v) if isinstance(v, list) else v
      for k, v in requested["train_config"].items()})
  binding = dataset_lib.PublishedDataset.open(tiny_world.examples_dir).binding(TASK)
  assert run_directory.model_dir_conflict(str(killed), model_config, train_config,
                                  binding) is None
  conflict = run_directory.model_dir_conflict(
      str(killed), model_config, dataclasses.replace(train_config, batch_size=32),
      binding)
  assert "train_config.batch_size is 16 there, 32 now" in conflict
  (killed / run_directory.RUN_CONFIG_FILE).unlink()  # As a run of older code left it.
  assert "recorded no run_config.json" in run_directory.model_dir_conflict(
      str(killed), model_config, train_config, binding)

  foreign = tmp_path / "foreign"
  foreign.mkdir()
  (foreign / "notes.txt").write_text("mine")
  with pytest.raises(ValueError, match="holds files no models.train run writes"):
    train.train_and_evaluate(tiny_world.examples_dir, str(foreign), model_config,
                             train_config, overwrite=True)
  assert (foreign / "notes.txt").read_text() == "mine"
