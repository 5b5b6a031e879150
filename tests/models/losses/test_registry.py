"""Tests for models/losses/registry.py: every registered loss, by name."""

import numpy as np
import pytest
import tensorflow as tf

from models import losses
from models.losses import registry
from loss_cases import make_inputs, student_gradient

# The ranking losses that read the teacher only through its order within a request.
_TEACHER_ORDER_ONLY = {"top_k", "ranking_distillation", "bpr"}


@pytest.mark.parametrize("name", sorted(losses.DISTILLATION_LOSSES))
def test_distillation_losses_leave_gradient_routing_to_the_caller(name):
  loss = losses.get_distillation_loss(name)
  teacher = tf.Variable([1.0, -1.0])
  # Not 0: d CE / d label = -student / T; unequal: the listwise loss of a uniform
  # student is ln 2 whatever the teacher.
  student = tf.constant([0.5, -0.25])
  labels = [1.0, 0.0]
  with tf.GradientTape(persistent=True) as tape:
    open_loss = loss(make_inputs(teacher, student, 2.0, labels))
    blocked_loss = loss(make_inputs(tf.stop_gradient(teacher), student, 2.0, labels))
  if name in _TEACHER_ORDER_ONLY:  # Comparisons of teacher logits have no gradient.
    assert tape.gradient(open_loss, teacher) is None
  else:
    assert np.all(np.abs(tape.gradient(open_loss, teacher)) > 0)
  assert tape.gradient(blocked_loss, teacher) is None


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_distillation_inputs_reject_a_non_positive_temperature(temperature):
  with pytest.raises(ValueError, match=f"temperature must be > 0, got {temperature}"):
    losses.get_distillation_loss("cross_entropy")(
        make_inputs(tf.zeros([1]), tf.zeros([1]), temperature))


def test_unknown_distillation_loss_lists_known_names():
  with pytest.raises(ValueError, match="'hinge'.*'bpr', 'confidence_ranking', "
                     "'cross_entropy', 'hardness_aware', 'js', 'kl', 'listwise', 'mse_logits', "
                     "'ranking_distillation', 'rcr', 'top_k'"):
    losses.get_distillation_loss("hinge")


def test_register_distillation_loss(monkeypatch):
  monkeypatch.setattr(registry, "DISTILLATION_LOSSES",
                      dict(registry.DISTILLATION_LOSSES))

  @losses.register_distillation_loss("absolute_logits")
  def absolute(inputs):
    return tf.abs(inputs.student_logits - inputs.teacher_logits)

  assert losses.get_distillation_loss("absolute_logits") is absolute
  with pytest.raises(ValueError, match="'absolute_logits' is already registered"):
    losses.register_distillation_loss("absolute_logits")(absolute)


@pytest.mark.parametrize("temperature", [0.5, 1.0])
@pytest.mark.parametrize("name", sorted(losses.DISTILLATION_LOSSES))
def test_distillation_losses_are_finite_for_extreme_logits(name, temperature):
  # Every (teacher, student) pair of +-100; T=0.5 makes them +-200.
  teacher = [100.0, 100.0, -100.0, -100.0]
  student = [100.0, -100.0, 100.0, -100.0]
  labels = [1.0, 0.0, 1.0, 0.0]
  value = losses.get_distillation_loss(name)(
      make_inputs(tf.constant(teacher), tf.constant(student), temperature, labels))
  assert np.all(np.isfinite(value))
  assert np.all(np.isfinite(
      student_gradient(name, teacher, student, temperature, labels)))


def test_distillation_inputs_reject_a_top_k_below_one():
  with pytest.raises(ValueError, match="top_k must be >= 1, got 0"):
    make_inputs(tf.zeros([1]), tf.zeros([1]), top_k=0)
