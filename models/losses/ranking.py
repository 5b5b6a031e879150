"""Distillation losses that rank the impressions of one request against each other:
they read `DistillationInputs.request_ids` and want batches of whole requests
(`features.input.make_dataset(group_by_request=True)`)."""

from __future__ import annotations

import tensorflow as tf

from models.losses.pointwise import binary_cross_entropy
from models.losses.registry import DistillationInputs, register_distillation_loss


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
