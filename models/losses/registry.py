"""The distillation-loss registry: what a loss reads (`DistillationInputs`), and the
losses by name, so that a config names one and a new loss registers itself alone."""

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
