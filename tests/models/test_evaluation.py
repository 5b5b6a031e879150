"""models.training.evaluation: per-head figures on given scores, and their file."""

import os
import types

import numpy as np
import pytest
import tensorflow as tf

from features import spec as spec_lib
from models.training import evaluation


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


def _eight_rows(**columns) -> tf.data.Dataset:
  """Eval batches of 3 over eight labelled rows: weight_kg and the student's score
  beside `columns`."""
  features = {"weight_kg": tf.constant([8, 7, 1, 2, 6, 5, 3, 4], tf.float32),
              "score": tf.constant([.9, .1, .8, .2, .3, .4, .35, .45]), **columns}
  labels = tf.constant([1, 0, 1, 0, 1, 0, 1, 0], tf.float32)
  return tf.data.Dataset.from_tensor_slices((features, labels)).batch(3)


def test_evaluate_groups_by_the_specs_user_and_scores_its_slices():
  # Member a ranks both positives first (AUC 1), member b both last (AUC 0): GAUC,
  # with 4 examples each, is 0.5, where one AUC over both would be 12/16.
  # Heavy (weight >= the median, 4.5): rows 0, 1, 4, 5; positives .9, .3 against
  # negatives .1, .4 win 3 of 4 pairs.
  results = evaluation.evaluate(_ScoresGiven(), _eight_rows(
      member=tf.constant(["a"] * 4 + ["b"] * 4)))
  assert results["student_gauc"] == pytest.approx(0.5)
  assert results["student_heavy_auc"] == pytest.approx(0.75)
  assert not any("expensive" in key for key in results)
  assert (results["eval_examples"], results["eval_positives"]) == (8, 4)


class _HeadsScoreGiven(_ScoresGiven):
  """Both heads, from the `score` and `teacher_score` columns, over a spec whose
  requests are `visit`s, at K = 1."""
  spec = spec_lib.FeatureSpec.from_dict({
      **MEMBERS.to_dict(),
      "identity": {"user": "member", "item": "sku", "request": "visit"},
      "features": MEMBERS.to_dict()["features"] + [
          {"name": "visit", "kind": "metadata", "dtype": "string",
           "source": "impression.visit"}]})
  model_config = types.SimpleNamespace(ranking_top_k=1)

  def predict_step(self, batch):
    return {"student": batch[0]["score"], "teacher": batch[0]["teacher_score"]}


def test_evaluate_ranks_within_the_specs_requests():
  # Visit x (rows 0-3): the student's top 1 is row 0, a positive (NDCG@1 1), the
  # teacher's row 2, also a positive, but not the student's (recall 0). Visit y: both
  # put row 7, a negative, first (NDCG@1 0, recall 1).
  results = evaluation.evaluate(_HeadsScoreGiven(), _eight_rows(
      member=tf.constant(["a"] * 8), visit=tf.constant(["x"] * 4 + ["y"] * 4),
      teacher_score=tf.constant([.1, .2, .9, .3, .1, .2, .3, .9])))
  assert results["student_ndcg_at_1"] == pytest.approx(0.5)
  assert results["teacher_ndcg_at_1"] == pytest.approx(0.5)
  assert results["student_teacher_top1_recall"] == pytest.approx(0.5)


def test_a_slice_keeps_the_ties_at_its_cut():
  # Heavy: weight >= the median, 3: rows 0-5, not only the top half. Positives .9 .8
  # .3 against negatives .1 .2 .4 win 8 of 9 pairs (rows 0-3 alone: 4 of 4).
  results = evaluation.evaluate(_ScoresGiven(), _eight_rows(
      member=tf.constant(["a"] * 8),
      weight_kg=tf.constant([3, 3, 3, 3, 3, 3, 1, 1], tf.float32)))
  assert results["student_heavy_auc"] == pytest.approx(8 / 9)


def test_the_scores_file_reads_back_the_labels_and_scores_in_eval_order(tmp_path):
  run_dir = str(tmp_path / "run")
  evaluation.evaluate(_ScoresGiven(), _eight_rows(member=tf.constant(["a"] * 8)),
                      scores_path=os.path.join(run_dir, evaluation.SCORES_FILE))
  scores = evaluation.read_scores(run_dir)
  assert set(scores) == {"labels", "student"}
  np.testing.assert_array_equal(scores["labels"], [1, 0, 1, 0, 1, 0, 1, 0])
  np.testing.assert_allclose(scores["student"],
                             [.9, .1, .8, .2, .3, .4, .35, .45], rtol=1e-6)


def test_a_run_without_a_scores_file_is_named(tmp_path):
  with pytest.raises(tf.errors.NotFoundError, match=evaluation.SCORES_FILE):
    evaluation.read_scores(str(tmp_path))
