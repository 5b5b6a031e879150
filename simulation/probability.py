"""Link functions shared by the samplers and the oracle, so both use the same numbers."""

import numpy as np


def sigmoid(logits: np.ndarray) -> np.ndarray:
  """The logistic function, written with tanh so large logits never overflow."""
  return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, np.float64)))


def with_label_noise(p: np.ndarray, label_noise: float) -> np.ndarray:
  """P(observed label = 1) when the true label flips with probability `label_noise`."""
  return label_noise + (1.0 - 2.0 * label_noise) * p


def log_sigmoid(logits: np.ndarray) -> np.ndarray:
  """log(sigmoid(x)), stable for large |x|."""
  return -np.logaddexp(0.0, -np.asarray(logits, np.float64))
