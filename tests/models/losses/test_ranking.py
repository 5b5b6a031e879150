"""Tests for models/losses/ranking.py: the losses within a request by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

from models import losses
from loss_cases import make_inputs, sigmoid, softplus


# Two requests: a = examples 0-2 (teacher order 0 > 2 > 1), b = examples 3-4 (4 > 3).
_TEACHER = [2.0, 0.0, 1.0, -1.0, 3.0]


_STUDENT = [0.5, 1.0, -0.5, 0.0, 2.0]


_LABELS = [1.0, 0.0, 0.0, 0.0, 1.0]


_REQUESTS = [b"a", b"a", b"a", b"b", b"b"]


def _ranking_loss(name, temperature=1.0, top_k=losses.DEFAULT_TOP_K, teacher=_TEACHER,
                  student=_STUDENT, dtype=tf.float32):
  return losses.get_distillation_loss(name)(make_inputs(
      tf.constant(teacher, dtype), tf.constant(student, dtype), temperature, _LABELS,
      _REQUESTS, top_k)).numpy()


def test_the_ranking_losses_are_the_request_losses():
  assert losses.REQUEST_LOSSES == {"top_k", "ranking_distillation", "bpr", "listwise",
                                   "rcr"}


@pytest.mark.parametrize("top_k, chosen", [
    (1, [1, 0, 0, 0, 1]),  # Each request's best by the teacher.
    (2, [1, 0, 1, 1, 1]),  # Request b has only two: both.
])
def test_top_k_is_bce_to_the_teachers_top_k_of_each_request(top_k, chosen):
  # BCE(y, s) = softplus(-s) for y = 1, softplus(s) for y = 0.
  expected = [softplus(-s if y else s) for s, y in zip(_STUDENT, chosen)]
  np.testing.assert_allclose(_ranking_loss("top_k", top_k=top_k), expected, rtol=1e-6)


def test_top_k_breaks_teacher_ties_by_position():
  # All tied: only the first is chosen (seen through student logits of 1).
  loss = losses.get_distillation_loss("top_k")(
      make_inputs(tf.zeros([3]), tf.ones([3]), top_k=1))
  np.testing.assert_allclose(loss, [softplus(-1), softplus(1), softplus(1)],
                             rtol=1e-6)


def test_ranking_distillation_weighs_the_top_k_by_rank():
  # Teacher ranks [0, 2, 1 | 1, 0], K = 2: weights exp(-r / 2) on ranks 0 and 1, on
  # BCE(1, s) = softplus(-s).
  w1 = math.exp(-0.5)
  expected = [softplus(-0.5), 0.0, w1 * softplus(0.5), w1 * softplus(0.0),
              softplus(-2.0)]
  np.testing.assert_allclose(_ranking_loss("ranking_distillation", top_k=2), expected,
                             rtol=1e-6)


def test_bpr_is_each_examples_mean_over_its_teacher_ordered_pairs():
  # Pairs (i above j by the teacher): a: (0,1) softplus(-(0.5 - 1)) = sp(0.5),
  # (0,2) sp(-(0.5 + 0.5)) = sp(-1), (2,1) sp(-(-0.5 - 1)) = sp(1.5); b: (4,3) sp(-2).
  sp = softplus
  expected = [(sp(0.5) + sp(-1)) / 2, (sp(0.5) + sp(1.5)) / 2, (sp(-1) + sp(1.5)) / 2,
              sp(-2), sp(-2)]
  for temperature in (1.0, 3.0):  # Not used.
    np.testing.assert_allclose(_ranking_loss("bpr", temperature), expected, rtol=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_listwise_is_t2_softmax_cross_entropy_within_each_request(temperature):

  def softmax(x):
    e = np.exp(np.asarray(x) / temperature)
    return e / e.sum()

  expected = []
  for rows in (slice(0, 3), slice(3, 5)):
    p, q = softmax(_TEACHER[rows]), softmax(_STUDENT[rows])
    expected.extend(-temperature**2 * p * np.log(q))
  np.testing.assert_allclose(_ranking_loss("listwise", temperature), expected,
                             rtol=1e-5)
  # Request b by hand at T = 2: teacher logits / T = -0.5, 1.5, p = sigmoid(-+2);
  # student 0, 1, q = sigmoid(-+1): 4 * -(p_3 ln q_3).
  if temperature == 2.0:
    np.testing.assert_allclose(
        _ranking_loss("listwise", 2.0)[3],
        -4 * sigmoid(-2) * math.log(sigmoid(-1)), rtol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_rcr_is_the_logistic_loss_on_margins_past_the_teachers(temperature):
  # Positive-negative pairs: (0,1) margin (0.5 - 1) - (2 - 0) = -2.5; (0,2) margin
  # (0.5 + 0.5) - (2 - 1) = 0; (4,3) margin (2 - 0) - (3 + 1) = -2.
  def pair(margin):
    return temperature * softplus(-margin / temperature)

  expected = [(pair(-2.5) + pair(0)) / 2, pair(-2.5), pair(0), pair(-2), pair(-2)]
  np.testing.assert_allclose(_ranking_loss("rcr", temperature), expected, rtol=1e-6)
  assert pair(0) == pytest.approx(temperature * math.log(2))


@pytest.mark.parametrize("name", sorted(losses.REQUEST_LOSSES))
def test_ranking_losses_never_pair_across_requests(name):
  before = _ranking_loss(name, top_k=1)
  teacher, student = list(_TEACHER), list(_STUDENT)
  teacher[0], student[1] = -5.0, 4.0  # Request a only, its order changed.
  after = _ranking_loss(name, top_k=1, teacher=teacher, student=student)
  np.testing.assert_array_equal(after[3:], before[3:])
  assert not np.allclose(after[:3], before[:3])


@pytest.mark.parametrize("name", sorted(losses.REQUEST_LOSSES))
def test_ranking_losses_give_the_student_a_finite_gradient(name):
  gradient = _student_gradient_of_requests(name, tf.float32)
  assert np.all(np.isfinite(gradient)) and np.any(gradient != 0)


@pytest.mark.parametrize("name", ["bpr", "listwise", "rcr"])
def test_ranking_loss_gradients_match_central_differences(name):
  gradient = _student_gradient_of_requests(name, tf.float64, temperature=2.0)
  step, numeric = 1e-6, []
  for i in range(len(_STUDENT)):
    up, down = list(_STUDENT), list(_STUDENT)
    up[i] += step
    down[i] -= step
    numeric.append((_ranking_loss(name, 2.0, student=up, dtype=tf.float64).sum()
                    - _ranking_loss(name, 2.0, student=down, dtype=tf.float64).sum())
                   / (2 * step))
  np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-8)


def _student_gradient_of_requests(name, dtype, temperature=1.0):
  """d sum of the loss / d student logits, on the two-request batch."""
  student = tf.Variable(_STUDENT, dtype=dtype)
  with tf.GradientTape() as tape:
    value = tf.reduce_sum(losses.get_distillation_loss(name)(make_inputs(
        tf.constant(_TEACHER, dtype), student, temperature, _LABELS, _REQUESTS)))
  return tape.gradient(value, student).numpy()


@pytest.mark.parametrize("name", sorted(losses.REQUEST_LOSSES))
def test_ranking_losses_without_request_ids_name_the_loss(name):
  inputs = losses.DistillationInputs(
      teacher_logits=tf.zeros([2]), student_logits=tf.zeros([2]),
      labels=tf.zeros([2]), temperature=1.0)
  with pytest.raises(ValueError, match=f"{name!r} ranks within requests.*request_ids"):
    losses.get_distillation_loss(name)(inputs)
