"""Tests for models/metrics.py: Keras metrics and per-request ranking metrics."""

import math

import numpy as np
import pytest

from models import metrics


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
