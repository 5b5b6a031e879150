"""The distillation task: PFD's losses and metrics of one batch of head outputs.

Shaped like tensorflow-recommenders' `tasks.Ranking`: a layer built from the config
that owns the loss functions, the lambda schedule and the metrics, and maps what the
heads produced (`HeadOutputs`) to scalar losses while updating its metrics. The model
(`models.distillation`) only runs the heads and routes each loss's gradients.

Losses (per example, averaged over the GLOBAL batch so a distribution strategy gives
the same update as one device):
  teacher_loss = BCE(y, teacher)
  student_loss = (1 - lambda) * BCE(y, student) + lambda * L_d(teacher, student)
A multi-task head (`heads.MultiTaskHead`, e.g. ESMM) adds BCE(y_aux, its auxiliary
logit) for each auxiliary label to its BCE(y, .): the hard-label loss; L_d reads the
main logits only. With hints, lambda also weighs hint_weight * hint_loss
(`losses.hint_squared_error`). L_d is the `losses` registry's
`config.distillation_loss`, so a new loss is registered there alone.
Mode smooth (label smoothing, a control with no teacher) puts BCE(base_rate, student)
in L_d's place (`losses.base_rate_cross_entropy`), logged as the distillation loss.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping, Sequence

import tensorflow as tf

from models import losses
from models import metrics as metrics_lib
from models.config import LAMBDA_AUTO, HeadRole, ModelConfig

def _names(heads: Iterable[HeadRole]) -> tuple[str, ...]:
  return tuple(head.value for head in heads)


@dataclasses.dataclass(frozen=True)
class HeadOutput:
  """One head's outputs on a batch.

  Attributes:
    logits: [batch_size] float logits of the task's label.
    auxiliary_logits: Auxiliary label -> [batch_size] float logits (a MultiTaskHead's;
      empty for any other head).
    hint: [batch_size, width] float, what the hint term matches (the teacher's last
      hidden layer; the student's, projected onto the teacher's width); None without
      hints.
    distillation_logits: [batch_size] float, the student's auxiliary logit that
      distils in the served logit's place (ModelConfig.distillation_head); None
      without one.
  """
  logits: tf.Tensor
  auxiliary_logits: Mapping[str, tf.Tensor] = dataclasses.field(default_factory=dict)
  hint: tf.Tensor | None = None
  distillation_logits: tf.Tensor | None = None

  @property
  def distilled(self) -> tf.Tensor:
    """[batch_size] what the distillation term pulls towards the teacher: the
    auxiliary logit where the head has one (ModelConfig.distillation_head), else
    the logits."""
    return self.logits if self.distillation_logits is None else (
        self.distillation_logits)


@dataclasses.dataclass(frozen=True)
class HeadOutputs:
  """What the heads produced for one batch: all a loss or a metric reads.

  Attributes:
    labels: [batch_size] float 0/1 labels of the task.
    student: The student's outputs; None in a mode without a student.
    teacher: The teacher's outputs; None in a mode without a teacher.
    auxiliary_labels: Label -> [batch_size] 0/1, each auxiliary label a head predicts.
    request_ids: [batch_size] request of each example (any dtype), for the
      `losses.REQUEST_LOSSES`; None for pointwise losses.
    sample_weight: None, or [batch_size] float weights of the examples in every loss
      average and metric.
  """
  labels: tf.Tensor
  student: HeadOutput | None = None
  teacher: HeadOutput | None = None
  auxiliary_labels: Mapping[str, tf.Tensor] = dataclasses.field(default_factory=dict)
  request_ids: tf.Tensor | None = None
  sample_weight: tf.Tensor | None = None

  def heads(self) -> dict[HeadRole, HeadOutput]:
    """The present heads' outputs, in HeadRole's order (student first)."""
    present = {HeadRole.STUDENT: self.student, HeadRole.TEACHER: self.teacher}
    return {role: present[role] for role in HeadRole if present[role] is not None}


class DistillationTask(tf.keras.layers.Layer):
  """PFD's losses of one batch of `HeadOutputs`, and the metrics that follow them.

  Takes what it computes as arguments, as tensorflow-recommenders' `tasks.Ranking`
  takes its loss and metrics; `from_config` reads them from a ModelConfig.

  Args:
    heads: The heads scored, student first.
    lambda_schedule: lambda by optimizer step (0 throughout: the student's hard-label
      loss alone).
    distillation_loss: Name in the `losses` registry of L_d.
    temperature, top_k: What L_d reads (losses.DistillationInputs).
    hint_weight: The hint term's weight beside L_d; 0: no hint.
    smoothing_base_rate: Label smoothing's constant in L_d's place (mode smooth);
      None: L_d, where both heads are present.
    block_gradient: The soft labels and hints reach the teacher with no gradient
      (off only to show what the block prevents).
    auxiliary_labels: Head -> the auxiliary labels it predicts
      (`heads.auxiliary_labels`): each has its BCE and its `<head>_<label>_` metrics.
  """

  def __init__(self, heads: Sequence[HeadRole], lambda_schedule: losses.LambdaSchedule,
               distillation_loss: str = "cross_entropy", temperature: float = 1.0,
               top_k: int = losses.DEFAULT_TOP_K, hint_weight: float = 0.0,
               smoothing_base_rate: float | None = None, block_gradient: bool = True,
               auxiliary_labels: Mapping[HeadRole, Sequence[str]] | None = None,
               name: str = "task", **kwargs):
    super().__init__(name=name, **kwargs)
    self.heads = tuple(HeadRole(head) for head in heads)
    self.lambda_schedule = lambda_schedule
    self.distillation_loss = losses.get_distillation_loss(distillation_loss)
    # A ranking loss needs HeadOutputs.request_ids (the model reads them then only).
    self.reads_requests = distillation_loss in losses.REQUEST_LOSSES
    self.temperature, self.top_k = temperature, top_k
    self.hint_weight = hint_weight
    self.smoothing_base_rate = smoothing_base_rate
    self.block_gradient = block_gradient
    self._trackers = {name: tf.keras.metrics.Mean(name=name) for name in (
        "student_loss", "teacher_loss", "distillation_loss", "lambda") + (
            ("hint_loss",) if hint_weight else ())}
    # By prefix: each head's main output ("student") and auxiliary ones
    # ("student_click"), each against its own label.
    auxiliary_labels = auxiliary_labels or {}
    self._head_metrics = {}
    for head in self.heads:
      for prefix in (head.value, *(f"{head.value}_{label}"
                                   for label in auxiliary_labels.get(head, ()))):
        self._head_metrics[prefix] = metrics_lib.head_metrics(prefix)

  @classmethod
  def from_config(cls, config: ModelConfig,
                  auxiliary_labels: Mapping[HeadRole, Sequence[str]] | None = None
                  ) -> DistillationTask:
    """The task of a model's config: its mode's heads and second term, its loss,
    temperature, top K, lambda schedule, hint weight and gradient block."""
    if config.lambda_value == LAMBDA_AUTO:
      raise ValueError(f"lambda_value={LAMBDA_AUTO!r} is chosen by models.train on "
                       "validation; a model is built with a number (the chosen one is "
                       "metrics.json's model_config).")
    if config.mode.smooths_labels and config.smoothing_base_rate is None:
      raise ValueError(f"Mode {config.mode.value!r} mixes the base rate into the "
                       "targets: set smoothing_base_rate (models.train sets the train "
                       "split's positive rate when it is unset).")
    return cls(
        config.mode.roles(),
        losses.LambdaSchedule(config.lambda_value if config.mode.weighs_lambda
                              else 0.0, config.swap_step, config.ramp_steps),
        config.distillation_loss, config.temperature, config.ranking_top_k,
        config.hint_weight,
        config.smoothing_base_rate if config.mode.smooths_labels else None,
        config.block_distillation_gradient, auxiliary_labels)

  def call(self, outputs: HeadOutputs, step: int | tf.Tensor | None = None
           ) -> dict[str, tf.Tensor]:
    """The batch's scalar losses, global-batch averages; updates the metrics.

    Args:
      outputs: What the heads produced for the batch.
      step: The training step the lambda schedule reads (optimizer.iterations);
        None (no optimizer) gives lambda 0.

    Returns:
      Name -> [] float32: "teacher_loss", "student_loss", "distillation_loss" (in
      mode smooth, the base rate's cross-entropy), "lambda", "student_bce" (the
      student's hard-label loss) and, with hints, "hint_loss"; 0 for the losses of a
      head the mode lacks.
    """
    present = outputs.heads()
    if tuple(present) != self.heads:
      raise ValueError(f"The task scores the heads {_names(self.heads)}; the outputs "
                       f"hold {_names(present)}.")
    scored = self._scored(outputs)

    def average(per_example):
      return tf.nn.compute_average_loss(per_example,
                                        sample_weight=outputs.sample_weight)

    def hard_label_loss(head):
      return average(tf.add_n([losses.binary_cross_entropy(labels, logits)
                               for labels, logits in scored[head].values()]))

    def soft(teacher_side):
      # PFD section 4: the distillation terms never reach the teacher (switchable so
      # a test can show what the block prevents).
      return tf.stop_gradient(teacher_side) if self.block_gradient else teacher_side

    zero = tf.constant(0.0)
    out = {"lambda": zero if step is None else self.lambda_schedule(step),
           "teacher_loss": zero, "distillation_loss": zero, "student_bce": zero}
    student, teacher = outputs.student, outputs.teacher
    if teacher is not None:
      out["teacher_loss"] = hard_label_loss(HeadRole.TEACHER)
    if student is not None:
      out["student_bce"] = hard_label_loss(HeadRole.STUDENT)
    if student is not None and teacher is not None:
      out["distillation_loss"] = average(self.distillation_loss(
          losses.DistillationInputs(
              teacher_logits=soft(teacher.logits), student_logits=student.distilled,
              labels=outputs.labels, temperature=self.temperature,
              request_ids=outputs.request_ids, top_k=self.top_k)))
    if student is not None and self.smoothing_base_rate is not None:
      out["distillation_loss"] = average(losses.base_rate_cross_entropy(
          self.smoothing_base_rate, student.logits))
    transferred = out["distillation_loss"]
    if self.hint_weight:
      missing = [head for head, output in present.items() if output.hint is None]
      if missing:
        raise ValueError(f"hint_weight={self.hint_weight} matches both heads' "
                         f"hints; the outputs lack the hint of {_names(missing)}.")
      out["hint_loss"] = average(losses.hint_squared_error(student.hint,
                                                           soft(teacher.hint)))
      transferred += self.hint_weight * out["hint_loss"]
    lam = out["lambda"]
    out["student_loss"] = (1.0 - lam) * out["student_bce"] + lam * transferred
    self._update_metrics(out, scored, outputs.sample_weight)
    return out

  def _scored(self, outputs: HeadOutputs
              ) -> dict[HeadRole, dict[str, tuple[tf.Tensor, tf.Tensor]]]:
    """Head -> metric prefix -> ([batch] labels, [batch] logits): the head's main
    output and each auxiliary one, against its own label (its hard-label loss sums
    their BCEs)."""
    scored = {}
    for head, output in outputs.heads().items():
      scored[head] = {head.value: (outputs.labels, output.logits)}
      for label, logits in output.auxiliary_logits.items():
        scored[head][f"{head.value}_{label}"] = (outputs.auxiliary_labels[label],
                                                 logits)
    return scored

  def _update_metrics(self, out: Mapping[str, tf.Tensor],
                      scored: Mapping[HeadRole,
                                      Mapping[str, tuple[tf.Tensor, tf.Tensor]]],
                      sample_weight: tf.Tensor | None) -> None:
    # compute_average_loss gives each replica its share of the global average; the
    # trackers average over replicas, so scale back to the global value.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    for name, tracker in self._trackers.items():
      tracker.update_state(out[name] * (1.0 if name == "lambda" else float(replicas)))
    for prefix, (labels, logits) in (pair for head in scored.values()
                                     for pair in head.items()):
      for metric in self._head_metrics[prefix]:
        metric.update_state(labels, tf.sigmoid(logits), sample_weight=sample_weight)

  def _trackable_children(self, save_type="checkpoint", **kwargs):
    # Metric states restart at each epoch and evaluation: not model state. Kept out
    # of checkpoints, runs saved while they were the model's own still restore.
    if save_type == "checkpoint":
      return {}
    return super()._trackable_children(save_type, **kwargs)

  @property
  def metrics(self) -> list[tf.keras.metrics.Metric]:
    # Listed here so Keras resets them at each epoch and evaluation (the model's
    # `metrics` are these).
    return list(self._trackers.values()) + [
        m for head_metrics in self._head_metrics.values() for m in head_metrics]
