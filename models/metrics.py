"""Evaluation metrics of a CTR/CVR head: streaming Keras metrics and numpy (G)AUC.

Keras metrics (`head_metrics`) stream over an epoch and aggregate across replicas; GAUC,
the Taobao offline metric, needs every score of a user at once, so it is computed in
numpy on collected predictions (`group_auc`). Both AUCs count a tie between a positive
and a negative as one half, as scikit-learn's `roc_auc_score` does.
"""

from __future__ import annotations

import dataclasses
import math

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


def auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
  """Area under the ROC curve by the rank-sum formula, ties counting one half.

  Args:
    labels: [n] 0/1 or bool.
    scores: [n] float.

  Returns:
    The AUC, or NaN when `labels` holds only one class.
  """
  labels = np.asarray(labels)
  return group_auc(labels, scores, np.zeros(labels.shape, np.int64))


def group_auc(labels: npt.ArrayLike, scores: npt.ArrayLike,
              groups: npt.ArrayLike) -> float:
  """GAUC: the per-group AUC averaged with each group's number of examples as weight.

  With groups = users, this is Taobao's GAUC (Zhou et al., DIN, KDD 2018): ranking only
  matters among one user's impressions, and a pooled AUC also rewards merely separating
  active users from inactive ones. Groups with only one class have no AUC and are left
  out of both the numerator and the weights.

  Vectorised over groups: one lexsort by (group, score), then tied runs share their
  average rank and per-group rank sums come from `np.bincount`.

  Args:
    labels: [n] 0/1 or bool.
    scores: [n] float, higher meaning more likely positive.
    groups: [n] group (user) ids, any dtype `np.unique` sorts (ints, strings, bytes).

  Returns:
    The GAUC, or NaN when no group has both a positive and a negative.
  """
  labels, scores, groups = np.asarray(labels), np.asarray(scores), np.asarray(groups)
  if labels.ndim != 1 or labels.shape != scores.shape or labels.shape != groups.shape:
    raise ValueError("labels, scores and groups must be 1-D of one length, got shapes "
                     f"{labels.shape}, {scores.shape}, {groups.shape}.")
  if not np.isin(labels, (0, 1)).all():
    raise ValueError(f"labels must be 0/1, got values {np.unique(labels)[:10]}.")
  scores = scores.astype(np.float64)
  if np.isnan(scores).any():
    raise ValueError(
        f"scores hold {np.isnan(scores).sum()} NaN; their rank is undefined.")
  if not len(labels):
    return float("nan")

  group_ids = np.unique(groups, return_inverse=True)[1].reshape(-1)
  order = np.lexsort((scores, group_ids))
  sorted_groups, sorted_scores = group_ids[order], scores[order]
  positive = labels[order].astype(bool)

  # Runs of equal (group, score) get the mean of their 0-based positions.
  new_run = np.r_[True, (sorted_groups[1:] != sorted_groups[:-1])
                  | (sorted_scores[1:] != sorted_scores[:-1])]
  run_ids = np.cumsum(new_run) - 1
  run_starts = np.flatnonzero(new_run)
  run_ends = np.r_[run_starts[1:], len(order)] - 1
  position = ((run_starts + run_ends) / 2.0)[run_ids]

  counts = np.bincount(sorted_groups)
  group_starts = np.cumsum(counts) - counts
  rank = position - group_starts[sorted_groups] + 1.0  # 1-based within the group.
  n_pos = np.bincount(sorted_groups, weights=positive)
  n_neg = counts - n_pos
  rank_sum = np.bincount(sorted_groups, weights=rank * positive)

  valid = (n_pos > 0) & (n_neg > 0)
  if not valid.any():
    return float("nan")
  n_pos, n_neg, rank_sum = n_pos[valid], n_neg[valid], rank_sum[valid]
  group_aucs = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
  return float(np.average(group_aucs, weights=counts[valid]))


def _midranks(x: np.ndarray) -> np.ndarray:
  """1-based ranks of `x`, tied values sharing their average rank."""
  order = np.argsort(x, kind="mergesort")
  ordered = x[order]
  starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
  ends = np.r_[starts[1:], len(x)]
  ranks = np.empty(len(x))
  ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
  return ranks


@dataclasses.dataclass(frozen=True)
class PairedAUCTest:
  """DeLong's test of two correlated AUCs on the same examples.

  Attributes:
    auc_a, auc_b: The two AUCs.
    z: (auc_a - auc_b) / its standard error.
    p_value: Two-sided: the chance of a difference at least this large if both
      scorers had the same AUC.
  """
  auc_a: float
  auc_b: float
  z: float
  p_value: float


def delong_test(labels: npt.ArrayLike, scores_a: npt.ArrayLike,
                scores_b: npt.ArrayLike) -> PairedAUCTest:
  """DeLong, DeLong & Clarke-Pearson (1988) by Sun & Xu's midrank algorithm (2014).

  Each AUC is the mean over positives of V10 (the share of negatives a positive
  outscores, ties one half); the two AUCs' covariance comes from the covariances of
  their V10 over positives and V01 over negatives: O(n log n), no pair loop.

  Args:
    labels: [n] 0/1 or bool, both classes present.
    scores_a, scores_b: [n] float scores of the same examples.

  Raises:
    ValueError: Shapes differ, or a class is missing.
  """
  labels = np.asarray(labels).astype(bool)
  scores = np.stack([np.asarray(scores_a, np.float64), np.asarray(scores_b, np.float64)])
  if scores.shape != (2, len(labels)):
    raise ValueError(f"Expected [n] labels and two [n] scores; got {labels.shape}, "
                     f"{np.shape(scores_a)} and {np.shape(scores_b)}.")
  m, n = int(labels.sum()), int((~labels).sum())
  if not m or not n:
    raise ValueError(f"DeLong's test needs both classes; got {m} positives and {n} "
                     "negatives.")
  v10, v01 = [], []
  for row in scores:
    positives, negatives = row[labels], row[~labels]
    both = _midranks(np.concatenate([positives, negatives]))
    v10.append((both[:m] - _midranks(positives)) / n)
    v01.append(1.0 - (both[m:] - _midranks(negatives)) / m)
  v10, v01 = np.array(v10), np.array(v01)
  aucs = v10.mean(axis=1)
  covariance = np.cov(v10) / m + np.cov(v01) / n
  variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
  difference = aucs[0] - aucs[1]
  if variance <= 0:  # The same ranking: no difference to test.
    z = 0.0 if difference == 0 else math.copysign(math.inf, difference)
  else:
    z = difference / math.sqrt(variance)
  return PairedAUCTest(float(aucs[0]), float(aucs[1]), float(z),
                       math.erfc(abs(z) / math.sqrt(2)))


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
