"""What a teacher or student head is: a declared interface and a registry of builders.

Adding an architecture touches this module (an `Architecture`, a builder registered
under it) plus the module of the head itself, which declares the head's settings;
`DistillationModel` only asks `build_head` for its two heads and routes their
gradients.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Callable, Mapping, Protocol, Sequence, runtime_checkable

import tensorflow as tf

from features import spec as spec_lib
from models import embeddings
from models.heads import esmm
from models.heads import towers
from models.heads import two_tower


class HeadRole(str, enum.Enum):
  """Which head of the model: its outputs, weights and metrics are named by it
  (`student_auc`)."""
  STUDENT = "student"
  TEACHER = "teacher"


class Architecture(str, enum.Enum):
  """What one head is (a builder of `HEADS` builds it)."""
  MLP = "mlp"  # Every feature -> one MLP -> logit (towers.MlpHead).
  DCN = "dcn"  # The same with DCN-v2 cross layers before the MLP.
  # User tower . item tower (models/heads/two_tower.py): what a pre-ranker can afford.
  TWO_TOWER = "two_tower"
  # ESMM over MMoE experts (models/heads/esmm.py): pCTCVR = pCTR x pCVR, the CTR tower
  # learnt on the task's auxiliary click label; DMTL's multi-task teacher.
  ESMM = "esmm"


# An architecture's own knobs, declared beside its layers (MLP has none).
HeadSettings = (towers.DcnSettings | two_tower.TwoTowerSettings | esmm.EsmmSettings
                | None)


@dataclasses.dataclass(frozen=True)
class HeadConfig:
  """One head, as its builder reads it.

  Attributes:
    architecture: What the head is.
    hidden: Its MLP widths (a two-tower head's: each tower's; an ESMM head's: each
      task tower's).
    settings: The architecture's own settings, of the type it registered (None for
      MLP).
  """
  architecture: Architecture
  hidden: tuple[int, ...]
  settings: HeadSettings = None

  def __post_init__(self):
    object.__setattr__(self, "architecture", Architecture(self.architecture))
    object.__setattr__(self, "hidden", tuple(self.hidden))
    expected = SETTINGS.get(self.architecture)
    if not (self.settings is None if expected is None
            else isinstance(self.settings, expected)):
      raise TypeError(f"{self.architecture.value} heads take settings of type "
                      f"{getattr(expected, '__name__', None)}, got {self.settings!r}.")

  @property
  def is_mlp_head(self) -> bool:
    """Whether it is a `towers.MlpHead` (MLP or DCN): one encoder, one tower whose
    last hidden layer hint transfer and a distillation head read."""
    return self.architecture in (Architecture.MLP, Architecture.DCN)


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
    role: Which head; its value names the head's layers.
    head: What the head is (`ModelConfig.head(role)`).
    task: The task of `spec` the model learns.
    features: The features the head reads.
    tables: Embedding tables by vocabulary (shared ones included).
    spec: The dataset's spec.
    shared_encoder: Another head's encoder this one also reads (MLP/DCN heads).
  """
  role: HeadRole
  head: HeadConfig
  task: str
  features: Sequence[spec_lib.Feature]
  tables: Mapping[str, embeddings.EmbeddingTable]
  spec: spec_lib.FeatureSpec
  shared_encoder: towers.FeatureEncoder | None = None

  @property
  def name(self) -> str:
    return self.role.value


HeadBuilder = Callable[[HeadInputs], Head]
HEADS: dict[Architecture, HeadBuilder] = {}
SETTINGS: dict[Architecture, type | None] = {}  # The settings type each one reads.


def register_head(architecture: Architecture, settings: type | None = None
                  ) -> Callable[[HeadBuilder], HeadBuilder]:
  """Decorator adding a builder to `HEADS` for `architecture`, whose HeadConfig
  carries `settings` of that type (None: none)."""

  def register(builder: HeadBuilder) -> HeadBuilder:
    if architecture in HEADS:
      raise ValueError(f"Head {architecture.value!r} is already registered (by "
                       f"{HEADS[architecture].__qualname__}).")
    HEADS[architecture] = builder
    SETTINGS[architecture] = settings
    return builder

  return register


def build_head(inputs: HeadInputs) -> Head:
  """The head `inputs.head` declares."""
  architecture = inputs.head.architecture
  if architecture not in HEADS:
    raise ValueError(f"No head builder for the {inputs.name}'s architecture "
                     f"{architecture.value!r}; registered: "
                     f"{sorted(a.value for a in HEADS)}.")
  return HEADS[architecture](inputs)


@register_head(Architecture.MLP)
def mlp_head(inputs: HeadInputs) -> towers.MlpHead:
  return towers.MlpHead(inputs.features, inputs.tables, inputs.spec,
                        inputs.head.hidden, 0, inputs.shared_encoder, name=inputs.name)


@register_head(Architecture.DCN, towers.DcnSettings)
def dcn_head(inputs: HeadInputs) -> towers.MlpHead:
  return towers.MlpHead(inputs.features, inputs.tables, inputs.spec,
                        inputs.head.hidden, inputs.head.settings.cross_layers,
                        inputs.shared_encoder, name=inputs.name)


@register_head(Architecture.TWO_TOWER, two_tower.TwoTowerSettings)
def two_tower_head(inputs: HeadInputs) -> two_tower.TwoTowerHead:
  return two_tower.TwoTowerHead(inputs.features, inputs.tables, inputs.spec,
                                inputs.head.hidden, inputs.head.settings,
                                name=inputs.name)


@register_head(Architecture.ESMM, esmm.EsmmSettings)
def esmm_head(inputs: HeadInputs) -> esmm.EsmmHead:
  task = inputs.spec.task(inputs.task)
  if task.clicked_only or len(task.auxiliary_labels) != 1:
    raise ValueError(
        f"An esmm head ({inputs.name}) models its task's label over all impressions as "
        f"pCTR x pCVR, pCTR learnt from the task's one auxiliary (click) label; task "
        f"{task.name!r} has examples {task.examples.value!r} and auxiliary_labels "
        f"{list(task.auxiliary_labels)}. Use a task like the default spec's ctcvr "
        "(examples: all, auxiliary_labels: [click]).")
  return esmm.EsmmHead(inputs.features, inputs.tables, inputs.spec,
                       inputs.head.hidden, inputs.head.settings,
                       task.auxiliary_labels[0], name=inputs.name)
