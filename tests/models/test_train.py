"""The training job: modes end to end on the tiny world, its outputs, its checks."""

import json
import os

import pytest
import tensorflow as tf

from features import dataset as dataset_lib
from features import spec as spec_lib
from models import compare
from models import metrics
from models import train
from models.config import Mode, ModelConfig

SMALL = dict(task="ctr", embedding_dim=4, student_hidden=(8,), teacher_hidden=(8,))
FAST = train.TrainConfig(batch_size=128, epochs=1, steps_per_epoch=5)


def test_two_stage_writes_both_stages_and_reports_both_heads(tiny_world, tmp_path):
  results = train.train_and_evaluate(tiny_world.examples_dir, str(tmp_path),
                                     ModelConfig(mode="two_stage", **SMALL), FAST)
  on_disk = json.load(open(tmp_path / "metrics.json"))
  assert on_disk["eval"] == pytest.approx(results["eval"])
  assert {"student_auc", "teacher_auc", "student_gauc", "teacher_expensive_auc"} <= set(
      results["eval"])
  assert os.listdir(tmp_path / "stage1_teacher" / "checkpoints")
  assert os.listdir(tmp_path / "checkpoints")
  assert os.listdir(tmp_path / "tensorboard")
  assert results["model_config"]["mode"] == "two_stage"
  # The eval scores behind the figures, for paired tests between runs.
  scores = train.read_scores(str(tmp_path))
  assert len(scores["labels"]) == results["eval"]["eval_examples"]
  assert scores["labels"].sum() == results["eval"]["eval_positives"]
  for head in ("student", "teacher"):
    # Keras's AUC sums 200 thresholds: near the exact one, not equal.
    assert metrics.auc(scores["labels"], scores[head]) == pytest.approx(
        results["eval"][f"{head}_auc"], abs=2e-3)


def test_mirrored_strategy_trains(tiny_world, tmp_path):
  results = train.train_and_evaluate(
      tiny_world.examples_dir, str(tmp_path), ModelConfig(mode="student", **SMALL),
      train.TrainConfig(batch_size=128, epochs=1, steps_per_epoch=3,
                        strategy="mirrored"))
  assert "teacher_auc" not in results["eval"]
  assert 0 <= results["eval"]["student_auc"] <= 1


def test_each_epoch_takes_one_optimizer_step_per_batch(tiny_world, tmp_path):
  """Keras counted a step too many over a dataset of unknown length: the swap step
  would have moved."""
  batch_size, epochs = 64, 2
  results = train.train_and_evaluate(
      tiny_world.examples_dir, str(tmp_path),
      ModelConfig(mode="student", **{**SMALL, "task": "cvr"}),
      train.TrainConfig(batch_size=batch_size, epochs=epochs))
  examples = dataset_lib.PublishedDataset.open(tiny_world.examples_dir).example_count(
      "train", "cvr")
  assert results["train_steps"] == epochs * -(-examples // batch_size)


def test_train_config_rejects_unknown_strategy():
  with pytest.raises(ValueError, match="strategy"):
    train.TrainConfig(strategy="tpu")


def test_compare_table_has_a_row_per_head_and_the_ceilings(tiny_world, tmp_path):
  rows = compare.run_modes(tiny_world.examples_dir, str(tmp_path),
                           [Mode.STUDENT, Mode.PFD], [0, 1], ModelConfig(**SMALL),
                           train.TrainConfig(batch_size=128, epochs=1,
                                             steps_per_epoch=2))
  assert [(r["mode"], r["seed"]) for r in rows] == [
      ("student", 0), ("pfd", 0), ("student", 1), ("pfd", 1)]
  summary = compare.summarize(rows)
  mean, std = summary["pfd"]["student_auc"]
  values = [r["student_auc"] for r in rows if r["mode"] == "pfd"]
  assert mean == pytest.approx(sum(values) / 2) and std >= 0
  table = compare.format_table(summary, compare.load_ceilings(
      os.path.join(tiny_world.raw_dir, "oracle"), "ctr"), spec_lib.DEFAULT_SPEC)
  modes = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
  assert modes.count("pfd") == 2 and modes.count("student") == 1
  assert "Bayes-optimal (regular features)" in table
  assert "| AUC, expensive |" in table.splitlines()[0]


def test_an_undefined_ceiling_prints_as_na():
  # The oracle writes null for the AUC of an eval split without positives.
  table = compare.format_table({}, {"regular": None, "full": 0.75},
                               spec_lib.DEFAULT_SPEC)
  assert "| Bayes-optimal (regular features) | oracle | n/a |" in table
  assert "| oracle | 0.7500 |" in table


# A spec of another world: its user is a `member`, its slice the heaviest parcels.
MEMBERS = spec_lib.FeatureSpec.from_dict({
    "version": 2,
    "identity": {"user": "member", "item": "sku"},
    "tasks": {"buy": {"label": "bought"}},
    "evaluation": {"slices": {"heavy": {"feature": "weight_kg", "top_fraction": 0.5}}},
    "features": [
        {"name": "bought", "kind": "label", "derive": {"op": "click", "window": "1h"}},
        {"name": "member", "kind": "categorical", "group": "user",
         "source": "impression.member"},
        {"name": "sku", "kind": "categorical", "group": "item",
         "source": "impression.sku"},
        {"name": "weight_kg", "kind": "numeric", "dtype": "float32",
         "source": "item.weight_kg"},
    ]})


class _ScoresGiven:
  """Stands in for a model whose student scores each example by its `score` column
  (the two calls `evaluate` makes, outside any cluster)."""
  spec = MEMBERS
  distribute_strategy = tf.distribute.get_strategy()

  def evaluate(self, data, return_dict, verbose):
    del data, return_dict, verbose
    return {"student_auc": 0.75}

  def predict_step(self, batch):
    return {"student": batch[0]["score"]}


def test_evaluate_groups_by_the_specs_user_and_scores_its_slices():
  # Member a ranks both positives first (AUC 1), member b both last (AUC 0): GAUC,
  # with 4 examples each, is 0.5, where one AUC over both would be 12/16.
  # Heavy (weight >= the median, 4.5): rows 0, 1, 4, 5; positives .9, .3 against
  # negatives .1, .4 win 3 of 4 pairs.
  features = {
      "member": tf.constant(["a"] * 4 + ["b"] * 4),
      "weight_kg": tf.constant([8, 7, 1, 2, 6, 5, 3, 4], tf.float32),
      "score": tf.constant([.9, .1, .8, .2, .3, .4, .35, .45]),
  }
  labels = tf.constant([1, 0, 1, 0, 1, 0, 1, 0], tf.float32)
  eval_data = tf.data.Dataset.from_tensor_slices((features, labels)).batch(3)
  results = train.evaluate(_ScoresGiven(), eval_data)
  assert results["student_gauc"] == pytest.approx(0.5)
  assert results["student_heavy_auc"] == pytest.approx(0.75)
  assert not any("expensive" in key for key in results)
  assert (results["eval_examples"], results["eval_positives"]) == (8, 4)
