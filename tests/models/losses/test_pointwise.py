"""Tests for models/losses/pointwise.py: the pointwise losses by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

from models import losses
from models.losses import pointwise
from loss_cases import make_inputs, sigmoid, softplus, student_gradient


def test_binary_cross_entropy_hand_values_and_stability():
  labels = tf.constant([1, 0, 1, 0, 0, 1])
  logits = tf.constant([0.0, 0.0, 2.0, -3.0, 100.0, -100.0])
  # BCE(y=1, z) = softplus(-z); BCE(y=0, z) = softplus(z).
  # 0: log 2; 1: log 2; 2: softplus(-2) = 0.126928; 3: softplus(-3) = 0.048587;
  # 4, 5: confidently wrong by 100 -> 100 (+ e^-100), finite where log(sigmoid) is -inf.
  expected = [math.log(2), math.log(2), 0.126928, 0.048587, 100.0, 100.0]
  np.testing.assert_allclose(losses.binary_cross_entropy(labels, logits), expected,
                             rtol=1e-5)


def test_binary_cross_entropy_matches_keras_per_example():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, size=64).astype(np.float32)
  logits = rng.normal(scale=3.0, size=64).astype(np.float32)
  keras_loss = tf.keras.losses.BinaryCrossentropy(
      from_logits=True, reduction=tf.keras.losses.Reduction.NONE)
  # Keras averages over the last axis, so [batch_size, 1] gives one loss per example.
  expected = keras_loss(labels[:, None], logits[:, None])
  got = losses.binary_cross_entropy(labels, logits)
  assert got.shape == [64]
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("temperature, teacher, student, expected", [
    # Soft label sigmoid(0) = 0.5; student sigmoid(0) = 0.5: CE = log 2.
    (1.0, 0.0, 0.0, math.log(2)),
    # Soft label 0.5, student logit 2: 0.5 * softplus(-2) + 0.5 * softplus(2) = 1.126928.
    (1.0, 0.0, 2.0, 0.5 * softplus(-2.0) + 0.5 * softplus(2.0)),
    # Soft label sigmoid(ln 3) = 0.75, student 0.5: -0.75 log .5 - .25 log .5 = log 2.
    (1.0, math.log(3), 0.0, math.log(2)),
    # T=2: soft label 0.5, student logit 2 / 2 = 1:
    # 4 * (0.5 softplus(-1) + 0.5 softplus(1)) = 4 * 0.813262 = 3.253049.
    (2.0, 0.0, 2.0, 4 * (0.5 * softplus(-1.0) + 0.5 * softplus(1.0))),
    # T=2: soft label sigmoid(ln 9 / 2) = sigmoid(ln 3) = 0.75, student 0: 4 * log 2.
    (2.0, math.log(9), 0.0, 4 * math.log(2)),
])
def test_cross_entropy_hand_values(temperature, teacher, student, expected):
  loss = losses.get_distillation_loss("cross_entropy")
  got = loss(make_inputs(tf.constant([teacher]), tf.constant([student]), temperature))
  np.testing.assert_allclose(got, [expected], rtol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_cross_entropy_is_minimised_at_the_teacher_logits(temperature):
  loss = losses.get_distillation_loss("cross_entropy")
  teacher = tf.constant([-2.0, 0.0, 0.5, 3.0])
  student = tf.Variable(teacher)
  with tf.GradientTape() as tape:
    at_teacher = loss(make_inputs(teacher, student, temperature))
  np.testing.assert_allclose(tape.gradient(at_teacher, student), 0.0, atol=1e-6)
  for delta in (-0.5, 0.5):
    assert np.all(loss(make_inputs(teacher, teacher + delta, temperature)) > at_teacher)


def test_cross_entropy_gradient_size_does_not_depend_on_temperature():
  # d/ds = T * (sigmoid(s / T) - sigmoid(t / T)) ~ (s - t) / 4 for small logits:
  # 0.024979 at T=1 and 4 * (sigmoid(0.025) - 0.5) = 0.024999 at T=4. Without the T^2
  # factor the T=4 gradient would be 16 times smaller.
  loss = losses.get_distillation_loss("cross_entropy")
  gradients = []
  for temperature in (1.0, 4.0):
    student = tf.Variable([0.1])
    with tf.GradientTape() as tape:
      value = loss(make_inputs(tf.constant([0.0]), student, temperature))
    gradients.append(tape.gradient(value, student).numpy()[0])
  np.testing.assert_allclose(gradients, [0.024979, 0.024999], rtol=1e-4)


def test_mse_logits_hand_values_ignore_temperature():
  loss = losses.get_distillation_loss("mse_logits")
  teacher, student = tf.constant([1.0, -2.0, 0.5]), tf.constant([3.0, 0.0, 0.5])
  # (3 - 1)^2 = 4, (0 - -2)^2 = 4, 0.
  for temperature in (1.0, 5.0):
    np.testing.assert_allclose(loss(make_inputs(teacher, student, temperature)),
                               [4.0, 4.0, 0.0])


@pytest.mark.parametrize("temperature, teacher, student, expected", [
    # p = sigmoid(ln 3) = 0.75, q = 0.5: 0.75 ln 1.5 + 0.25 ln 0.5 = 0.130812, which is
    # CE (ln 2, above) minus H(0.75) = 0.562335.
    (1.0, math.log(3), 0.0, 0.75 * math.log(1.5) + 0.25 * math.log(0.5)),
    # KL(teacher || student), not the reverse: p = 0.5, q = 0.75:
    # 0.5 ln(0.5 / 0.75) + 0.5 ln(0.5 / 0.25) = 0.143841.
    (1.0, 0.0, math.log(3), 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(2.0)),
    # T=2: ln 9 / 2 = ln 3, so p, q = 0.75, 0.5 again, times T^2 = 4: 0.523248.
    (2.0, math.log(9), 0.0, 4 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5))),
    # p = 1, q = sigmoid(-100): ln(1 / q) = softplus(100) = 100, where ln q underflows.
    (1.0, 100.0, -100.0, 100.0),
])
def test_kl_hand_values(temperature, teacher, student, expected):
  got = losses.get_distillation_loss("kl")(
      make_inputs(tf.constant([teacher]), tf.constant([student]), temperature))
  np.testing.assert_allclose(got, [expected], rtol=1e-5)


_JS_P75_Q50 = 0.5 * (
    # m = 0.625. KL(0.75 || m) = 0.75 ln 1.2 + 0.25 ln(2/3) = 0.035375;
    0.75 * math.log(1.2) + 0.25 * math.log(2 / 3)
    # KL(0.5 || m) = 0.5 ln 0.8 + 0.5 ln(4/3) = 0.032269; JS = 0.033822.
    + 0.5 * math.log(0.8) + 0.5 * math.log(4 / 3))


@pytest.mark.parametrize("temperature, teacher, student, expected", [
    (1.0, math.log(3), 0.0, _JS_P75_Q50),
    (1.0, 0.0, math.log(3), _JS_P75_Q50),  # Symmetric.
    (2.0, math.log(9), 0.0, 4 * _JS_P75_Q50),  # p, q = 0.75, 0.5 again, times T^2.
    # p = 1, q = 0, m = 1/2: (ln 2 + ln 2) / 2, the bound; m never forms 0 or 1.
    (1.0, 100.0, -100.0, math.log(2)),
    (1.0, -100.0, 100.0, math.log(2)),
    (1.0, -100.0, -100.0, 0.0),  # p = q = e^-100, which float32 cannot hold.
])
def test_js_hand_values(temperature, teacher, student, expected):
  got = losses.get_distillation_loss("js")(
      make_inputs(tf.constant([teacher]), tf.constant([student]), temperature))
  np.testing.assert_allclose(got, [expected], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
@pytest.mark.parametrize("name", ["kl", "js"])
def test_kl_and_js_are_zero_with_zero_gradient_at_the_teacher(name, temperature):
  teacher = [-100.0, -2.0, 0.0, 0.5, 3.0, 100.0]
  loss = losses.get_distillation_loss(name)
  at_teacher = loss(make_inputs(tf.constant(teacher), tf.constant(teacher),
                                temperature))
  # Exactly: kl subtracts the same float from itself; js's mixture logit is then t / T.
  # The gradient up to rounding: the composite sigmoid cross-entropy's gradient is not
  # formed as sigmoid(s) - sigmoid(t).
  np.testing.assert_array_equal(at_teacher, 0.0)
  np.testing.assert_allclose(student_gradient(name, teacher, teacher, temperature),
                             0.0, atol=1e-6)
  middle = tf.constant(teacher[1:-1])  # Where +-0.5 moves the probabilities.
  for delta in (-0.5, 0.5):
    assert np.all(loss(make_inputs(middle, middle + delta, temperature)) > 1e-4)


def test_kl_student_gradient_is_cross_entropys():
  # T (sigmoid(s / T) - sigmoid(t / T)), t = ln 9, 0, -100 and s = 0, 2, -100:
  # T=1: 0.5 - 0.9 = -0.4, sigmoid(2) - 0.5 = 0.380797, 0;
  # T=2: 2 (0.5 - sigmoid(ln 3)) = 2 (0.5 - 0.75) = -0.5, 2 (sigmoid(1) - 0.5) = 0.462117, 0.
  teacher, student = [math.log(9), 0.0, -100.0], [0.0, 2.0, -100.0]
  for temperature, expected in ((1.0, [-0.4, sigmoid(2) - 0.5, 0.0]),
                                (2.0, [-0.5, 2 * (sigmoid(1) - 0.5), 0.0])):
    kl = student_gradient("kl", teacher, student, temperature)
    np.testing.assert_allclose(kl, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        kl, student_gradient("cross_entropy", teacher, student, temperature), rtol=1e-6)


def test_js_student_gradient_matches_the_analytic_form():
  # T / 2 * q (1 - q) * (s / T - logit(m)). p = 0.75, q = 0.5, m = 0.625,
  # logit(m) = ln(5/3) = 0.510826: T=1 (t=ln 3): 0.5 * 0.25 * -0.510826 = -0.063853;
  # T=2 (t=ln 9, the same p): 1 * 0.25 * -0.510826 = -0.127706. The student side:
  # t=0, s=ln 3: q = 0.75, p = 0.5, same m: 0.5 * 0.1875 * (ln 3 - ln(5/3)) = 0.055109.
  logit_m = math.log(5 / 3)
  np.testing.assert_allclose(
      student_gradient("js", [math.log(3), 0.0], [0.0, math.log(3)], 1.0),
      [0.5 * 0.25 * -logit_m, 0.5 * 0.1875 * (math.log(3) - logit_m)], rtol=1e-4)
  np.testing.assert_allclose(student_gradient("js", [math.log(9)], [0.0], 2.0),
                             [0.25 * -logit_m], rtol=1e-4)


@pytest.mark.parametrize("temperature, label, teacher, student, expected", [
    # T softplus(-(2y - 1)(s - t) / T). y=1, s - t = -ln 3: softplus(ln 3) = ln 4.
    (1.0, 1.0, math.log(3), 0.0, math.log(4)),
    # y=0: softplus(-ln 3) = ln(1 + 1/3) = ln(4/3).
    (1.0, 0.0, math.log(3), 0.0, math.log(4 / 3)),
    # T=2, s - t = -ln 9: 2 softplus(ln 3) = 2 ln 4 = 2.772589.
    (2.0, 1.0, math.log(9), 0.0, 2 * math.log(4)),
    (2.0, 0.0, math.log(9), 0.0, 2 * math.log(4 / 3)),
    # At s == t: T ln 2, not 0.
    (1.0, 1.0, 0.7, 0.7, math.log(2)),
    (5.0, 0.0, 0.7, 0.7, 5 * math.log(2)),
    # The student far on the wrong side: softplus(200) = 200; on the right side: e^-200.
    (1.0, 1.0, 100.0, -100.0, 200.0),
    (1.0, 0.0, 100.0, -100.0, 0.0),
])
def test_confidence_ranking_hand_values(temperature, label, teacher, student, expected):
  got = losses.get_distillation_loss("confidence_ranking")(
      make_inputs(tf.constant([teacher]), tf.constant([student]), temperature, [label]))
  np.testing.assert_allclose(got, [expected], rtol=1e-5)


def test_confidence_ranking_pushes_past_the_teacher_on_the_labels_side():
  # -(2y - 1) sigmoid(-(2y - 1)(s - t) / T). t=1, s=0: y=1: -sigmoid(1) = -0.731059 at
  # T=1, -sigmoid(0.5) = -0.622459 at T=2; y=0: sigmoid(-1) = 0.268941 at T=1.
  # At s == t: -1/2 for a positive, 1/2 for a negative, whatever T.
  teacher, student, labels = [1.0, 1.0, 0.3, 0.3], [0.0, 0.0, 0.3, 0.3], [1, 0, 1, 0]
  np.testing.assert_allclose(
      student_gradient("confidence_ranking", teacher, student, 1.0, labels),
      [-sigmoid(1), sigmoid(-1), -0.5, 0.5], rtol=1e-5)
  np.testing.assert_allclose(
      student_gradient("confidence_ranking", teacher, student, 2.0, labels),
      [-sigmoid(0.5), sigmoid(-0.5), -0.5, 0.5], rtol=1e-5)


def test_base_rate_cross_entropy_mixes_into_the_targets_linearly():
  logits = tf.constant([-3.0, 0.0, 0.5, 4.0])
  labels = tf.constant([0.0, 1.0, 0.0, 1.0])
  lam, rate = 0.3, 0.04
  mixed = ((1 - lam) * losses.binary_cross_entropy(labels, logits)
           + lam * losses.base_rate_cross_entropy(rate, logits))
  np.testing.assert_allclose(mixed, losses.binary_cross_entropy(
      (1 - lam) * labels + lam * rate, logits), rtol=1e-6)
  # At the base rate's own logit the smoothing term is the base rate's entropy.
  entropy = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))
  assert float(losses.base_rate_cross_entropy(
      rate, tf.constant([math.log(rate / (1 - rate))]))[0]) == pytest.approx(entropy,
                                                                           rel=1e-5)


def test_hardness_aware_weighs_cross_entropy_by_the_teachers_fit_of_the_label():
  teacher = tf.constant([3.0, -3.0, 0.0, 2.0])
  student = tf.constant([0.5, 0.1, -0.2, 1.0])
  labels = tf.constant([1.0, 1.0, 0.0, 0.0])
  inputs = losses.DistillationInputs(teacher, student, labels, 2.0)
  p = 1.0 / (1.0 + np.exp(-teacher.numpy()))
  fit = np.where(labels.numpy() == 1.0, p, 1.0 - p)
  expected = fit / fit.mean() * pointwise.distillation_cross_entropy(inputs).numpy()
  np.testing.assert_allclose(pointwise.distillation_hardness_aware(inputs).numpy(),
                             expected, rtol=1e-5)


def test_hint_squared_error_is_each_examples_mean_over_the_width():
  student = tf.constant([[1.0, 2.0], [0.0, 0.0]])
  teacher = tf.constant([[1.0, 0.0], [3.0, -1.0]])
  # (0 + 4) / 2 = 2; (9 + 1) / 2 = 5.
  np.testing.assert_allclose(losses.hint_squared_error(student, teacher), [2.0, 5.0])
