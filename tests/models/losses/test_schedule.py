"""Tests for models/losses/schedule.py: lambda by step."""

import pytest
import tensorflow as tf

from models import losses


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
