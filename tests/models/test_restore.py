"""models.training.restore: a finished run rebuilt, or refused over other data."""

import json
import logging
import os
import shutil
import types

import numpy as np
import pytest
import tensorflow as tf

from features import dataset as dataset_lib
from features import layout
from models.training import restore
from synthetic import SPEC, build_ctr_model, make_batch

TASK = "ctr"


def _dataset(data_dir, run_id="join-1"):
  """`data_dir`'s vocabularies as a published dataset (its shards are not read)."""
  return dataset_lib.PublishedDataset(data_dir, SPEC,
                                      types.SimpleNamespace(run_id=run_id))


@pytest.fixture(name="finished", scope="module")
def _finished(data_dir, tmp_path_factory):
  """A run of one SGD step over `data_dir`, written as models.train writes it."""
  model_dir = str(tmp_path_factory.mktemp("run"))
  model = build_ctr_model(data_dir)
  model.fit(tf.data.Dataset.from_tensors(make_batch(0)), verbose=0)
  model.save_weights(os.path.join(model_dir, restore.FINAL_WEIGHTS))
  run = {"model_config": model.model_config.to_dict(),
         "data": _dataset(data_dir).binding(TASK).to_dict()}
  with open(os.path.join(model_dir, restore.METRICS_FILE), "w") as f:
    json.dump(run, f)
  return model_dir, model, run


@pytest.fixture(autouse=True)
def _eval_batches(monkeypatch):
  """The eval split that restore builds the variables from: a synthetic batch."""
  monkeypatch.setattr(restore.input_lib, "make_dataset",
                      lambda *args, **kwargs: iter([make_batch(5)]))


def test_the_restored_model_scores_as_the_trained_one(finished, data_dir):
  model_dir, trained, run = finished
  restored, restored_run = restore.restore_trained_model(model_dir, _dataset(data_dir))
  assert restored_run == run
  batch = make_batch(7)
  want, got = trained.predict_step(batch), restored.predict_step(batch)
  assert set(got) == {"student", "teacher"}
  for head in got:
    np.testing.assert_allclose(got[head].numpy(), want[head].numpy(), rtol=1e-6)


def test_the_optimizer_state_is_restored_into_the_optimizer_given(finished, data_dir):
  model_dir, trained, _ = finished
  optimizer = tf.keras.optimizers.SGD(0.1)
  restored, _ = restore.restore_trained_model(model_dir, _dataset(data_dir),
                                              optimizer)
  assert restored.optimizer is optimizer
  assert int(optimizer.iterations) == int(trained.optimizer.iterations) == 1


def test_a_directory_without_a_finished_run_is_refused(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"No metrics.json in .*: is it a "
                                              r"finished models.train run\?"):
    restore.read_run(str(tmp_path))


def test_the_same_vocabularies_elsewhere_stand_in(finished, data_dir, tmp_path):
  model_dir, _, run = finished
  elsewhere = str(tmp_path / "rejoined")
  shutil.copytree(data_dir, elsewhere)
  # Another directory and join run: neither is what the weights depend on.
  restore.check_binding(model_dir, run, _dataset(elsewhere, run_id="join-2"))


def test_another_vocabulary_is_refused_naming_it_both_datasets_and_the_fix(
    finished, data_dir, tmp_path):
  model_dir, _, run = finished
  other = str(tmp_path / "other")
  shutil.copytree(data_dir, other)
  name = sorted(run["data"]["vocabularies"])[0]
  path = layout.vocabulary_path(other, name)
  with open(path) as f:
    tokens = f.read().splitlines()
  with open(path, "w") as f:
    f.write("".join(f"{t}\n" for t in reversed(tokens)))
  with pytest.raises(ValueError) as error:
    restore.restore_trained_model(model_dir, _dataset(other))
  message = str(error.value)
  assert f"its vocabulary {name!r} is sha256 " in message
  assert repr(other) in message and repr(data_dir) in message
  assert "pass the --data_dir the run was trained on" in message


def test_a_run_without_a_data_binding_is_not_checked_but_warned_of(data_dir, caplog):
  with caplog.at_level(logging.WARNING):
    restore.check_binding("old_run", {"model_config": {}}, _dataset(data_dir))
  assert "old_run records no data binding" in caplog.text
