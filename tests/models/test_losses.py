"""Tests for models/losses.py: per-example losses by hand, registry, lambda schedule."""

import math

import numpy as np
import pytest
import tensorflow as tf

from models import losses


def _softplus(x: float) -> float:
  return math.log1p(math.exp(x))


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
    (1.0, 0.0, 2.0, 0.5 * _softplus(-2.0) + 0.5 * _softplus(2.0)),
    # Soft label sigmoid(ln 3) = 0.75, student 0.5: -0.75 log .5 - .25 log .5 = log 2.
    (1.0, math.log(3), 0.0, math.log(2)),
    # T=2: soft label 0.5, student logit 2 / 2 = 1:
    # 4 * (0.5 softplus(-1) + 0.5 softplus(1)) = 4 * 0.813262 = 3.253049.
    (2.0, 0.0, 2.0, 4 * (0.5 * _softplus(-1.0) + 0.5 * _softplus(1.0))),
    # T=2: soft label sigmoid(ln 9 / 2) = sigmoid(ln 3) = 0.75, student 0: 4 * log 2.
    (2.0, math.log(9), 0.0, 4 * math.log(2)),
])
def test_cross_entropy_hand_values(temperature, teacher, student, expected):
  loss = losses.get_distillation_loss("cross_entropy")
  got = loss(tf.constant([teacher]), tf.constant([student]), temperature)
  np.testing.assert_allclose(got, [expected], rtol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_cross_entropy_is_minimised_at_the_teacher_logits(temperature):
  loss = losses.get_distillation_loss("cross_entropy")
  teacher = tf.constant([-2.0, 0.0, 0.5, 3.0])
  student = tf.Variable(teacher)
  with tf.GradientTape() as tape:
    at_teacher = loss(teacher, student, temperature)
  np.testing.assert_allclose(tape.gradient(at_teacher, student), 0.0, atol=1e-6)
  for delta in (-0.5, 0.5):
    assert np.all(loss(teacher, teacher + delta, temperature) > at_teacher)


def test_cross_entropy_gradient_size_does_not_depend_on_temperature():
  # d/ds = T * (sigmoid(s / T) - sigmoid(t / T)) ~ (s - t) / 4 for small logits:
  # 0.024979 at T=1 and 4 * (sigmoid(0.025) - 0.5) = 0.024999 at T=4. Without the T^2
  # factor the T=4 gradient would be 16 times smaller.
  loss = losses.get_distillation_loss("cross_entropy")
  gradients = []
  for temperature in (1.0, 4.0):
    student = tf.Variable([0.1])
    with tf.GradientTape() as tape:
      value = loss(tf.constant([0.0]), student, temperature)
    gradients.append(tape.gradient(value, student).numpy()[0])
  np.testing.assert_allclose(gradients, [0.024979, 0.024999], rtol=1e-4)


@pytest.mark.parametrize("name", ["cross_entropy", "mse_logits"])
def test_distillation_losses_leave_gradient_routing_to_the_caller(name):
  loss = losses.get_distillation_loss(name)
  teacher = tf.Variable([1.0, -1.0])
  student = tf.constant([0.5, 0.5])  # Not 0: d CE / d label = -student / T.
  with tf.GradientTape(persistent=True) as tape:
    open_loss = loss(teacher, student, 2.0)
    blocked_loss = loss(tf.stop_gradient(teacher), student, 2.0)
  assert np.all(np.abs(tape.gradient(open_loss, teacher)) > 0)
  assert tape.gradient(blocked_loss, teacher) is None


def test_mse_logits_hand_values_ignore_temperature():
  loss = losses.get_distillation_loss("mse_logits")
  teacher, student = tf.constant([1.0, -2.0, 0.5]), tf.constant([3.0, 0.0, 0.5])
  # (3 - 1)^2 = 4, (0 - -2)^2 = 4, 0.
  for temperature in (1.0, 5.0):
    np.testing.assert_allclose(loss(teacher, student, temperature), [4.0, 4.0, 0.0])


def test_cross_entropy_rejects_non_positive_temperature():
  with pytest.raises(ValueError, match="temperature.*0"):
    losses.get_distillation_loss("cross_entropy")(tf.zeros([1]), tf.zeros([1]), 0.0)


def test_unknown_distillation_loss_lists_known_names():
  with pytest.raises(ValueError, match="'kl'.*cross_entropy.*mse_logits"):
    losses.get_distillation_loss("kl")


def test_register_distillation_loss(monkeypatch):
  monkeypatch.setattr(losses, "DISTILLATION_LOSSES", dict(losses.DISTILLATION_LOSSES))

  @losses.register_distillation_loss("absolute_logits")
  def absolute(teacher_logits, student_logits, temperature):
    del temperature
    return tf.abs(student_logits - teacher_logits)

  assert losses.get_distillation_loss("absolute_logits") is absolute
  with pytest.raises(ValueError, match="'absolute_logits' is already registered"):
    losses.register_distillation_loss("absolute_logits")(absolute)


def test_lambda_schedule_is_exactly_zero_before_swap_then_ramps():
  schedule = losses.LambdaSchedule(value=0.5, swap_step=10, ramp_steps=4)
  step = tf.Variable(0, dtype=tf.int64)
  in_graph = tf.function(lambda: schedule(step))
  for s in range(10):
    step.assign(s)
    assert in_graph().numpy() == 0.0  # Exactly, not approximately.
    assert schedule(s).numpy() == 0.0
  # Ramp from 0 at step 10 to 0.5 at step 14: 0.5 * (12 - 10) / 4 = 0.25 at step 12.
  for s, expected in [(10, 0.0), (11, 0.125), (12, 0.25), (14, 0.5), (10**9, 0.5)]:
    step.assign(s)
    assert in_graph().numpy() == pytest.approx(expected)
  assert in_graph().dtype == tf.float32 and in_graph().shape == []


def test_lambda_schedule_without_ramp_switches_at_swap_step():
  schedule = losses.LambdaSchedule(value=0.7, swap_step=3)
  got = [float(schedule(tf.constant(s))) for s in range(6)]
  assert got == pytest.approx([0.0, 0.0, 0.0, 0.7, 0.7, 0.7])


@pytest.mark.parametrize("kwargs, message", [
    (dict(value=1.5, swap_step=0), "value.*1.5"),
    (dict(value=-0.1, swap_step=0), "value.*-0.1"),
    (dict(value=0.5, swap_step=-1), "swap_step.*-1"),
    (dict(value=0.5, swap_step=0, ramp_steps=-2), "ramp_steps.*-2"),
])
def test_lambda_schedule_validates(kwargs, message):
  with pytest.raises(ValueError, match=message):
    losses.LambdaSchedule(**kwargs)
