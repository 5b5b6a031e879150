"""Tests for roc.py: (G)AUC and DeLong's test by hand and by brute force."""

import math

import numpy as np
import pytest

import roc


def test_auc_counts_ordered_pairs():
  # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered.
  assert roc.auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75


def test_auc_counts_ties_as_half():
  # Pairs: (0.5+, 0.5-) tie -> 0.5, (0.5+, 0.2-) -> 1, (0.9+, both) -> 2: 3.5 / 4.
  labels = np.array([1, 0, 1, 0])
  assert roc.auc(labels, np.array([0.5, 0.5, 0.9, 0.2])) == 0.875


def test_auc_of_float_labels_of_one_class_is_nan():
  assert math.isnan(roc.auc(np.ones(3), np.arange(3.0)))


def _pairwise_auc(labels: np.ndarray, scores: np.ndarray) -> float:
  """Brute force: the share of (positive, negative) pairs ordered right, ties one half."""
  positives, negatives = scores[labels == 1], scores[labels == 0]
  diff = positives[:, None] - negatives[None, :]
  return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def test_auc_hand_value_with_a_tie():
  # Positive 0.8 beats both negatives: 2. Positive 0.3 ties negative 0.3 (1/2) and beats
  # 0.1 (1): 1.5. AUC = 3.5 / (2 * 2) = 0.875.
  assert roc.auc([1, 0, 1, 0], [0.8, 0.3, 0.3, 0.1]) == pytest.approx(0.875)


def test_auc_of_all_tied_scores_is_one_half():
  assert roc.auc([1, 0, 0, 1, 0], [0.4] * 5) == pytest.approx(0.5)


def test_auc_of_one_class_is_nan():
  assert math.isnan(roc.auc([1, 1], [0.2, 0.9]))


def test_auc_matches_brute_force_with_many_ties():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, size=500)
  scores = np.round(rng.random(500) + 0.3 * labels, 1)  # ~14 distinct values.
  assert roc.auc(labels, scores) == pytest.approx(_pairwise_auc(labels, scores))


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
  assert roc.group_auc(labels, scores, groups) == pytest.approx(4.25 / 7)


def test_group_auc_with_one_group_is_auc():
  rng = np.random.default_rng(1)
  labels = rng.integers(0, 2, size=300)
  scores = np.round(rng.random(300) + 0.2 * labels, 2)
  assert roc.group_auc(labels, scores, np.full(300, 7)) == pytest.approx(
      roc.auc(labels, scores))


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
  assert roc.group_auc(labels, scores, groups) == pytest.approx(
      np.average(aucs, weights=weights))


def test_group_auc_without_a_two_class_group_is_nan():
  assert math.isnan(roc.group_auc([1, 0], [0.1, 0.2], ["u", "v"]))


@pytest.mark.parametrize("labels, scores, groups, message", [
    ([1, 0], [0.1], [0, 0], "shapes"),
    ([1, 2], [0.1, 0.2], [0, 0], "0/1"),
    ([1, 0], [0.1, float("nan")], [0, 0], "NaN"),
])
def test_group_auc_validates(labels, scores, groups, message):
  with pytest.raises(ValueError, match=message):
    roc.group_auc(labels, scores, groups)


def test_group_auc_handles_200k_rows():
  rng = np.random.default_rng(3)
  groups = rng.integers(0, 20_000, size=200_000)
  labels = (rng.random(200_000) < 0.05).astype(int)
  scores = rng.random(200_000) + 0.5 * labels
  # Scores independent of the user, shifted by 0.5 for positives: per-pair AUC
  # P(U1 + 0.5 > U2) = 1 - 0.5^2 / 2 = 0.875.
  assert roc.group_auc(labels, scores, groups) == pytest.approx(0.875, abs=0.02)


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
  test = roc.delong_test(labels, a, b)
  assert test.auc_a == pytest.approx(roc.auc(labels, a))
  assert test.auc_b == pytest.approx(roc.auc(labels, b))
  assert test.z == pytest.approx(z)
  assert test.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
  swapped = roc.delong_test(labels, b, a)
  assert (swapped.z, swapped.p_value) == pytest.approx((-test.z, test.p_value))


def test_delong_tells_a_better_scorer_and_not_a_copy():
  rng = np.random.default_rng(1)
  labels = rng.random(4000) < 0.2
  noise = rng.normal(0, 1.0, 4000)
  strong, weak = labels * 1.5 + noise, labels * 0.5 + noise
  assert roc.delong_test(labels, strong, weak).p_value < 1e-6
  same = roc.delong_test(labels, strong, strong * 2 + 1)  # Same ranking.
  assert (same.z, same.p_value) == (0.0, 1.0)


def test_delong_needs_both_classes():
  with pytest.raises(ValueError, match="0 negatives"):
    roc.delong_test([1, 1], [0.1, 0.2], [0.3, 0.4])
