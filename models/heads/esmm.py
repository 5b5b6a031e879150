"""The ESMM head over MMoE experts: DMTL's multi-task teacher (Tencent, 2021).

ESMM (Ma et al., SIGIR 2018) models a purchase over ALL impressions as

    pCTCVR = pCTR x pCVR

and learns it from two labels there: the click (pCTR's) and click-and-purchase
(pCTCVR's). pCVR is never fitted to clicked impressions alone, so it is learnt over
the whole impression space the model serves, without the sample selection bias of a
CVR model trained on clicks. The CTR and CVR towers read one shared encoding through
MMoE (Ma et al., KDD 2018): a few expert MLPs, mixed per task by its own softmax gate,
so the tasks share what helps both without forcing one representation on each.

The head's logit is logit(pCTCVR): what the task's label, the distillation term and the
export's `probability` read; pCTR is its auxiliary logit, of the click label.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import tensorflow as tf

from features import spec as spec_lib
from models import embeddings
from models.heads import towers


@dataclasses.dataclass(frozen=True)
class EsmmSettings:
  """An esmm head's own knobs.

  Attributes:
    mmoe_experts: MMoE experts shared by the CTR and CVR towers, each task mixing
      them by its own softmax gate (Ma et al., KDD 2018).
    expert_hidden: Each expert's MLP widths (the task towers' are the head's
      `hidden`).
  """
  mmoe_experts: int
  expert_hidden: tuple[int, ...]

  def __post_init__(self):
    object.__setattr__(self, "expert_hidden", tuple(self.expert_hidden))
    if self.mmoe_experts < 1 or not self.expert_hidden:
      raise ValueError(f"mmoe_experts must be >= 1 and expert_hidden non-empty, got "
                       f"{self.mmoe_experts} and {self.expert_hidden}.")


def ctcvr_logits(ctr_logits: tf.Tensor, cvr_logits: tf.Tensor) -> tf.Tensor:
  """logit(sigmoid(a) * sigmoid(b)) for the CTR logit a and the CVR logit b.

  In log space, with no 1 - p formed by subtraction: log p = -softplus(-a) -
  softplus(-b), and 1 - p = sigmoid(-a) + sigmoid(a) sigmoid(-b), so
  log(1 - p) = logaddexp(-softplus(a), -softplus(-a) - softplus(b)). Finite for
  logits of any size (p rounding to 1 would make log1p(-p) infinite).

  Args:
    ctr_logits: [batch_size] float.
    cvr_logits: [batch_size] float.

  Returns:
    [batch_size] logits of pCTCVR.
  """
  log_p = -tf.nn.softplus(-ctr_logits) - tf.nn.softplus(-cvr_logits)
  log_not_p = tf.reduce_logsumexp(tf.stack([
      -tf.nn.softplus(ctr_logits),
      -tf.nn.softplus(-ctr_logits) - tf.nn.softplus(cvr_logits)], axis=-1), axis=-1)
  return log_p - log_not_p


class MixtureOfExperts(tf.keras.layers.Layer):
  """MMoE: `[batch, width]` -> one `[batch, expert_width]` mixture per task.

  Args:
    experts: Number of expert MLPs, shared by every task.
    hidden: Each expert's ReLU widths (the last is the mixture's width).
    tasks: Number of tasks, one softmax gate each.
  """

  def __init__(self, experts: int, hidden: Sequence[int], tasks: int, **kwargs):
    super().__init__(**kwargs)
    self._experts = [towers.relu_layers(hidden) for _ in range(experts)]
    self._gates = [tf.keras.layers.Dense(experts, activation="softmax",
                                         name=f"gate_{t}") for t in range(tasks)]

  def call(self, x: tf.Tensor, with_gates: bool = False):
    """One mixture per task; with `with_gates`, also each task's `[batch, experts]`
    gate weights (each row sums to 1)."""
    outputs = []
    for layers in self._experts:
      y = x
      for layer in layers:
        y = layer(y)
      outputs.append(y)
    experts = tf.stack(outputs, axis=1)  # [batch, experts, width]
    gates = [gate(x) for gate in self._gates]
    mixtures = [tf.einsum("be,bew->bw", g, experts) for g in gates]
    return (mixtures, gates) if with_gates else mixtures


class EsmmHead(tf.keras.layers.Layer):
  """Features -> encoder -> MMoE -> CTR and CVR towers -> logit(pCTR x pCVR).

  A `models.heads.MultiTaskHead`: `auxiliary_logits` gives the CTR logit under the
  click label, which the model's hard-label loss fits.

  Args:
    features: The spec features this head may read.
    tables: Vocabulary name -> EmbeddingTable (shared tables are the same objects in
      both heads).
    spec: The full spec.
    hidden: Each task tower's MLP widths.
    settings: Its MMoE experts and their widths.
    click_label: The auxiliary label pCTR learns from (the task's CTCVR label implies
      it).
  """

  def __init__(self, features: Sequence[spec_lib.Feature],
               tables: Mapping[str, embeddings.EmbeddingTable],
               spec: spec_lib.FeatureSpec, hidden: Sequence[int],
               settings: EsmmSettings, click_label: str, **kwargs):
    super().__init__(**kwargs)
    self.feature_names = [f.name for f in features]
    self.auxiliary_labels = (click_label,)
    self.encoder = towers.FeatureEncoder(features, tables, spec, name="encoder")
    self.experts = MixtureOfExperts(settings.mmoe_experts, settings.expert_hidden,
                                    tasks=2, name="mmoe")
    self.ctr_tower = towers.LogitTower(hidden, name="ctr_tower")
    self.cvr_tower = towers.LogitTower(hidden, name="cvr_tower")

  def task_logits(self, inputs: Mapping[str, tf.Tensor], training: bool = False,
                  lookups: towers.BatchLookups | None = None
                  ) -> tuple[tf.Tensor, tf.Tensor]:
    """(`[batch]` CTR logits, `[batch]` CVR logits), once per `lookups` (the call
    and `auxiliary_logits` of one batch share them)."""
    lookups = towers.BatchLookups() if lookups is None else lookups

    def compute():
      ctr, cvr = self.experts(self.encoder(inputs, lookups=lookups))
      return (self.ctr_tower(ctr, training=training),
              self.cvr_tower(cvr, training=training))

    return lookups.once(("task_logits", id(self)), compute)

  def auxiliary_logits(self, inputs: Mapping[str, tf.Tensor], training: bool = False,
                       lookups: towers.BatchLookups | None = None
                       ) -> dict[str, tf.Tensor]:
    """{click label: `[batch]` CTR logits}."""
    ctr, _ = self.task_logits(inputs, training=training, lookups=lookups)
    return {self.auxiliary_labels[0]: ctr}

  def call(self, inputs: Mapping[str, tf.Tensor], training: bool = False,
           lookups: towers.BatchLookups | None = None) -> tf.Tensor:
    """`[batch]` CTCVR logits."""
    return ctcvr_logits(*self.task_logits(inputs, training=training, lookups=lookups))
