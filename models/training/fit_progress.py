"""A fit's progress, for a person or a log: Keras' bar on a terminal; in a log, Keras'
line per epoch and, in a long epoch, `StepLines` between."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from absl import logging
import tensorflow as tf


def for_fit() -> tuple[int, list[tf.keras.callbacks.Callback]]:
  """(`verbose`, callbacks) for `model.fit`: the bar where stdout is a terminal, else
  a line per epoch and `StepLines` (a bar's redraws fill a log file)."""
  if sys.stdout.isatty():
    return 1, []
  return 2, [StepLines()]


class StepLines(tf.keras.callbacks.Callback):
  """Logs an epoch's steps done and its time every `interval_s` seconds of it.

  Timed rather than every N steps: an epoch of a few seconds (the demo's) stays one
  line, one of an hour still shows that it moves. From a timer thread that reads the
  optimizer's step count rather than from a batch hook: a callback with a batch hook
  makes Keras call every callback each step, and TensorBoard's then writes summaries
  each step. An interval without a step (the first step's tracing, validation) logs
  nothing.
  """
  INTERVAL_S = 30.0

  def __init__(self, interval_s: float = INTERVAL_S):
    super().__init__()
    self._interval_s = interval_s
    self._stop, self._thread = threading.Event(), None

  def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
    self._end_lines()
    self._stop = threading.Event()
    first_step = int(self.model.optimizer.iterations.numpy())
    self._thread = threading.Thread(target=self._lines, name=type(self).__name__,
                                    daemon=True, args=(epoch, first_step, self._stop))
    self._thread.start()

  def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
    self._end_lines()

  def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
    self._end_lines()

  def _end_lines(self) -> None:
    if self._thread is not None:
      self._stop.set()
      self._thread.join()
      self._thread = None

  def _lines(self, epoch: int, first_step: int, stop: threading.Event) -> None:
    start, last = time.monotonic(), first_step
    steps = self.params.get("steps")
    while not stop.wait(self._interval_s):
      step = int(self.model.optimizer.iterations.numpy())
      if step == last:
        continue
      last = step
      logging.info("epoch %d/%d: step %d%s, %.0f s", epoch + 1,
                   self.params.get("epochs", 0), step - first_step,
                   f"/{steps}" if steps else "", time.monotonic() - start)
