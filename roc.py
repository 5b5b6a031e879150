"""Areas under the ROC curve in numpy, by average ranks: AUC, GAUC and DeLong's test.

A tie between a positive and a negative counts one half, as scikit-learn's
`roc_auc_score` does (the project has no scikit-learn). Numpy alone, at the bottom of
the layers, so that spec inference, the simulator's oracle, training and the evidence
job share one implementation without loading TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import numpy.typing as npt


def _average_ranks(scores: np.ndarray, group_ids: np.ndarray) -> np.ndarray:
  """[n] 1-based ranks of `scores` within each group, tied scores sharing their mean
  rank; `group_ids` are [n] ints in 0..g-1. One lexsort for every group at once."""
  order = np.lexsort((scores, group_ids))
  sorted_groups, sorted_scores = group_ids[order], scores[order]
  new_run = np.r_[True, (sorted_groups[1:] != sorted_groups[:-1])
                  | (sorted_scores[1:] != sorted_scores[:-1])]
  run_ids = np.cumsum(new_run) - 1
  run_starts = np.flatnonzero(new_run)
  run_ends = np.r_[run_starts[1:], len(order)] - 1
  position = ((run_starts + run_ends) / 2.0)[run_ids]  # 0-based, over all groups.
  counts = np.bincount(sorted_groups)
  group_starts = np.cumsum(counts) - counts
  ranks = np.empty(len(scores))
  ranks[order] = position - group_starts[sorted_groups] + 1.0
  return ranks


def _group_aucs(labels: npt.ArrayLike, scores: npt.ArrayLike,
                groups: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
  """Each group's AUC (NaN for a group of one class) and its number of examples."""
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
    return np.empty(0), np.empty(0, np.int64)
  group_ids = np.unique(groups, return_inverse=True)[1].reshape(-1)
  positive = labels.astype(bool)
  ranks = _average_ranks(scores, group_ids)
  counts = np.bincount(group_ids)
  n_pos = np.bincount(group_ids, weights=positive)
  n_neg = counts - n_pos
  rank_sum = np.bincount(group_ids, weights=ranks * positive)
  with np.errstate(divide="ignore", invalid="ignore"):
    aucs = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
  return np.where((n_pos > 0) & (n_neg > 0), aucs, np.nan), counts


def auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
  """Area under the ROC curve by the rank-sum (Mann-Whitney) formula.

  Args:
    labels: [n] 0/1 or bool.
    scores: [n] float, higher meaning more likely positive.

  Returns:
    The AUC, or NaN when `labels` holds only one class.

  Raises:
    ValueError: Shapes differ, a label is not 0/1, or a score is NaN.
  """
  labels = np.asarray(labels)
  aucs, _ = _group_aucs(labels, scores, np.zeros(labels.shape, np.int64))
  return float(aucs[0]) if len(aucs) else math.nan


def group_auc(labels: npt.ArrayLike, scores: npt.ArrayLike,
              groups: npt.ArrayLike) -> float:
  """GAUC: the per-group AUC averaged with each group's number of examples as weight.

  With groups = users, this is Taobao's GAUC (Zhou et al., DIN, KDD 2018): ranking only
  matters among one user's impressions, and a pooled AUC also rewards merely separating
  active users from inactive ones. Groups with only one class have no AUC and are left
  out of both the numerator and the weights.

  Args:
    labels: [n] 0/1 or bool.
    scores: [n] float, higher meaning more likely positive.
    groups: [n] group (user) ids, any dtype `np.unique` sorts (ints, strings, bytes).

  Returns:
    The GAUC, or NaN when no group has both a positive and a negative.

  Raises:
    ValueError: Shapes differ, a label is not 0/1, or a score is NaN.
  """
  aucs, counts = _group_aucs(labels, scores, groups)
  valid = ~np.isnan(aucs)
  if not valid.any():
    return math.nan
  return float(np.average(aucs[valid], weights=counts[valid]))


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


def _midranks(x: np.ndarray) -> np.ndarray:
  return _average_ranks(x, np.zeros(len(x), np.int64))


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
