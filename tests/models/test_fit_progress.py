"""A fit's progress: a bar on a terminal; in a log, timed lines within epochs."""

import io
import logging
import re
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from models.training import fit_progress


class _Terminal(io.StringIO):
  def isatty(self):
    return True


def test_a_terminal_gets_the_bar_and_a_log_gets_lines(monkeypatch):
  monkeypatch.setattr("sys.stdout", _Terminal())
  assert fit_progress.for_fit() == (1, [])
  monkeypatch.setattr("sys.stdout", io.StringIO())
  verbose, callbacks = fit_progress.for_fit()
  assert verbose == 2 and [type(c) for c in callbacks] == [fit_progress.StepLines]


def _slow_batches(steps: int) -> tf.data.Dataset:
  def batches():
    for _ in range(steps):
      time.sleep(0.05)  # Steps long enough for the timer to see them.
      yield np.ones([2, 2], np.float32), np.zeros([2, 1], np.float32)
  spec = (tf.TensorSpec([2, 2], tf.float32), tf.TensorSpec([2, 1], tf.float32))
  return tf.data.Dataset.from_generator(batches, output_signature=spec)


@pytest.mark.parametrize("interval_s, some_lines", [(0.02, True), (3600.0, False)])
def test_step_lines_are_timed_and_end_with_the_epoch(caplog, interval_s, some_lines):
  model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
  model.compile(optimizer="sgd", loss="mse")
  # absl's logger: a test that parsed flags before leaves it at their verbosity.
  with caplog.at_level(logging.INFO, logger="absl"):
    model.fit(_slow_batches(8), steps_per_epoch=4, epochs=2, verbose=0,
              callbacks=[fit_progress.StepLines(interval_s)])
  logged = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("epoch")]
  assert bool(logged) == some_lines
  steps = [int(s) for line in logged
           for s in re.findall(r"^epoch [12]/2: step (\d)/4, \d+ s$", line)]
  assert len(steps) == len(logged) and all(1 <= s <= 4 for s in steps)
  assert "StepLines" not in [t.name for t in threading.enumerate()]  # Ended with it.
