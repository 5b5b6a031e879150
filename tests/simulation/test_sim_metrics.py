"""The numpy AUC against hand-computed values."""

import math

import numpy as np

from simulation import metrics


def test_auc_counts_ordered_pairs():
  # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered.
  assert metrics.auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75


def test_auc_counts_ties_as_half():
  # Pairs: (0.5+, 0.5-) tie -> 0.5, (0.5+, 0.2-) -> 1, (0.9+, both) -> 2: 3.5 / 4.
  labels = np.array([1, 0, 1, 0])
  assert metrics.auc(labels, np.array([0.5, 0.5, 0.9, 0.2])) == 0.875


def test_auc_of_one_class_is_nan():
  assert math.isnan(metrics.auc(np.ones(3), np.arange(3.0)))
