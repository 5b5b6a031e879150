"""What the loss tests share: the inputs bundle and a registered loss's gradient."""

import math

import tensorflow as tf

from models import losses


def softplus(x: float) -> float:
  return math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
  return 1.0 / (1.0 + math.exp(-x))


def make_inputs(teacher, student, temperature: float = 1.0, labels=None,
                requests=None, top_k: int = losses.DEFAULT_TOP_K
                ) -> losses.DistillationInputs:
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


def student_gradient(name: str, teacher, student, temperature: float, labels=None):
  """d loss / d student logit of the registered loss `name`, per example."""
  student = tf.Variable(student, dtype=tf.float32)
  with tf.GradientTape() as tape:
    value = losses.get_distillation_loss(name)(
        make_inputs(tf.constant(teacher, tf.float32), student, temperature, labels))
  return tape.gradient(value, student).numpy()
