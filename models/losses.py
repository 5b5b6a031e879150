"""Per-example losses of the teacher and student heads; the distillation weight schedule.

Every loss takes logits and returns one loss per example, shape `[batch_size]`, never a
mean: the model reduces with `tf.nn.compute_average_loss` over the global batch, so that
under `MirroredStrategy` each replica's gradient is its share of the global mean and the
summed update equals the single-device one (a per-replica mean would be scaled by the
number of replicas).

The student of PFD (Xu et al., KDD 2020, eq. 3) minimises

  (1 - lambda) * binary_cross_entropy(y, student) + lambda * L_d(teacher, student)

with `L_d` one of `DISTILLATION_LOSSES` and `lambda` from a `LambdaSchedule`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import tensorflow as tf

# (teacher_logits [batch_size], student_logits [batch_size], temperature) -> [batch_size].
DistillationLoss = Callable[[tf.Tensor, tf.Tensor, float], tf.Tensor]

DISTILLATION_LOSSES: dict[str, DistillationLoss] = {}


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


def register_distillation_loss(
    name: str) -> Callable[[DistillationLoss], DistillationLoss]:
  """Decorator adding a distillation loss to `DISTILLATION_LOSSES` under `name`."""

  def register(fn: DistillationLoss) -> DistillationLoss:
    if name in DISTILLATION_LOSSES:
      raise ValueError(
          f"Distillation loss {name!r} is already registered "
          f"(by {DISTILLATION_LOSSES[name].__qualname__}); pick another name.")
    DISTILLATION_LOSSES[name] = fn
    return fn

  return register


def get_distillation_loss(name: str) -> DistillationLoss:
  """The distillation loss registered as `name`, e.g. from a config string."""
  try:
    return DISTILLATION_LOSSES[name]
  except KeyError as e:
    raise ValueError(f"Unknown distillation loss {name!r}; known: "
                     f"{sorted(DISTILLATION_LOSSES)}.") from e


@register_distillation_loss("cross_entropy")
def distillation_cross_entropy(teacher_logits: tf.Tensor, student_logits: tf.Tensor,
                               temperature: float) -> tf.Tensor:
  """T^2 * cross-entropy of sigmoid(student / T) against soft label sigmoid(teacher / T).

  The PFD paper's distillation loss. The soft label is a sigmoid because the heads have a
  single logit: a softmax over one logit is the constant 1, a bug in common Keras
  distillers that silently turns the soft label into "always positive".

  The T^2 factor is Hinton et al.'s (2015): the gradient with respect to the student
  logit is T * (sigmoid(s / T) - sigmoid(t / T)), about (s - t) / 4 for logits small
  against T, so changing T does not rescale lambda's balance with the hard-label loss.
  At student == teacher the gradient is zero but the loss is the teacher's entropy, not 0.

  Gradients are not stopped here: PFD blocks the distillation gradient from the teacher,
  which the caller does by passing `tf.stop_gradient(teacher_logits)`. Unstopped, the
  teacher logit's gradient is -s * sigmoid'(t / T): zero wherever the student logit is 0.

  Args:
    teacher_logits: [batch_size] float logits of the teacher.
    student_logits: [batch_size] float logits of the student.
    temperature: T > 0; 1 distils the teacher's probabilities as they are.

  Returns:
    [batch_size] per-example losses.
  """
  if temperature <= 0:
    raise ValueError(f"temperature must be > 0, got {temperature}.")
  soft_labels = tf.sigmoid(teacher_logits / temperature)
  return temperature**2 * tf.nn.sigmoid_cross_entropy_with_logits(
      labels=soft_labels, logits=student_logits / temperature)


@register_distillation_loss("mse_logits")
def distillation_mse_logits(teacher_logits: tf.Tensor, student_logits: tf.Tensor,
                            temperature: float) -> tf.Tensor:
  """(student - teacher)^2: logit matching, which "cross_entropy" tends to as T grows.

  (Up to a factor 1/8: for logits small against T the T^2-scaled cross-entropy is the
  teacher's entropy plus (s - t)^2 / 8, as in Hinton et al.'s high-temperature limit.)

  `temperature` is unused (the signature is the registry's): the logits are matched as
  they are. As for "cross_entropy", the caller stops the teacher's gradient.

  Args:
    teacher_logits: [batch_size] float logits of the teacher.
    student_logits: [batch_size] float logits of the student.
    temperature: ignored.

  Returns:
    [batch_size] per-example losses.
  """
  del temperature  # Unused: see the docstring.
  return tf.math.squared_difference(student_logits, teacher_logits)


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
