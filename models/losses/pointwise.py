"""Pointwise losses: the hard-label and base-rate cross-entropies, and the
distillation losses that compare the teacher and student one example at a time."""

from __future__ import annotations

import tensorflow as tf

from models.losses.registry import DistillationInputs, register_distillation_loss


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


def hint_squared_error(student_hint: tf.Tensor, teacher_hint: tf.Tensor) -> tf.Tensor:
  """Hint transfer's loss (Rocket Launching's hint): the mean squared difference of
  the student's projected last hidden layer and the teacher's.

  Args:
    student_hint: [batch_size, width] float, the student's layer projected onto the
      teacher's width.
    teacher_hint: [batch_size, width] float, the teacher's layer (the caller stops
      its gradient, as the soft label's).

  Returns:
    [batch_size] per-example losses.
  """
  return tf.reduce_mean(tf.math.squared_difference(student_hint, teacher_hint),
                        axis=-1)


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
