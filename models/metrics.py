"""Evaluation metrics of a CTR/CVR head: streaming Keras metrics and numpy ones.

Keras metrics (`head_metrics`) stream over an epoch and aggregate across replicas; GAUC,
the Taobao offline metric, needs every score of a user at once, so it is computed in
numpy on collected predictions (`group_auc`), as are the per-request ranking metrics.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import tensorflow as tf


class Calibration(tf.keras.metrics.Metric):
  """Mean prediction / mean label over all examples seen since the last reset.

  1 means the predicted probabilities are calibrated on average; PFD's student must stay
  near 1 even though its soft labels come from the teacher. Both means share their
  denominator (the total weight), so only the weighted sums of predictions and labels are
  kept; they are summed across replicas under a distribution strategy.

  The result is 0, not NaN, when no positive has been seen (e.g. right after a reset):
  `tf.math.divide_no_nan`, so that a logged metric stays finite.
  """

  def __init__(self, name: str = "calibration", dtype: tf.dtypes.DType | None = None):
    super().__init__(name=name, dtype=dtype)
    self.prediction_sum = self.add_weight("prediction_sum", initializer="zeros")
    self.label_sum = self.add_weight("label_sum", initializer="zeros")

  def update_state(self, y_true: tf.Tensor, y_pred: tf.Tensor,
                   sample_weight: tf.Tensor | None = None) -> None:
    """Adds a batch.

    Args:
      y_true: [batch_size] or [batch_size, 1] 0/1 labels.
      y_pred: same shape, predicted probabilities.
      sample_weight: None, a scalar, or [batch_size] / [batch_size, 1] weights.
    """
    y_true = tf.reshape(tf.cast(y_true, self.dtype), [-1])
    y_pred = tf.reshape(tf.cast(y_pred, self.dtype), [-1])
    if sample_weight is not None:
      weight = tf.reshape(tf.cast(sample_weight, self.dtype), [-1])
      weight = tf.broadcast_to(weight, tf.shape(y_pred))  # A scalar weights all.
      y_true *= weight
      y_pred *= weight
    self.prediction_sum.assign_add(tf.reduce_sum(y_pred))
    self.label_sum.assign_add(tf.reduce_sum(y_true))

  def result(self) -> tf.Tensor:
    return tf.math.divide_no_nan(self.prediction_sum, self.label_sum)


def head_metrics(prefix: str) -> list[tf.keras.metrics.Metric]:
  """AUC, log loss and calibration of one head, named `{prefix}_auc` etc.

  For predictions given as probabilities (sigmoid of the head's logit). AUC uses 10,000
  thresholds rather than Keras' 200: CTR models differ by tenths of a percent of AUC,
  finer than what 200 buckets resolve.

  Args:
    prefix: head name, e.g. "teacher_ctr" or "student_ctr".
  """
  return [
      tf.keras.metrics.AUC(num_thresholds=10_000, name=f"{prefix}_auc"),
      tf.keras.metrics.BinaryCrossentropy(from_logits=False, name=f"{prefix}_logloss"),
      Calibration(name=f"{prefix}_calibration"),
  ]


def _within_groups(groups: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray,
                                                                    np.ndarray]:
  """Group indices `[n]` (0..g-1) and each example's 0-based rank by descending
  score within its group, ties by position (a stable sort)."""
  group_ids = np.unique(groups, return_inverse=True)[1].reshape(-1)
  order = np.lexsort((np.arange(len(scores)), -scores, group_ids))
  counts = np.bincount(group_ids)
  starts = np.cumsum(counts) - counts
  rank = np.empty(len(scores), np.int64)
  rank[order] = np.arange(len(scores)) - starts[group_ids[order]]
  return group_ids, rank


def _check_ranking_inputs(k: int, *arrays: np.ndarray) -> None:
  if k < 1:
    raise ValueError(f"k must be >= 1, got {k}.")
  if any(a.ndim != 1 or a.shape != arrays[0].shape for a in arrays):
    raise ValueError(f"Expected 1-D arrays of one length, got shapes "
                     f"{[a.shape for a in arrays]}.")


def request_ndcg(labels: npt.ArrayLike, scores: npt.ArrayLike,
                 request_ids: npt.ArrayLike, k: int) -> float:
  """NDCG@k of `scores` against 0/1 `labels` within each request, averaged over the
  requests with a positive.

  A pre-ranker's job is the order within a request: DCG@k = sum over its top k by
  score of label / log2(rank + 2) (rank from 0; ties in score by position), over
  the best order's. Requests without a positive have no NDCG and are left out.

  Returns:
    The mean NDCG@k, or NaN when no request has a positive.
  """
  labels, scores = np.asarray(labels, np.float64), np.asarray(scores, np.float64)
  request_ids = np.asarray(request_ids)
  _check_ranking_inputs(k, labels, scores, request_ids)
  if not len(labels):
    return float("nan")
  discount = 1.0 / np.log2(np.arange(len(labels)) + 2.0)

  def dcg(order_by):
    group, rank = _within_groups(request_ids, order_by)
    gains = np.where(rank < k, labels * discount[rank], 0.0)
    return np.bincount(group, weights=gains)

  ideal = dcg(labels)
  valid = ideal > 0
  if not valid.any():
    return float("nan")
  return float(np.mean(dcg(scores)[valid] / ideal[valid]))


def teacher_topk_recall(teacher_scores: npt.ArrayLike, student_scores: npt.ArrayLike,
                        request_ids: npt.ArrayLike, k: int) -> float:
  """The share of the teacher's top k of a request that the student's top k holds,
  averaged over the requests of more than k impressions.

  What a pre-ranker distilled from a ranker should keep: the items the ranker would
  have chosen among those it passes on. Ties by position in both orders; requests of
  k or fewer impressions (recall 1 whatever the scores) are left out.

  Returns:
    The mean recall, or NaN when no request has more than k impressions.
  """
  teacher = np.asarray(teacher_scores, np.float64)
  student = np.asarray(student_scores, np.float64)
  request_ids = np.asarray(request_ids)
  _check_ranking_inputs(k, teacher, student, request_ids)
  if not len(teacher):
    return float("nan")
  group, teacher_rank = _within_groups(request_ids, teacher)
  _, student_rank = _within_groups(request_ids, student)
  valid = np.bincount(group) > k
  if not valid.any():
    return float("nan")
  hits = np.bincount(group, weights=(teacher_rank < k) & (student_rank < k))
  return float(np.mean(hits[valid] / k))
