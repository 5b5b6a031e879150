"""Tests for models/losses.py: per-example losses by hand, registry, lambda schedule."""

import math

import numpy as np
import pytest
import tensorflow as tf

from models import losses


def _softplus(x: float) -> float:
  return math.log1p(math.exp(x))


def _sigmoid(x: float) -> float:
  return 1.0 / (1.0 + math.exp(-x))


def _inputs(teacher, student, temperature: float = 1.0, labels=None, requests=None,
            top_k: int = losses.DEFAULT_TOP_K) -> losses.DistillationInputs:
  """The bundle; labels (read only by confidence_ranking and rcr) default to 0s, and
  requests (read only by the REQUEST_LOSSES) to one request for the whole batch."""
  if labels is None:
    labels = tf.zeros(tf.shape(student))
  if requests is None:
    requests = tf.zeros(tf.shape(student), tf.int64)
  return losses.DistillationInputs(teacher_logits=teacher, student_logits=student,
                                   labels=tf.constant(labels, tf.float32),
                                   temperature=temperature,
                                   request_ids=tf.constant(requests), top_k=top_k)


# The ranking losses that read the teacher only through its order within a request.
_TEACHER_ORDER_ONLY = {"top_k", "ranking_distillation", "bpr"}


def _student_gradient(name: str, teacher, student, temperature: float, labels=None):
  """d loss / d student logit of the registered loss `name`, per example."""
  student = tf.Variable(student, dtype=tf.float32)
  with tf.GradientTape() as tape:
    value = losses.get_distillation_loss(name)(
        _inputs(tf.constant(teacher, tf.float32), student, temperature, labels))
  return tape.gradient(value, student).numpy()


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
  got = loss(_inputs(tf.constant([teacher]), tf.constant([student]), temperature))
  np.testing.assert_allclose(got, [expected], rtol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_cross_entropy_is_minimised_at_the_teacher_logits(temperature):
  loss = losses.get_distillation_loss("cross_entropy")
  teacher = tf.constant([-2.0, 0.0, 0.5, 3.0])
  student = tf.Variable(teacher)
  with tf.GradientTape() as tape:
    at_teacher = loss(_inputs(teacher, student, temperature))
  np.testing.assert_allclose(tape.gradient(at_teacher, student), 0.0, atol=1e-6)
  for delta in (-0.5, 0.5):
    assert np.all(loss(_inputs(teacher, teacher + delta, temperature)) > at_teacher)


def test_cross_entropy_gradient_size_does_not_depend_on_temperature():
  # d/ds = T * (sigmoid(s / T) - sigmoid(t / T)) ~ (s - t) / 4 for small logits:
  # 0.024979 at T=1 and 4 * (sigmoid(0.025) - 0.5) = 0.024999 at T=4. Without the T^2
  # factor the T=4 gradient would be 16 times smaller.
  loss = losses.get_distillation_loss("cross_entropy")
  gradients = []
  for temperature in (1.0, 4.0):
    student = tf.Variable([0.1])
    with tf.GradientTape() as tape:
      value = loss(_inputs(tf.constant([0.0]), student, temperature))
    gradients.append(tape.gradient(value, student).numpy()[0])
  np.testing.assert_allclose(gradients, [0.024979, 0.024999], rtol=1e-4)


@pytest.mark.parametrize("name", sorted(losses.DISTILLATION_LOSSES))
def test_distillation_losses_leave_gradient_routing_to_the_caller(name):
  loss = losses.get_distillation_loss(name)
  teacher = tf.Variable([1.0, -1.0])
  # Not 0: d CE / d label = -student / T; unequal: the listwise loss of a uniform
  # student is ln 2 whatever the teacher.
  student = tf.constant([0.5, -0.25])
  labels = [1.0, 0.0]
  with tf.GradientTape(persistent=True) as tape:
    open_loss = loss(_inputs(teacher, student, 2.0, labels))
    blocked_loss = loss(_inputs(tf.stop_gradient(teacher), student, 2.0, labels))
  if name in _TEACHER_ORDER_ONLY:  # Comparisons of teacher logits have no gradient.
    assert tape.gradient(open_loss, teacher) is None
  else:
    assert np.all(np.abs(tape.gradient(open_loss, teacher)) > 0)
  assert tape.gradient(blocked_loss, teacher) is None


def test_mse_logits_hand_values_ignore_temperature():
  loss = losses.get_distillation_loss("mse_logits")
  teacher, student = tf.constant([1.0, -2.0, 0.5]), tf.constant([3.0, 0.0, 0.5])
  # (3 - 1)^2 = 4, (0 - -2)^2 = 4, 0.
  for temperature in (1.0, 5.0):
    np.testing.assert_allclose(loss(_inputs(teacher, student, temperature)),
                               [4.0, 4.0, 0.0])


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_distillation_inputs_reject_a_non_positive_temperature(temperature):
  with pytest.raises(ValueError, match=f"temperature must be > 0, got {temperature}"):
    losses.get_distillation_loss("cross_entropy")(
        _inputs(tf.zeros([1]), tf.zeros([1]), temperature))


def test_unknown_distillation_loss_lists_known_names():
  with pytest.raises(ValueError, match="'hinge'.*'bpr', 'confidence_ranking', "
                     "'cross_entropy', 'hardness_aware', 'js', 'kl', 'listwise', 'mse_logits', "
                     "'ranking_distillation', 'rcr', 'top_k'"):
    losses.get_distillation_loss("hinge")


def test_register_distillation_loss(monkeypatch):
  monkeypatch.setattr(losses, "DISTILLATION_LOSSES", dict(losses.DISTILLATION_LOSSES))

  @losses.register_distillation_loss("absolute_logits")
  def absolute(inputs):
    return tf.abs(inputs.student_logits - inputs.teacher_logits)

  assert losses.get_distillation_loss("absolute_logits") is absolute
  with pytest.raises(ValueError, match="'absolute_logits' is already registered"):
    losses.register_distillation_loss("absolute_logits")(absolute)


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
      _inputs(tf.constant([teacher]), tf.constant([student]), temperature))
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
      _inputs(tf.constant([teacher]), tf.constant([student]), temperature))
  np.testing.assert_allclose(got, [expected], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
@pytest.mark.parametrize("name", ["kl", "js"])
def test_kl_and_js_are_zero_with_zero_gradient_at_the_teacher(name, temperature):
  teacher = [-100.0, -2.0, 0.0, 0.5, 3.0, 100.0]
  loss = losses.get_distillation_loss(name)
  at_teacher = loss(_inputs(tf.constant(teacher), tf.constant(teacher), temperature))
  # Exactly: kl subtracts the same float from itself; js's mixture logit is then t / T.
  # The gradient up to rounding: the composite sigmoid cross-entropy's gradient is not
  # formed as sigmoid(s) - sigmoid(t).
  np.testing.assert_array_equal(at_teacher, 0.0)
  np.testing.assert_allclose(_student_gradient(name, teacher, teacher, temperature),
                             0.0, atol=1e-6)
  middle = tf.constant(teacher[1:-1])  # Where +-0.5 moves the probabilities.
  for delta in (-0.5, 0.5):
    assert np.all(loss(_inputs(middle, middle + delta, temperature)) > 1e-4)


def test_kl_student_gradient_is_cross_entropys():
  # T (sigmoid(s / T) - sigmoid(t / T)), t = ln 9, 0, -100 and s = 0, 2, -100:
  # T=1: 0.5 - 0.9 = -0.4, sigmoid(2) - 0.5 = 0.380797, 0;
  # T=2: 2 (0.5 - sigmoid(ln 3)) = 2 (0.5 - 0.75) = -0.5, 2 (sigmoid(1) - 0.5) = 0.462117, 0.
  teacher, student = [math.log(9), 0.0, -100.0], [0.0, 2.0, -100.0]
  for temperature, expected in ((1.0, [-0.4, _sigmoid(2) - 0.5, 0.0]),
                                (2.0, [-0.5, 2 * (_sigmoid(1) - 0.5), 0.0])):
    kl = _student_gradient("kl", teacher, student, temperature)
    np.testing.assert_allclose(kl, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        kl, _student_gradient("cross_entropy", teacher, student, temperature), rtol=1e-6)


def test_js_student_gradient_matches_the_analytic_form():
  # T / 2 * q (1 - q) * (s / T - logit(m)). p = 0.75, q = 0.5, m = 0.625,
  # logit(m) = ln(5/3) = 0.510826: T=1 (t=ln 3): 0.5 * 0.25 * -0.510826 = -0.063853;
  # T=2 (t=ln 9, the same p): 1 * 0.25 * -0.510826 = -0.127706. The student side:
  # t=0, s=ln 3: q = 0.75, p = 0.5, same m: 0.5 * 0.1875 * (ln 3 - ln(5/3)) = 0.055109.
  logit_m = math.log(5 / 3)
  np.testing.assert_allclose(
      _student_gradient("js", [math.log(3), 0.0], [0.0, math.log(3)], 1.0),
      [0.5 * 0.25 * -logit_m, 0.5 * 0.1875 * (math.log(3) - logit_m)], rtol=1e-4)
  np.testing.assert_allclose(_student_gradient("js", [math.log(9)], [0.0], 2.0),
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
      _inputs(tf.constant([teacher]), tf.constant([student]), temperature, [label]))
  np.testing.assert_allclose(got, [expected], rtol=1e-5)


def test_confidence_ranking_pushes_past_the_teacher_on_the_labels_side():
  # -(2y - 1) sigmoid(-(2y - 1)(s - t) / T). t=1, s=0: y=1: -sigmoid(1) = -0.731059 at
  # T=1, -sigmoid(0.5) = -0.622459 at T=2; y=0: sigmoid(-1) = 0.268941 at T=1.
  # At s == t: -1/2 for a positive, 1/2 for a negative, whatever T.
  teacher, student, labels = [1.0, 1.0, 0.3, 0.3], [0.0, 0.0, 0.3, 0.3], [1, 0, 1, 0]
  np.testing.assert_allclose(
      _student_gradient("confidence_ranking", teacher, student, 1.0, labels),
      [-_sigmoid(1), _sigmoid(-1), -0.5, 0.5], rtol=1e-5)
  np.testing.assert_allclose(
      _student_gradient("confidence_ranking", teacher, student, 2.0, labels),
      [-_sigmoid(0.5), _sigmoid(-0.5), -0.5, 0.5], rtol=1e-5)


@pytest.mark.parametrize("temperature", [0.5, 1.0])
@pytest.mark.parametrize("name", sorted(losses.DISTILLATION_LOSSES))
def test_distillation_losses_are_finite_for_extreme_logits(name, temperature):
  # Every (teacher, student) pair of +-100; T=0.5 makes them +-200.
  teacher = [100.0, 100.0, -100.0, -100.0]
  student = [100.0, -100.0, 100.0, -100.0]
  labels = [1.0, 0.0, 1.0, 0.0]
  value = losses.get_distillation_loss(name)(
      _inputs(tf.constant(teacher), tf.constant(student), temperature, labels))
  assert np.all(np.isfinite(value))
  assert np.all(np.isfinite(
      _student_gradient(name, teacher, student, temperature, labels)))


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


# --- Ranking within a request ---------------------------------------------------------
# Two requests: a = examples 0-2 (teacher order 0 > 2 > 1), b = examples 3-4 (4 > 3).
_TEACHER = [2.0, 0.0, 1.0, -1.0, 3.0]
_STUDENT = [0.5, 1.0, -0.5, 0.0, 2.0]
_LABELS = [1.0, 0.0, 0.0, 0.0, 1.0]
_REQUESTS = [b"a", b"a", b"a", b"b", b"b"]


def _ranking_loss(name, temperature=1.0, top_k=losses.DEFAULT_TOP_K, teacher=_TEACHER,
                  student=_STUDENT, dtype=tf.float32):
  return losses.get_distillation_loss(name)(_inputs(
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
  expected = [_softplus(-s if y else s) for s, y in zip(_STUDENT, chosen)]
  np.testing.assert_allclose(_ranking_loss("top_k", top_k=top_k), expected, rtol=1e-6)


def test_top_k_breaks_teacher_ties_by_position():
  # All tied: only the first is chosen (seen through student logits of 1).
  loss = losses.get_distillation_loss("top_k")(
      _inputs(tf.zeros([3]), tf.ones([3]), top_k=1))
  np.testing.assert_allclose(loss, [_softplus(-1), _softplus(1), _softplus(1)],
                             rtol=1e-6)


def test_ranking_distillation_weighs_the_top_k_by_rank():
  # Teacher ranks [0, 2, 1 | 1, 0], K = 2: weights exp(-r / 2) on ranks 0 and 1, on
  # BCE(1, s) = softplus(-s).
  w1 = math.exp(-0.5)
  expected = [_softplus(-0.5), 0.0, w1 * _softplus(0.5), w1 * _softplus(0.0),
              _softplus(-2.0)]
  np.testing.assert_allclose(_ranking_loss("ranking_distillation", top_k=2), expected,
                             rtol=1e-6)


def test_bpr_is_each_examples_mean_over_its_teacher_ordered_pairs():
  # Pairs (i above j by the teacher): a: (0,1) softplus(-(0.5 - 1)) = sp(0.5),
  # (0,2) sp(-(0.5 + 0.5)) = sp(-1), (2,1) sp(-(-0.5 - 1)) = sp(1.5); b: (4,3) sp(-2).
  sp = _softplus
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
        -4 * _sigmoid(-2) * math.log(_sigmoid(-1)), rtol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_rcr_is_the_logistic_loss_on_margins_past_the_teachers(temperature):
  # Positive-negative pairs: (0,1) margin (0.5 - 1) - (2 - 0) = -2.5; (0,2) margin
  # (0.5 + 0.5) - (2 - 1) = 0; (4,3) margin (2 - 0) - (3 + 1) = -2.
  def pair(margin):
    return temperature * _softplus(-margin / temperature)

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
    value = tf.reduce_sum(losses.get_distillation_loss(name)(_inputs(
        tf.constant(_TEACHER, dtype), student, temperature, _LABELS, _REQUESTS)))
  return tape.gradient(value, student).numpy()


@pytest.mark.parametrize("name", sorted(losses.REQUEST_LOSSES))
def test_ranking_losses_without_request_ids_name_the_loss(name):
  inputs = losses.DistillationInputs(
      teacher_logits=tf.zeros([2]), student_logits=tf.zeros([2]),
      labels=tf.zeros([2]), temperature=1.0)
  with pytest.raises(ValueError, match=f"{name!r} ranks within requests.*request_ids"):
    losses.get_distillation_loss(name)(inputs)


def test_distillation_inputs_reject_a_top_k_below_one():
  with pytest.raises(ValueError, match="top_k must be >= 1, got 0"):
    _inputs(tf.zeros([1]), tf.zeros([1]), top_k=0)


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
  expected = fit / fit.mean() * losses.distillation_cross_entropy(inputs).numpy()
  np.testing.assert_allclose(losses.distillation_hardness_aware(inputs).numpy(),
                             expected, rtol=1e-5)
