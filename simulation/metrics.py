"""Ranking metrics in numpy (the project has no scikit-learn)."""

import numpy as np


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
  """Area under the ROC curve by the rank-sum (Mann-Whitney) formula.

  Tied scores share their average rank, so a tie between a positive and a negative
  counts one half, as in scikit-learn's `roc_auc_score`.

  Args:
    labels: [n] 0/1 or bool.
    scores: [n] float.

  Returns:
    The AUC, or NaN when `labels` holds only one class.
  """
  labels = np.asarray(labels, bool)
  n_pos = int(labels.sum())
  n_neg = len(labels) - n_pos
  if n_pos == 0 or n_neg == 0:
    return float("nan")
  _, group, counts = np.unique(np.asarray(scores), return_inverse=True,
                               return_counts=True)
  ends = np.cumsum(counts)
  average_rank = ends - (counts - 1) / 2.0  # 1-based ranks, ties averaged.
  rank_sum = average_rank[group.reshape(-1)][labels].sum()
  return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
