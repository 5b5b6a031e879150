"""Per-example losses of the teacher and student heads; the distillation weight schedule.

Every loss returns one loss per example, shape `[batch_size]`, never a mean: the task
(`models.tasks`) reduces with `tf.nn.compute_average_loss` over the global batch, so
that under `MirroredStrategy` each replica's gradient is its share of the global mean
and the summed update equals the single-device one (a per-replica mean would be
scaled by the number of replicas).

The student of PFD (Xu et al., KDD 2020, eq. 3) minimises

  (1 - lambda) * binary_cross_entropy(y, student) + lambda * L_d(teacher, student)

with `L_d` one of `DISTILLATION_LOSSES`, each taking a `DistillationInputs`, and `lambda`
from a `LambdaSchedule`. The losses of `REQUEST_LOSSES` rank the impressions of one
request against each other: they read `DistillationInputs.request_ids` and want
batches of whole requests (`features.input.make_dataset(group_by_request=True)`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import tensorflow as tf


# The teacher's top K of a request that `top_k` and `ranking_distillation` take
# (ModelConfig.ranking_top_k's default): a pre-ranker passes a few items per request on.
DEFAULT_TOP_K = 3


@dataclasses.dataclass(frozen=True)
class DistillationInputs:
  """What a distillation loss may read of one batch.

  A bundle rather than positional tensors so that later transfers (hidden states for
  hint losses, request ids for ranking ones) add a field, not a new signature.

  Attributes:
    teacher_logits: [batch_size] float logits of the teacher. The caller stops their
      gradient (PFD section 4: the distillation term never updates the teacher); the
      losses leave gradient routing to it.
    student_logits: [batch_size] float logits of the student.
    labels: [batch_size] 0/1 labels (cast to the logits' dtype where used).
    temperature: T > 0; 1 distils the teacher's probabilities as they are.
    request_ids: [batch_size] ids (any dtype) of each example's request, for the
      `REQUEST_LOSSES`, which rank only within a request; None for pointwise losses.
    top_k: K of the losses that take the teacher's top K of a request, >= 1.
  """
  teacher_logits: tf.Tensor
  student_logits: tf.Tensor
  labels: tf.Tensor
  temperature: float
  request_ids: tf.Tensor | None = None
  top_k: int = DEFAULT_TOP_K

  def __post_init__(self):
    if not self.temperature > 0:
      raise ValueError(f"temperature must be > 0, got {self.temperature}.")
    if self.top_k < 1:
      raise ValueError(f"top_k must be >= 1, got {self.top_k}.")


# DistillationInputs -> [batch_size] per-example losses.
DistillationLoss = Callable[[DistillationInputs], tf.Tensor]

DISTILLATION_LOSSES: dict[str, DistillationLoss] = {}
# The registered losses that rank within a request (`register_distillation_loss`'s
# `by_request`): they need request ids and batches of whole requests.
REQUEST_LOSSES: set[str] = set()


def binary_cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
  """Cross-entropy of 0/1 labels against sigmoid(logits), computed from the logits.

  `tf.nn.sigmoid_cross_entropy_with_logits` never forms sigmoid(logits), so a confident
  wrong logit (e.g. 100 for a negative) costs 100 rather than log(0) = inf.

  Args:
    labels: [batch_size] 0/1 labels, any real or integer dtype (cast to the logits').
    logits: [batch_size] float logits.

  Returns:
    [batch_size] per-example losses.
  """
  logits = tf.convert_to_tensor(logits)
  labels = tf.cast(labels, logits.dtype)
  return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


def base_rate_cross_entropy(base_rate: float, logits: tf.Tensor) -> tf.Tensor:
  """Cross-entropy of sigmoid(logits) against the constant target `base_rate`.

  Label smoothing's second term (models.config.Mode.SMOOTH): cross-entropy is linear
  in its target, so (1 - lambda) * BCE(y, p) + lambda * BCE(base_rate, p) is
  BCE((1 - lambda) * y + lambda * base_rate, p), the student on targets pulled
  towards the base rate, with no teacher.

  Args:
    base_rate: The target, in (0, 1) (the train split's positive rate).
    logits: [batch_size] float logits.

  Returns:
    [batch_size] per-example losses.
  """
  logits = tf.convert_to_tensor(logits)
  return tf.nn.sigmoid_cross_entropy_with_logits(
      labels=tf.fill(tf.shape(logits), tf.cast(base_rate, logits.dtype)), logits=logits)


def register_distillation_loss(
    name: str, by_request: bool = False
) -> Callable[[DistillationLoss], DistillationLoss]:
  """Decorator adding a distillation loss to `DISTILLATION_LOSSES` under `name`, and
  to `REQUEST_LOSSES` when it ranks within requests (`by_request`)."""

  def register(fn: DistillationLoss) -> DistillationLoss:
    if name in DISTILLATION_LOSSES:
      raise ValueError(
          f"Distillation loss {name!r} is already registered "
          f"(by {DISTILLATION_LOSSES[name].__qualname__}); pick another name.")
    DISTILLATION_LOSSES[name] = fn
    if by_request:
      REQUEST_LOSSES.add(name)
    return fn

  return register


def get_distillation_loss(name: str) -> DistillationLoss:
  """The distillation loss registered as `name`, e.g. from a config string."""
  try:
    return DISTILLATION_LOSSES[name]
  except KeyError as e:
    raise ValueError(f"Unknown distillation loss {name!r}; known: "
                     f"{sorted(DISTILLATION_LOSSES)}.") from e


def _bernoulli_cross_entropy(p_logits: tf.Tensor, q_logits: tf.Tensor) -> tf.Tensor:
  """-p log q - (1 - p) log(1 - q) for p = sigmoid(p_logits), q = sigmoid(q_logits)."""
  return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.sigmoid(p_logits),
                                                 logits=q_logits)


def _bernoulli_kl(p_logits: tf.Tensor, q_logits: tf.Tensor) -> tf.Tensor:
  """KL(p || q) of Bernoullis given by their logits: CE(p, q) minus p's entropy.

  Each term is linear in a large logit (never log(0)), and the difference is exactly 0
  where the logits are equal.
  """
  return (_bernoulli_cross_entropy(p_logits, q_logits)
          - _bernoulli_cross_entropy(p_logits, p_logits))


@register_distillation_loss("cross_entropy")
def distillation_cross_entropy(inputs: DistillationInputs) -> tf.Tensor:
  """T^2 * cross-entropy of sigmoid(student / T) against soft label sigmoid(teacher / T).

  The PFD paper's distillation loss. The soft label is a sigmoid because the heads have a
  single logit: a softmax over one logit is the constant 1, a bug in common Keras
  distillers that silently turns the soft label into "always positive".

  The T^2 factor is Hinton et al.'s (2015): the gradient with respect to the student
  logit is T * (sigmoid(s / T) - sigmoid(t / T)), about (s - t) / 4 for logits small
  against T, so changing T does not rescale lambda's balance with the hard-label loss.
  At student == teacher the gradient is zero but the loss is the teacher's entropy, not 0.

  Unstopped by the caller, the teacher logit's gradient is -s * sigmoid'(t / T): zero
  wherever the student logit is 0.

  Returns:
    [batch_size] per-example losses.
  """
  temperature = inputs.temperature
  return temperature**2 * _bernoulli_cross_entropy(
      inputs.teacher_logits / temperature, inputs.student_logits / temperature)


@register_distillation_loss("hardness_aware")
def distillation_hardness_aware(inputs: DistillationInputs) -> tf.Tensor:
  """"cross_entropy" weighted per example by how well the teacher fits its label.

  Hardness-aware PFD (ByteDance, KDD 2025), as read here: where the teacher's soft
  label is far from the observed label (a hard, or noisy, example for it), the soft
  label carries its error rather than knowledge, so that example teaches less. The
  weight is the teacher's probability of the observed label, normalised to mean 1
  over the batch (so lambda keeps its meaning), with no gradient: a weight, not a
  target. With `teacher_dropped_features` the teacher also goes without the most
  predictive privileged features, the paper's other half.

  Returns:
    [batch_size] per-example losses.
  """
  teacher = tf.convert_to_tensor(inputs.teacher_logits)
  labels = tf.cast(inputs.labels, teacher.dtype)
  fit = tf.stop_gradient(tf.exp(-tf.nn.sigmoid_cross_entropy_with_logits(
      labels=labels, logits=teacher)))
  weight = fit / tf.maximum(tf.reduce_mean(fit), tf.keras.backend.epsilon())
  return weight * distillation_cross_entropy(inputs)


@register_distillation_loss("kl")
def distillation_kl(inputs: DistillationInputs) -> tf.Tensor:
  """T^2 * KL(sigmoid(teacher / T) || sigmoid(student / T)), of the two Bernoullis.

  p log(p / q) + (1 - p) log((1 - p) / (1 - q)), computed from the logits as
  "cross_entropy" minus the teacher's entropy: the same gradient for the student (Hinton
  et al., 2015, whose T^2 it keeps), but 0 at student == teacher, so the logged
  distillation loss reads as a distance.

  Returns:
    [batch_size] per-example losses.
  """
  temperature = inputs.temperature
  return temperature**2 * _bernoulli_kl(inputs.teacher_logits / temperature,
                                        inputs.student_logits / temperature)


@register_distillation_loss("js")
def distillation_js(inputs: DistillationInputs) -> tf.Tensor:
  """T^2 * Jensen-Shannon divergence of sigmoid(teacher / T) and sigmoid(student / T).

  (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2 (Lin, 1991): symmetric and bounded by
  T^2 log 2, so a confidently wrong student costs at most that, where KL grows linearly
  in its logit. With t, s the logits over T, m's logit is
  log(p + q) - log(2 - p - q) = t + log(1 + q / p) - log(1 + (1 - q) / (1 - p)), where
  log(q / p) = softplus(-t) - softplus(-s) and log((1 - q) / (1 - p)) =
  softplus(t) - softplus(s): p + q, which underflows for logits near -100, is never
  formed, and m's logit is exactly t at s == t, where the loss is then exactly 0. The
  gradient with respect to the student logit is T / 2 * q (1 - q) * (s / T - logit(m)).

  Returns:
    [batch_size] per-example losses.
  """
  temperature = inputs.temperature
  teacher = inputs.teacher_logits / temperature
  student = inputs.student_logits / temperature
  log_q_over_p = tf.nn.softplus(-teacher) - tf.nn.softplus(-student)
  log_not_q_over_not_p = tf.nn.softplus(teacher) - tf.nn.softplus(student)
  mixture = (teacher + tf.nn.softplus(log_q_over_p)
             - tf.nn.softplus(log_not_q_over_not_p))
  return temperature**2 * 0.5 * (_bernoulli_kl(teacher, mixture)
                                 + _bernoulli_kl(student, mixture))


@register_distillation_loss("confidence_ranking")
def distillation_confidence_ranking(inputs: DistillationInputs) -> tf.Tensor:
  """T * softplus(-(2y - 1) (s - t) / T): the student should out-rank the teacher.

  Confidence Ranking (Zhu et al., "Confidence Ranking for CTR Prediction", JD.com,
  arXiv:2307.01206), pointwise form: a logistic loss on the signed logit difference,
  softplus(-(s - t)) for a positive (push the student's logit above the teacher's) and
  softplus(s - t) for a negative (below it); exactly that at T = 1. Unlike the losses
  above it has no minimum at s == t (it is T log 2 there) and uses the labels: it keeps
  decreasing as the student passes the teacher on the label's side.

  T smooths the hinge max(0, -(2y - 1)(s - t)), which it tends to as T -> 0. The factor
  is T, not T^2 (a logistic loss on (s - t) / T has a gradient of order 1 / T, not
  1 / T^2): the student gradient -(2y - 1) sigmoid(-(2y - 1)(s - t) / T) stays in
  [-1, 1], -1/2 for a positive and 1/2 for a negative at s == t, whatever T.

  Returns:
    [batch_size] per-example losses.
  """
  student = tf.convert_to_tensor(inputs.student_logits)
  signs = 2.0 * tf.cast(inputs.labels, student.dtype) - 1.0
  temperature = inputs.temperature
  return temperature * tf.nn.softplus(
      -signs * (student - inputs.teacher_logits) / temperature)


@register_distillation_loss("mse_logits")
def distillation_mse_logits(inputs: DistillationInputs) -> tf.Tensor:
  """(student - teacher)^2: logit matching, which "cross_entropy" tends to as T grows.

  (Up to a factor 1/8: for logits small against T the T^2-scaled cross-entropy is the
  teacher's entropy plus (s - t)^2 / 8, as in Hinton et al.'s high-temperature limit.)

  The temperature is not used: the logits are matched as they are.

  Returns:
    [batch_size] per-example losses.
  """
  return tf.math.squared_difference(inputs.student_logits, inputs.teacher_logits)


# --- Ranking within a request --------------------------------------------------------
# Pairs are dense [batch, batch] masks (same request: ids[:, None] == ids[None, :]): a
# batch holds hundreds to a few thousand examples, so B^2 pairs cost little next to
# the heads, and no ragged regrouping is needed.


def _same_request(inputs: DistillationInputs, loss: str) -> tf.Tensor:
  """[batch, batch] bool: examples i and j belong to one request (i == j included)."""
  if inputs.request_ids is None:
    raise ValueError(
        f"Distillation loss {loss!r} ranks within requests: it needs "
        "DistillationInputs.request_ids (the batch's spec.request_feature), got None. "
        "Batch whole requests (features.input.make_dataset(group_by_request=True)) "
        "and pass their ids.")
  ids = tf.convert_to_tensor(inputs.request_ids)
  return tf.equal(ids[:, None], ids[None, :])


def _teacher_ranks(teacher_logits: tf.Tensor, same: tf.Tensor) -> tf.Tensor:
  """[batch] int32: each example's 0-based rank by teacher logit within its request,
  the highest first; equal logits are ranked by batch position, so a tie never makes
  the top K larger than K."""
  teacher = tf.convert_to_tensor(teacher_logits)
  position = tf.range(tf.shape(teacher)[0])
  # ahead[i, j]: j is ranked before i.
  ahead = (teacher[None, :] > teacher[:, None]) | (
      (teacher[None, :] == teacher[:, None]) & (position[None, :] < position[:, None]))
  return tf.reduce_sum(tf.cast(same & ahead, tf.int32), axis=1)


def _pair_means(pair_losses: tf.Tensor, pairs: tf.Tensor) -> tf.Tensor:
  """[batch, batch] losses of the ordered pairs (i, j) where `pairs` -> [batch]: each
  example's mean over the pairs it is in, first or second; 0 where it is in none.

  Without ties a request of n examples then sums to n times its mean pair loss: the
  batch average weighs a request by its impressions, as the pointwise losses do.
  """
  pairs = tf.cast(pairs, pair_losses.dtype)
  losses = pair_losses * pairs
  return tf.math.divide_no_nan(tf.reduce_sum(losses, 1) + tf.reduce_sum(losses, 0),
                               tf.reduce_sum(pairs, 1) + tf.reduce_sum(pairs, 0))


def _differences(logits: tf.Tensor) -> tf.Tensor:
  """[batch] -> [batch, batch] logits[i] - logits[j]."""
  logits = tf.convert_to_tensor(logits)
  return logits[:, None] - logits[None, :]


@register_distillation_loss("top_k", by_request=True)
def distillation_top_k(inputs: DistillationInputs) -> tf.Tensor:
  """BCE of the student against 1 on the teacher's top K of each request, 0 on the rest.

  Distillation without logits: only the teacher's choice of what a pre-ranker should
  pass on is transferred, with the request's other impressions as hard negatives
  (shown to the same user at once). Suits a teacher whose scores are not calibrated
  to the student's. The temperature is not used.

  Returns:
    [batch_size] per-example losses.
  """
  same = _same_request(inputs, "top_k")
  chosen = _teacher_ranks(inputs.teacher_logits, same) < inputs.top_k
  return binary_cross_entropy(chosen, inputs.student_logits)


@register_distillation_loss("ranking_distillation", by_request=True)
def distillation_ranking(inputs: DistillationInputs) -> tf.Tensor:
  """exp(-r / K) * BCE(1, student) on the teacher's top K of each request (rank r from
  0), 0 elsewhere.

  Ranking Distillation (Tang & Wang, KDD 2018): the teacher's top K are extra
  positives, the higher ranked weighing more (the paper's position weight
  w_r ~ exp(-r / lambda), with its lambda = K here and unnormalised: its normalising
  sum is a constant factor that --lambda_value absorbs). Unlike "top_k" the rest of
  the request is left to the hard-label term. The temperature is not used.

  Returns:
    [batch_size] per-example losses.
  """
  same = _same_request(inputs, "ranking_distillation")
  student = tf.convert_to_tensor(inputs.student_logits)
  rank = tf.cast(_teacher_ranks(inputs.teacher_logits, same), student.dtype)
  weight = tf.where(rank < inputs.top_k, tf.exp(-rank / inputs.top_k), 0.0)
  return weight * tf.nn.softplus(-student)


@register_distillation_loss("bpr", by_request=True)
def distillation_bpr(inputs: DistillationInputs) -> tf.Tensor:
  """-log sigmoid(s_i - s_j) over the pairs of a request the teacher orders i > j.

  BPR (Rendle et al., UAI 2009) on the teacher's order: the student learns the
  teacher's ranking within a request, not its scores (a shift of all of a request's
  student logits changes nothing). Per example: the mean over its pairs
  (`_pair_means`); teacher ties make no pair. The temperature is not used.

  Returns:
    [batch_size] per-example losses.
  """
  same = _same_request(inputs, "bpr")
  pairs = same & (_differences(inputs.teacher_logits) > 0)
  return _pair_means(tf.nn.softplus(-_differences(inputs.student_logits)), pairs)


@register_distillation_loss("listwise", by_request=True)
def distillation_listwise(inputs: DistillationInputs) -> tf.Tensor:
  """T^2 * -p_i log q_i, p and q the teacher's and student's softmax over the request
  of logits / T.

  Listwise distillation as in CLID (WSDM 2024): the student's distribution over a
  request's impressions matches the teacher's, calibration left to the pointwise
  hard-label term of the (1 - lambda) side. A request's examples sum to its
  cross-entropy CE(p, q). T^2 as in "cross_entropy": the student gradient is
  T (q_i - p_i), whatever T. At q == p the loss is p's entropy, not 0.

  Returns:
    [batch_size] per-example losses.
  """
  same = _same_request(inputs, "listwise")
  temperature = inputs.temperature

  def log_softmax(logits):
    logits = tf.convert_to_tensor(logits) / temperature
    others = tf.where(same, logits[None, :], logits.dtype.min)
    return logits - tf.reduce_logsumexp(others, axis=1)

  teacher = tf.exp(log_softmax(inputs.teacher_logits))
  return -temperature**2 * teacher * log_softmax(inputs.student_logits)


@register_distillation_loss("rcr", by_request=True)
def distillation_rcr(inputs: DistillationInputs) -> tf.Tensor:
  """T * softplus(-((s_i - s_j) - (t_i - t_j)) / T) over the pairs of a request with
  label_i = 1, label_j = 0: the student's margin should pass the teacher's.

  Confidence Ranking's pairwise form (Zhu et al., JD.com, arXiv:2307.01206; the
  pointwise form is "confidence_ranking"): the same logistic loss and T factor on the
  difference of the pair's logit margins instead of the logits, so the student
  out-ranks the teacher on the request's order rather than on each score. T log 2 at
  student == teacher; the student gradient of a pair stays in [-1, 1]. Per example:
  the mean over its pairs (`_pair_means`).

  Returns:
    [batch_size] per-example losses.
  """
  same = _same_request(inputs, "rcr")
  labels = tf.cast(inputs.labels, tf.convert_to_tensor(inputs.student_logits).dtype)
  pairs = same & (labels[:, None] > labels[None, :])
  temperature = inputs.temperature
  margins = (_differences(inputs.student_logits)
             - _differences(inputs.teacher_logits))
  return _pair_means(temperature * tf.nn.softplus(-margins / temperature), pairs)


@dataclasses.dataclass(frozen=True)
class LambdaSchedule:
  """The distillation weight lambda as a function of the training step.

  Lambda is exactly 0 before `swap_step`, so early on the student learns from the labels
  only while the teacher is still poor (PFD trains both from scratch together); it then
  rises linearly from 0 at `swap_step` to `value` at `swap_step + ramp_steps` and stays
  there. `ramp_steps=0` switches to `value` at `swap_step`.

  Attributes:
    value: the final lambda, in [0, 1].
    swap_step: first step at which the distillation loss may have weight, >= 0.
    ramp_steps: length of the linear ramp, >= 0.
  """
  value: float
  swap_step: int
  ramp_steps: int = 0

  def __post_init__(self):
    if not 0.0 <= self.value <= 1.0:
      raise ValueError(f"value (lambda) must be in [0, 1], got {self.value}.")
    if self.swap_step < 0:
      raise ValueError(f"swap_step must be >= 0, got {self.swap_step}.")
    if self.ramp_steps < 0:
      raise ValueError(f"ramp_steps must be >= 0, got {self.ramp_steps}.")

  def __call__(self, step: int | tf.Tensor) -> tf.Tensor:
    """Lambda at `step` (a Python int, or an integer tensor such as optimizer.iterations).

    Returns:
      [] float32.
    """
    # Integer arithmetic first: float32 cannot tell apart steps beyond 2^24.
    elapsed = tf.cast(step, tf.int64) - self.swap_step
    if self.ramp_steps == 0:
      fraction = tf.cast(elapsed >= 0, tf.float32)
    else:
      fraction = tf.clip_by_value(
          tf.cast(elapsed, tf.float32) / self.ramp_steps, 0.0, 1.0)
    return self.value * fraction
