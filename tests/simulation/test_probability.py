"""Tests for simulation/probability.py: the link functions the samplers and the oracle
share."""

import numpy as np
import pytest

from simulation import probability

MODERATE = np.linspace(-20.0, 20.0, 81)  # Where the textbook formulas are exact enough.
EXTREME = np.array([-1e4, -800.0, 800.0, 1e4])  # Where exp() overflows float64.


def test_sigmoid_is_the_logistic_function():
  # Absolute, not relative, accuracy: the tanh form trades the relative precision of
  # p near 0 (~1e-8 at p = 2e-9) for no overflow, and p is used as a probability.
  np.testing.assert_allclose(probability.sigmoid(MODERATE),
                             1.0 / (1.0 + np.exp(-MODERATE)), rtol=0, atol=1e-15)
  assert probability.sigmoid(0.0) == 0.5


def test_sigmoid_is_symmetric_and_increasing():
  p = probability.sigmoid(MODERATE)
  np.testing.assert_allclose(probability.sigmoid(-MODERATE), 1.0 - p, atol=1e-15)
  assert np.all(np.diff(p) >= 0)


def test_extreme_logits_give_the_limits_without_overflow():
  # Underflow to 0 is the right answer here; overflow or a NaN is not.
  with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
    p = probability.sigmoid(EXTREME)
    log_p = probability.log_sigmoid(EXTREME)
  np.testing.assert_array_equal(p, [0.0, 0.0, 1.0, 1.0])
  # log sigmoid(x) ~ x far below zero and ~ 0 far above it.
  np.testing.assert_allclose(log_p, [-1e4, -800.0, 0.0, 0.0], atol=1e-12)


def test_inputs_are_computed_in_float64():
  # float32 logits (a model's) would otherwise round p near 0 and 1.
  assert probability.sigmoid(np.float32(3.0)).dtype == np.float64
  assert probability.log_sigmoid([1, 2]).dtype == np.float64


def test_log_sigmoid_is_the_log_of_the_logistic_function():
  # -log(1 + e^-x), accurate for moderate x, unlike log(sigmoid(x)) for x << 0.
  np.testing.assert_allclose(probability.log_sigmoid(MODERATE),
                             -np.log1p(np.exp(-MODERATE)), rtol=1e-12)


@pytest.mark.parametrize("noise", [0.0, 0.05, 0.3])
def test_label_noise_is_the_chance_the_flipped_label_is_one(noise):
  # P(observed = 1) = P(true = 1) P(no flip) + P(true = 0) P(flip).
  p = np.linspace(0.0, 1.0, 11)
  np.testing.assert_allclose(probability.with_label_noise(p, noise),
                             p * (1 - noise) + (1 - p) * noise, atol=1e-15)


def test_label_noise_at_its_extremes():
  p = np.array([0.0, 0.2, 1.0])
  np.testing.assert_array_equal(probability.with_label_noise(p, 0.0), p)
  np.testing.assert_allclose(probability.with_label_noise(p, 0.5), 0.5)  # Coin flips.
  np.testing.assert_allclose(probability.with_label_noise(p, 1.0), 1.0 - p)  # Inverted.


def test_noisy_labels_match_a_simulation_of_flips():
  rng = np.random.default_rng(0)
  p, noise, n = 0.3, 0.1, 200_000
  labels = rng.random(n) < p
  observed = labels ^ (rng.random(n) < noise)
  # 4 standard errors of a mean of n Bernoulli draws.
  assert abs(observed.mean() - probability.with_label_noise(p, noise)) < 4 * np.sqrt(
      0.25 / n)
