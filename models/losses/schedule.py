"""The distillation weight lambda by training step."""

from __future__ import annotations

import dataclasses

import tensorflow as tf


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
