"""The feature spec's records: what a feature, a task, an event and a slice are.

Frozen dataclasses and enums, no rules and no file format: `features.spec_rules` checks
them, `features.spec_file` reads and writes them, and `features.spec.FeatureSpec` holds
a validated table of them.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

# What a categorical feature takes where a record lacks it (absent, null or ""): a
# token like any other in the vocabulary, never an empty line in its file.
MISSING_TOKEN = "__missing__"
# A feature's source when the join computes it (per its `derive`) instead of reading it.
DERIVED = "derived"

class DType(str, enum.Enum):
  """How a value is stored in a tf.train.Example."""
  STRING = "string"  # bytes_list
  INT64 = "int64"  # int64_list
  FLOAT32 = "float32"  # float_list


class Kind(str, enum.Enum):
  """What a value means to a model."""
  CATEGORICAL = "categorical"  # one id, looked up in a vocabulary
  NUMERIC = "numeric"  # one number
  SEQUENCE = "sequence"  # a variable-length list of ids, looked up in a vocabulary
  LABEL = "label"  # a training target, never a model input
  METADATA = "metadata"  # tracing and grouping (e.g. GAUC), never a model input


class Group(str, enum.Enum):
  USER = "user"
  ITEM = "item"
  CONTEXT = "context"
  BEHAVIOUR = "behaviour"
  POST_EVENT = "post_event"
  CROSS = "cross"
  LABEL = "label"
  METADATA = "metadata"


class Role(str, enum.Enum):
  """What a feature is to one task's models."""
  REGULAR = "regular"  # X: teacher and student, and the serving signature
  PRIVILEGED = "privileged"  # X*: teacher only, absent at serving time
  EXCLUDED = "excluded"  # neither (e.g. post-click events would leak the click label)
  NOT_AN_INPUT = "not_an_input"  # labels and metadata


class Op(str, enum.Enum):
  """How the join job derives a feature (`Derivation.op`)."""
  CLICK = "click"  # label: a click within `window` of the impression
  EVENT = "event"  # label: `event` within `window` after the first click
  COUNT = "count"  # post-event: how many `event`s
  ANY = "any"  # post-event: 1 if any `event`, else 0
  SUM = "sum"  # post-event: the sum of `field` over the `event`s
  MAX = "max"  # post-event: the largest `field` of the `event`s (0 without one)
  HISTORY = "history"  # sequence: feature `of` of the user's earlier clicks
  CLICKS_SHARING = "clicks_sharing"  # cross: the user's clicks sharing feature `of`

  @property
  def is_label(self) -> bool:
    return self in (Op.CLICK, Op.EVENT)

  @property
  def is_post_event(self) -> bool:
    return self in (Op.COUNT, Op.ANY, Op.SUM, Op.MAX)




class Examples(str, enum.Enum):
  """Which impressions are a task's examples."""
  ALL = "all"
  CLICKED = "clicked"  # e.g. CVR: learnt on clicked impressions only


@dataclasses.dataclass(frozen=True)
class Task:
  """A prediction task: its label and which impressions are its examples.

  Attributes:
    model_defaults: models.config.ModelConfig fields this task deploys with (what
      `ModelConfig.for_task` starts from); validated by the models, not here.
    auxiliary_labels: Other label features the task's models may also learn from
      (ESMM's click beside CTCVR's purchase): `features.input.make_dataset` delivers
      them in the features, never as inputs of a head.
  """
  name: str
  label: str
  examples: Examples = Examples.ALL
  description: str = ""
  model_defaults: tuple[tuple[str, Any], ...] = ()
  auxiliary_labels: tuple[str, ...] = ()

  @property
  def clicked_only(self) -> bool:
    return self.examples is Examples.CLICKED


@dataclasses.dataclass(frozen=True)
class EventField:
  """A numeric field that a detail-page event carries (e.g. a view's dwell_ms)."""
  name: str
  dtype: DType = DType.INT64
  required: bool = False
  bounds: tuple[float, float] | None = None


@dataclasses.dataclass(frozen=True)
class Event:
  """A detail-page event type and its numeric fields."""
  name: str
  fields: tuple[EventField, ...] = ()


@dataclasses.dataclass(frozen=True)
class Derivation:
  """How the join job computes a derived feature (see `Op`).

  Attributes:
    op: What is computed.
    event: The detail-page event a label or post-event aggregate is about.
    field: The event field a `sum` / `max` aggregates.
    of: The logged categorical feature a `history` lists or `clicks_sharing` matches.
    window_ms: `click`: a click counts up to this long after the impression; `event`:
      the attribution window after the first click; `clicks_sharing`: clicks in
      [ts - window, ts).
    before: Post-event aggregates: the event label whose first event (or window end)
      ends their window, so nothing at or after the label leaks in. Default: the
      label of the tasks the feature is privileged for.
  """
  op: Op
  event: str | None = None
  field: str | None = None
  of: str | None = None
  window_ms: int | None = None
  before: str | None = None


@dataclasses.dataclass(frozen=True)
class Slice:
  """The eval examples whose `feature` is in its top `top_fraction` (e.g. the most
  expensive items), scored on their own."""
  name: str
  feature: str
  top_fraction: float


@dataclasses.dataclass(frozen=True)
class Feature:
  """One column of the training examples.

  Attributes:
    name: The tf.train.Example key.
    dtype: Storage type in the Example.
    kind: Meaning to a model.
    group: Where it comes from, for people and for per-group model choices (the
      two-tower's item tower reads the item group).
    source: `user.<key>` / `item.<key>` (a key of the impression's logged objects),
      `impression.<field>` (a top-level impression field), or `derived` (computed by
      the join job from clicks and detail pages, per `derive`).
    privileged_in: Tasks for which this is a privileged (teacher-only) input.
    excluded_from: Tasks whose models must not see it at all.
    vocabulary: For categorical and sequence features, the vocabulary's name; features
      naming the same vocabulary share it (and may share an embedding table), e.g. the
      behaviour sequence of clicked item ids uses `item_id`'s.
    min_count: Tokens seen fewer times than this in the train split map to OOV.
    max_tokens: Keep at most this many most frequent tokens (None: no cap).
    min_count_days: Count `min_count` over the last N UTC days of train examples
      (a daily join reads the days before its own from its base dataset's
      `vocab_counts/`) instead of over the whole train split (None).
    retire_after_days: A token of the base vocabulary unseen in train examples for
      this many days is retired: its line stays, its ids map to OOV (None: never).
    max_length: For sequences, the longest list written.
    default: Value for a record that lacks the feature (also the parsing default);
      categorical features default to MISSING_TOKEN.
    bounds: For numeric features, the closed range [low, high] a valid value lies in.
      A value outside it sends the record to the dead letter.
    required: A `user.` / `item.` key a record must carry (else a dead letter);
      `impression.` fields are always required.
    derive: For derived features, how the join computes them.
    description: For people.
  """
  name: str
  dtype: DType
  kind: Kind
  group: Group
  source: str
  privileged_in: frozenset[str] = frozenset()
  excluded_from: frozenset[str] = frozenset()
  vocabulary: str | None = None
  min_count: int = 1
  max_tokens: int | None = None
  min_count_days: int | None = None
  retire_after_days: int | None = None
  max_length: int | None = None
  default: str | int | float | None = None
  bounds: tuple[float, float] | None = None
  required: bool = False
  derive: Derivation | None = None
  description: str = ""


  @property
  def is_sequence(self) -> bool:
    return self.kind is Kind.SEQUENCE

  @property
  def parse_default(self) -> str | int | float:
    """The value a missing scalar takes: the declared default, else MISSING_TOKEN for
    categorical features and the dtype's zero for others."""
    if self.default is not None:
      return self.default
    if self.kind is Kind.CATEGORICAL:
      return MISSING_TOKEN
    return {DType.STRING: "", DType.INT64: 0, DType.FLOAT32: 0.0}[self.dtype]

  def role(self, task_name: str) -> Role:
    if self.kind in (Kind.LABEL, Kind.METADATA):
      return Role.NOT_AN_INPUT
    if task_name in self.excluded_from:
      return Role.EXCLUDED
    if task_name in self.privileged_in:
      return Role.PRIVILEGED
    return Role.REGULAR

