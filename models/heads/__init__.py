"""What a teacher or student head is: a declared interface and a registry of builders.

Adding an architecture touches this module (a builder, registered under a new
`config.Architecture`) plus the module of the head itself; `DistillationModel` only
asks `build_head` for its two heads and routes their gradients.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Protocol, Sequence, runtime_checkable

import tensorflow as tf

from features import spec as spec_lib
from models import embeddings
from models.heads import esmm
from models.heads import towers
from models.heads import two_tower
from models.config import Architecture, HeadRole, ModelConfig


@runtime_checkable
class Head(Protocol):
  """A head maps a batch to `[batch]` logits, so losses, gradient routing and modes
  are the same whatever the heads are (tensorflow-recommenders declares its
  `factorized_top_k.TopK` the same way)."""
  trainable_variables: list[tf.Variable]

  def __call__(self, features: Mapping[str, tf.Tensor], training: bool = False,
               lookups: towers.BatchLookups | None = None) -> tf.Tensor:
    ...


@runtime_checkable
class MultiTaskHead(Head, Protocol):
  """A head that also predicts some of its task's auxiliary labels.

  Its `__call__` logits stay what the task's label, distillation and the export's
  `probability` read; `tasks.DistillationTask` adds each auxiliary label's BCE to
  the head's hard-label loss, and the export serves `<label>_probability` beside it.
  """
  auxiliary_labels: tuple[str, ...]

  def auxiliary_logits(self, features: Mapping[str, tf.Tensor], training: bool = False,
                       lookups: towers.BatchLookups | None = None
                       ) -> dict[str, tf.Tensor]:
    """Auxiliary label -> `[batch]` logits (with the call's `lookups`, computed once
    for both)."""
    ...


def auxiliary_labels(head: Head) -> tuple[str, ...]:
  """The labels a MultiTaskHead also predicts; () for any other head."""
  return head.auxiliary_labels if isinstance(head, MultiTaskHead) else ()


def auxiliary_logits(head: Head, features: Mapping[str, tf.Tensor],
                     training: bool = False,
                     lookups: towers.BatchLookups | None = None
                     ) -> dict[str, tf.Tensor]:
  """A MultiTaskHead's auxiliary logits by label; {} for any other head."""
  if isinstance(head, MultiTaskHead):
    return head.auxiliary_logits(features, training=training, lookups=lookups)
  return {}


@dataclasses.dataclass(frozen=True)
class HeadInputs:
  """What a builder reads to build one head.

  Attributes:
    role: Which head: which of the config's per-head knobs apply; its value names
      the head's layers.
    features: The features the head reads.
    tables: Embedding tables by vocabulary (shared ones included).
    spec: The dataset's spec.
    config: The model's config.
    shared_encoder: Another head's encoder this one also reads (MLP/DCN heads).
  """
  role: HeadRole
  features: Sequence[spec_lib.Feature]
  tables: Mapping[str, embeddings.EmbeddingTable]
  spec: spec_lib.FeatureSpec
  config: ModelConfig
  shared_encoder: towers.FeatureEncoder | None = None

  @property
  def name(self) -> str:
    return self.role.value

  @property
  def hidden(self) -> tuple[int, ...]:
    return self.config.hidden(self.role)


HeadBuilder = Callable[[HeadInputs], Head]
HEADS: dict[Architecture, HeadBuilder] = {}


def register_head(architecture: Architecture) -> Callable[[HeadBuilder], HeadBuilder]:
  """Decorator adding a builder to `HEADS` for `architecture`."""

  def register(builder: HeadBuilder) -> HeadBuilder:
    if architecture in HEADS:
      raise ValueError(f"Head {architecture.value!r} is already registered (by "
                       f"{HEADS[architecture].__qualname__}).")
    HEADS[architecture] = builder
    return builder

  return register


def build_head(inputs: HeadInputs) -> Head:
  """The head of the architecture `inputs.config` gives `inputs.name`."""
  architecture = inputs.config.architecture(inputs.role)
  if architecture not in HEADS:
    raise ValueError(f"No head builder for {inputs.name}_architecture="
                     f"{architecture.value!r}; registered: "
                     f"{sorted(a.value for a in HEADS)}.")
  return HEADS[architecture](inputs)


@register_head(Architecture.MLP)
def mlp_head(inputs: HeadInputs) -> towers.MlpHead:
  return towers.MlpHead(inputs.features, inputs.tables, inputs.spec, inputs.hidden, 0,
                        inputs.shared_encoder, name=inputs.name)


@register_head(Architecture.DCN)
def dcn_head(inputs: HeadInputs) -> towers.MlpHead:
  return towers.MlpHead(inputs.features, inputs.tables, inputs.spec, inputs.hidden,
                        inputs.config.cross_layers, inputs.shared_encoder,
                        name=inputs.name)


@register_head(Architecture.TWO_TOWER)
def two_tower_head(inputs: HeadInputs) -> two_tower.TwoTowerHead:
  config = inputs.config
  return two_tower.TwoTowerHead(inputs.features, inputs.tables, inputs.spec,
                                inputs.hidden, config.tower_dim,
                                config.inner_product_scale, config.item_bias,
                                name=inputs.name)


@register_head(Architecture.ESMM)
def esmm_head(inputs: HeadInputs) -> esmm.EsmmHead:
  config = inputs.config
  task = inputs.spec.task(config.task)
  if task.clicked_only or len(task.auxiliary_labels) != 1:
    raise ValueError(
        f"An esmm head ({inputs.name}) models its task's label over all impressions as "
        f"pCTR x pCVR, pCTR learnt from the task's one auxiliary (click) label; task "
        f"{task.name!r} has examples {task.examples.value!r} and auxiliary_labels "
        f"{list(task.auxiliary_labels)}. Use a task like the default spec's ctcvr "
        "(examples: all, auxiliary_labels: [click]).")
  return esmm.EsmmHead(inputs.features, inputs.tables, inputs.spec, inputs.hidden,
                       config.mmoe_experts, config.expert_hidden,
                       task.auxiliary_labels[0], name=inputs.name)
