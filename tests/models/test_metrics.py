"""Tests for models/metrics.py: (G)AUC by hand and by brute force; Keras metrics."""

import math

import numpy as np
import pytest

from models import metrics


def _pairwise_auc(labels: np.ndarray, scores: np.ndarray) -> float:
  """Brute force: the share of (positive, negative) pairs ordered right, ties one half."""
  positives, negatives = scores[labels == 1], scores[labels == 0]
  diff = positives[:, None] - negatives[None, :]
  return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def test_auc_hand_value_with_a_tie():
  # Positive 0.8 beats both negatives: 2. Positive 0.3 ties negative 0.3 (1/2) and beats
  # 0.1 (1): 1.5. AUC = 3.5 / (2 * 2) = 0.875.
  assert metrics.auc([1, 0, 1, 0], [0.8, 0.3, 0.3, 0.1]) == pytest.approx(0.875)


def test_auc_of_all_tied_scores_is_one_half():
  assert metrics.auc([1, 0, 0, 1, 0], [0.4] * 5) == pytest.approx(0.5)


def test_auc_of_one_class_is_nan():
  assert math.isnan(metrics.auc([1, 1], [0.2, 0.9]))


def test_auc_matches_brute_force_with_many_ties():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, size=500)
  scores = np.round(rng.random(500) + 0.3 * labels, 1)  # ~14 distinct values.
  assert metrics.auc(labels, scores) == pytest.approx(_pairwise_auc(labels, scores))


def test_group_auc_hand_example():
  # User "a": positive 0.9 ties negative 0.9 (1/2), beats 0.5 (1): AUC 1.5 / 2 = 0.75,
  #   3 impressions.
  # User "b": positives 0.2, 0.3 each beat 0.1 and lose to 0.4: AUC 2 / 4 = 0.5,
  #   4 impressions.
  # User "c": negatives only, skipped (weight 0, not 2).
  # GAUC = (3 * 0.75 + 4 * 0.5) / (3 + 4) = 4.25 / 7 = 0.607143.
  rows = [("a", 1, 0.9), ("b", 1, 0.2), ("c", 0, 0.7), ("a", 0, 0.5), ("b", 1, 0.3),
          ("b", 0, 0.4), ("c", 0, 0.1), ("a", 0, 0.9), ("b", 0, 0.1)]
  groups, labels, scores = map(np.array, zip(*rows))
  assert metrics.group_auc(labels, scores, groups) == pytest.approx(4.25 / 7)


def test_group_auc_with_one_group_is_auc():
  rng = np.random.default_rng(1)
  labels = rng.integers(0, 2, size=300)
  scores = np.round(rng.random(300) + 0.2 * labels, 2)
  assert metrics.group_auc(labels, scores, np.full(300, 7)) == pytest.approx(
      metrics.auc(labels, scores))


def test_group_auc_matches_a_per_group_loop():
  rng = np.random.default_rng(2)
  groups = rng.integers(0, 40, size=2000)
  labels = (rng.random(2000) < 0.1 + 0.01 * groups).astype(int)
  labels[groups < 3] = 0  # One-class groups, to be skipped.
  scores = np.round(rng.random(2000) + 0.3 * labels - 0.01 * groups, 1)
  aucs, weights = [], []
  for g in np.unique(groups):
    in_group = groups == g
    if 0 < labels[in_group].sum() < in_group.sum():
      aucs.append(_pairwise_auc(labels[in_group], scores[in_group]))
      weights.append(in_group.sum())
  assert len(aucs) < 40  # The skip is exercised.
  assert metrics.group_auc(labels, scores, groups) == pytest.approx(
      np.average(aucs, weights=weights))


def test_group_auc_without_a_two_class_group_is_nan():
  assert math.isnan(metrics.group_auc([1, 0], [0.1, 0.2], ["u", "v"]))


@pytest.mark.parametrize("labels, scores, groups, message", [
    ([1, 0], [0.1], [0, 0], "shapes"),
    ([1, 2], [0.1, 0.2], [0, 0], "0/1"),
    ([1, 0], [0.1, float("nan")], [0, 0], "NaN"),
])
def test_group_auc_validates(labels, scores, groups, message):
  with pytest.raises(ValueError, match=message):
    metrics.group_auc(labels, scores, groups)


def test_group_auc_handles_200k_rows():
  rng = np.random.default_rng(3)
  groups = rng.integers(0, 20_000, size=200_000)
  labels = (rng.random(200_000) < 0.05).astype(int)
  scores = rng.random(200_000) + 0.5 * labels
  # Scores independent of the user, shifted by 0.5 for positives: per-pair AUC
  # P(U1 + 0.5 > U2) = 1 - 0.5^2 / 2 = 0.875.
  assert metrics.group_auc(labels, scores, groups) == pytest.approx(0.875, abs=0.02)


def test_calibration_hand_value_streams_and_resets():
  calibration = metrics.Calibration()
  # Two batches: predictions sum 0.2 + 0.4 + 0.6 = 1.2, labels sum 1: 1.2.
  calibration.update_state([0, 1], [0.2, 0.4])
  calibration.update_state([[0]], [[0.6]])
  assert calibration.result().numpy() == pytest.approx(1.2)
  calibration.reset_state()
  assert calibration.result().numpy() == 0.0  # No positives: divide_no_nan.


def test_calibration_weights_examples():
  calibration = metrics.Calibration()
  # Weights 2, 1, 1: predictions 2 * 0.2 + 0.4 + 0.6 = 1.4, labels 1 * 1 = 1: 1.4.
  calibration.update_state([0, 1, 0], [0.2, 0.4, 0.6], sample_weight=[2.0, 1.0, 1.0])
  assert calibration.result().numpy() == pytest.approx(1.4)
  calibration.reset_state()
  calibration.update_state([0, 1, 0], [0.2, 0.4, 0.6], sample_weight=3.0)
  assert calibration.result().numpy() == pytest.approx(1.2)  # A scalar cancels out.


def test_head_metrics_names_and_values():
  head = metrics.head_metrics("student_ctr")
  assert [m.name for m in head] == [
      "student_ctr_auc", "student_ctr_logloss", "student_ctr_calibration"]
  for metric in head:
    metric.update_state([[1.0], [0.0]], [[0.8], [0.2]])
  # Perfect ranking: AUC 1. Log loss: -log 0.8 for both = 0.223144. Calibration 1 / 1.
  np.testing.assert_allclose([m.result().numpy() for m in head],
                             [1.0, -math.log(0.8), 1.0], rtol=1e-4)


def _v10_by_pairs(labels, scores):
  """Per positive, the share of negatives it outscores (ties 1/2), pair by pair."""
  labels = np.asarray(labels, bool)
  pos, neg = np.asarray(scores)[labels], np.asarray(scores)[~labels]
  wins = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
  return wins.mean(axis=1), 1 - wins.mean(axis=0)


def test_delong_matches_its_definition_pair_by_pair():
  rng = np.random.default_rng(0)
  labels = rng.random(300) < 0.3
  a = labels + rng.normal(0, 1.0, 300)
  b = np.round(labels * 0.5 + rng.normal(0, 1.0, 300), 1)  # With ties.
  v10_a, v01_a = _v10_by_pairs(labels, a)
  v10_b, v01_b = _v10_by_pairs(labels, b)
  m, n = labels.sum(), (~labels).sum()
  cov = np.cov([v10_a, v10_b]) / m + np.cov([v01_a, v01_b]) / n
  z = (v10_a.mean() - v10_b.mean()) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
  test = metrics.delong_test(labels, a, b)
  assert test.auc_a == pytest.approx(metrics.auc(labels, a))
  assert test.auc_b == pytest.approx(metrics.auc(labels, b))
  assert test.z == pytest.approx(z)
  assert test.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
  swapped = metrics.delong_test(labels, b, a)
  assert (swapped.z, swapped.p_value) == pytest.approx((-test.z, test.p_value))


def test_delong_tells_a_better_scorer_and_not_a_copy():
  rng = np.random.default_rng(1)
  labels = rng.random(4000) < 0.2
  noise = rng.normal(0, 1.0, 4000)
  strong, weak = labels * 1.5 + noise, labels * 0.5 + noise
  assert metrics.delong_test(labels, strong, weak).p_value < 1e-6
  same = metrics.delong_test(labels, strong, strong * 2 + 1)  # Same ranking.
  assert (same.z, same.p_value) == (0.0, 1.0)


def test_delong_needs_both_classes():
  with pytest.raises(ValueError, match="0 negatives"):
    metrics.delong_test([1, 1], [0.1, 0.2], [0.3, 0.4])


# Requests interleaved: a = (labels 1, 0, 1; scores .9, .8, .1), b = (0, 1; .2, .7),
# c = (0, 0), which has no positive.
_REQUESTS = np.array(["a", "b", "a", "c", "a", "b", "c"])
_LABELS = np.array([1, 0, 0, 0, 1, 1, 0])
_SCORES = np.array([0.9, 0.2, 0.8, 0.5, 0.1, 0.7, 0.4])


@pytest.mark.parametrize("k, ndcg_a", [
    # a's top 2 by score: its first positive at rank 0 (gain 1 / log2 2 = 1) and a
    # negative, over the ideal 1 + 1 / log2 3.
    (2, 1 / (1 + 1 / math.log2(3))),
    # Top 3: the second positive at rank 2, 1 / log2 4 = 0.5.
    (3, 1.5 / (1 + 1 / math.log2(3))),
])
def test_request_ndcg_by_hand(k, ndcg_a):
  # b: its positive ranked first, NDCG 1; c is left out.
  assert metrics.request_ndcg(_LABELS, _SCORES, _REQUESTS, k) == pytest.approx(
      (ndcg_a + 1.0) / 2)


def test_request_ndcg_is_one_for_the_label_order_and_nan_without_positives():
  assert metrics.request_ndcg(_LABELS, _LABELS, _REQUESTS, 2) == pytest.approx(1.0)
  assert math.isnan(metrics.request_ndcg([0, 0], [0.1, 0.2], [1, 1], 2))
  # Ties in score go by position: the positive second of two tied.
  assert metrics.request_ndcg([0, 1], [0.5, 0.5], [1, 1], 2) == pytest.approx(
      1 / math.log2(3))


def test_teacher_topk_recall_by_hand():
  requests = np.array([1, 1, 1, 1, 2, 2, 2, 3, 3])
  teacher = np.array([4, 3, 2, 1, 1, 2, 3, 1, 2], float)
  student = np.array([1, 4, 3, 2, 1, 3, 2, 2, 1], float)
  # Request 1: teacher's top 2 {0, 1}, student's {1, 2}: 1/2. Request 2: both {5, 6}:
  # 1. Request 3 has only 2 impressions: left out.
  assert metrics.teacher_topk_recall(teacher, student, requests, 2) == pytest.approx(
      0.75)
  assert metrics.teacher_topk_recall(teacher, teacher, requests, 1) == 1.0
  assert math.isnan(metrics.teacher_topk_recall(teacher, student, requests, 4))


def test_ranking_metrics_validate_their_inputs():
  with pytest.raises(ValueError, match="k must be >= 1"):
    metrics.request_ndcg(_LABELS, _SCORES, _REQUESTS, 0)
  with pytest.raises(ValueError, match="1-D arrays of one length"):
    metrics.teacher_topk_recall(_SCORES, _SCORES[:3], _REQUESTS, 2)
