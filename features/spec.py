"""The feature spec: the one source of truth for names, types, vocabularies and roles.

Every other part of the project reads this table: the Beam job (which fields to pull
from the logs, how to encode them, which vocabularies to build), the schema and tfds
metadata writers, the tf.data parser, the models (which inputs the student may see) and
the export (which inputs a serving signature may take).

Adding a logged feature is one `Feature` row whose `source` names the impression field
(`user.<key>`, `item.<key>` or `impression.<field>`); flagging a feature privileged for a
task is adding the task to its `privileged_in`. Neither needs code elsewhere.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from typing import Iterable, Mapping

SCHEMA_VERSION = 1


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


CLICK = "click"  # The label that `clicked_only` tasks select their examples by.


@dataclasses.dataclass(frozen=True)
class Task:
  """A prediction task: its label and which impressions are its examples."""
  name: str
  label: str
  clicked_only: bool  # CVR is learnt on impressions with CLICK == 1 only.
  description: str


TASKS: Mapping[str, Task] = {
    "ctr": Task("ctr", label=CLICK, clicked_only=False,
                description="Coarse-ranking CTR on all impressions."),
    "cvr": Task("cvr", label="purchase", clicked_only=True,
                description="Fine-ranking CVR on clicked impressions."),
}


def task(name: str) -> Task:
  """Returns the task called `name`; raises ValueError naming the known ones."""
  if name not in TASKS:
    raise ValueError(f"Unknown task {name!r}; known tasks: {sorted(TASKS)}.")
  return TASKS[name]


@dataclasses.dataclass(frozen=True)
class Feature:
  """One column of the training examples.

  Attributes:
    name: The tf.train.Example key.
    dtype: Storage type in the Example.
    kind: Meaning to a model.
    group: Where it comes from, for people and for per-group model choices.
    source: `user.<key>` / `item.<key>` (a key of the impression's logged objects),
      `impression.<field>` (a top-level impression field), or `derived` (computed by
      the join job from clicks and detail pages).
    privileged_in: Tasks for which this is a privileged (teacher-only) input.
    excluded_from: Tasks whose models must not see it at all.
    vocabulary: For categorical and sequence features, the vocabulary's name; features
      naming the same vocabulary share it (and may share an embedding table), e.g. the
      behaviour sequence of clicked item ids uses `item_id`'s.
    min_count: Tokens seen fewer times than this in the train split map to OOV.
    max_tokens: Keep at most this many most frequent tokens (None: no cap).
    max_length: For sequences, the longest list written.
    default: Value for a record that lacks the feature (also the parsing default).
    bounds: For numeric features, the closed range [low, high] a valid value lies in.
      A value outside it sends the record to the dead letter.
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
  max_length: int | None = None
  default: str | int | float | None = None
  bounds: tuple[float, float] | None = None
  description: str = ""

  def __post_init__(self):
    unknown = (self.privileged_in | self.excluded_from) - set(TASKS)
    if unknown:
      raise ValueError(f"Feature {self.name!r} names unknown tasks {sorted(unknown)}.")
    if self.privileged_in & self.excluded_from:
      raise ValueError(f"Feature {self.name!r} is both privileged and excluded for "
                       f"{sorted(self.privileged_in & self.excluded_from)}.")
    needs_vocab = self.kind in (Kind.CATEGORICAL, Kind.SEQUENCE)
    if needs_vocab != (self.vocabulary is not None):
      raise ValueError(f"Feature {self.name!r} of kind {self.kind.value} "
                       f"{'needs' if needs_vocab else 'cannot have'} a vocabulary.")
    if needs_vocab and self.dtype is not DType.STRING:
      raise ValueError(f"Feature {self.name!r}: ids are stored as strings, got "
                       f"{self.dtype.value}.")
    if (self.kind is Kind.SEQUENCE) != (self.max_length is not None):
      raise ValueError(f"Feature {self.name!r}: max_length is for sequences only, "
                       "and sequences need one.")
    if not (self.source == "derived" or self.source.split(".")[0] in (
        "user", "item", "impression")):
      raise ValueError(f"Feature {self.name!r} has unknown source {self.source!r}.")

  @property
  def is_sequence(self) -> bool:
    return self.kind is Kind.SEQUENCE

  @property
  def parse_default(self) -> str | int | float:
    """The value a missing scalar takes: the declared default, else the dtype's zero."""
    if self.default is not None:
      return self.default
    return {DType.STRING: "", DType.INT64: 0, DType.FLOAT32: 0.0}[self.dtype]

  def role(self, task_name: str) -> Role:
    task(task_name)
    if self.kind in (Kind.LABEL, Kind.METADATA):
      return Role.NOT_AN_INPUT
    if task_name in self.excluded_from:
      return Role.EXCLUDED
    if task_name in self.privileged_in:
      return Role.PRIVILEGED
    return Role.REGULAR


class FeatureSpec:
  """An ordered, validated table of features with per-task views."""

  def __init__(self, features: Iterable[Feature]):
    self.features: tuple[Feature, ...] = tuple(features)
    names = [f.name for f in self.features]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
      raise ValueError(f"Feature names must be unique; repeated: {duplicated}.")
    self._by_name = {f.name: f for f in self.features}
    for t in TASKS.values():
      if t.label not in self._by_name or self[t.label].kind is not Kind.LABEL:
        raise ValueError(f"Task {t.name!r} needs a label feature {t.label!r}.")

  def __getitem__(self, name: str) -> Feature:
    if name not in self._by_name:
      raise KeyError(f"No feature {name!r} in the spec; known: {sorted(self._by_name)}.")
    return self._by_name[name]

  def __iter__(self):
    return iter(self.features)

  def __len__(self) -> int:
    return len(self.features)

  @property
  def names(self) -> list[str]:
    return [f.name for f in self.features]

  def with_role(self, task_name: str, role: Role) -> list[Feature]:
    return [f for f in self.features if f.role(task_name) is role]

  def regular(self, task_name: str) -> list[Feature]:
    """X: what the student (and the serving signature) sees for this task."""
    return self.with_role(task_name, Role.REGULAR)

  def privileged(self, task_name: str) -> list[Feature]:
    """X*: what only the teacher sees for this task."""
    return self.with_role(task_name, Role.PRIVILEGED)

  def logged(self) -> list[Feature]:
    """Features read straight from impression records (not derived by the join)."""
    return [f for f in self.features if f.source != "derived"]

  def vocabularies(self) -> dict[str, list[Feature]]:
    """Vocabulary name -> the features that look up in it (the first one owns it)."""
    vocabs: dict[str, list[Feature]] = {}
    for f in self.features:
      if f.vocabulary is not None:
        vocabs.setdefault(f.vocabulary, []).append(f)
    return vocabs

  def vocabulary_settings(self, vocab_name: str) -> Feature:
    """The feature whose min_count/max_tokens govern `vocab_name` (its owner)."""
    return self.vocabularies()[vocab_name][0]

  def to_json(self) -> str:
    rows = []
    for f in self.features:
      row = dataclasses.asdict(f)
      row.update(dtype=f.dtype.value, kind=f.kind.value, group=f.group.value,
                 privileged_in=sorted(f.privileged_in),
                 excluded_from=sorted(f.excluded_from),
                 bounds=list(f.bounds) if f.bounds else None)
      rows.append(row)
    return json.dumps({"schema_version": SCHEMA_VERSION, "features": rows}, indent=2,
                      sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> FeatureSpec:
    payload = json.loads(text)
    if payload.get("schema_version") != SCHEMA_VERSION:
      raise ValueError(f"Feature spec JSON has schema_version "
                       f"{payload.get('schema_version')!r}; this code reads "
                       f"{SCHEMA_VERSION}.")
    features = []
    for row in payload["features"]:
      row.update(dtype=DType(row["dtype"]), kind=Kind(row["kind"]),
                 group=Group(row["group"]),
                 privileged_in=frozenset(row["privileged_in"]),
                 excluded_from=frozenset(row["excluded_from"]),
                 bounds=tuple(row["bounds"]) if row["bounds"] else None)
      features.append(Feature(**row))
    return cls(features)

  def fingerprint(self) -> str:
    """A stable hash of the spec, recorded with datasets and exports."""
    return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:16]


def _categorical(name: str, group: Group, source: str, **kwargs) -> Feature:
  kwargs.setdefault("vocabulary", name)
  return Feature(name, DType.STRING, Kind.CATEGORICAL, group, source, **kwargs)


def _numeric(name: str, dtype: DType, group: Group, source: str, **kwargs) -> Feature:
  return Feature(name, dtype, Kind.NUMERIC, group, source, **kwargs)


def _count(name: str, group: Group, **kwargs) -> Feature:
  return _numeric(name, DType.INT64, group, "derived", **kwargs)


_CVR_ONLY = frozenset({"cvr"})
_CTR_ONLY = frozenset({"ctr"})
_BOTH = frozenset({"ctr", "cvr"})
_POST_EVENT = dict(privileged_in=_CVR_ONLY, excluded_from=_CTR_ONLY)

DEFAULT_SPEC = FeatureSpec([
    # Metadata: tracing, time and GAUC grouping; never model inputs.
    Feature("impression_id", DType.STRING, Kind.METADATA, Group.METADATA,
            "impression.impression_id"),
    Feature("request_id", DType.STRING, Kind.METADATA, Group.METADATA,
            "impression.request_id"),
    Feature("ts_ms", DType.INT64, Kind.METADATA, Group.METADATA, "impression.ts_ms"),
    # Labels.
    Feature("click", DType.INT64, Kind.LABEL, Group.LABEL, "derived",
            description="A click within the click window."),
    Feature("purchase", DType.INT64, Kind.LABEL, Group.LABEL, "derived",
            description="A purchase within the attribution window after the click."),
    # User.
    _categorical("user_id", Group.USER, "impression.user_id", min_count=2),
    _categorical("segment", Group.USER, "user.segment"),
    _categorical("city_tier", Group.USER, "user.city_tier"),
    _categorical("age_bucket", Group.USER, "user.age_bucket"),
    # Item.
    _categorical("item_id", Group.ITEM, "impression.item_id", min_count=2),
    _categorical("category_id", Group.ITEM, "item.category_id"),
    _categorical("shop_id", Group.ITEM, "item.shop_id"),
    _categorical("brand_id", Group.ITEM, "item.brand_id"),
    _numeric("price", DType.FLOAT32, Group.ITEM, "item.price", bounds=(1e-6, 1e7),
             default=0.0),
    # Context. A ranker scores before positions exist: position is teacher-only.
    _categorical("scene", Group.CONTEXT, "impression.scene"),
    _numeric("position", DType.INT64, Group.CONTEXT, "impression.position",
             privileged_in=_BOTH, bounds=(0, 9999),
             description="Slot shown; unknown when the ranker scores."),
    # Behaviour: point-in-time correct, most recent click first.
    Feature("hist_item_ids", DType.STRING, Kind.SEQUENCE, Group.BEHAVIOUR, "derived",
            vocabulary="item_id", max_length=50,
            description="The user's last 50 clicked items before the impression."),
    Feature("hist_category_ids", DType.STRING, Kind.SEQUENCE, Group.BEHAVIOUR,
            "derived", vocabulary="category_id", max_length=50,
            description="Categories of hist_item_ids."),
    # Cross: cheap for a fine ranker, unaffordable for a two-tower pre-ranker.
    _count("user_category_clicks_24h", Group.CROSS, privileged_in=_CTR_ONLY,
           description="The user's clicks in the item's category in the last 24 h."),
    _count("user_shop_clicks_24h", Group.CROSS, privileged_in=_CTR_ONLY,
           description="The user's clicks in the item's shop in the last 24 h."),
    # Post-event: after the click, before the purchase. They would leak the CTR label.
    _numeric("dwell_ms_total", DType.FLOAT32, Group.POST_EVENT, "derived",
             **_POST_EVENT, description="Total detail-page dwell."),
    _count("view_count", Group.POST_EVENT, **_POST_EVENT),
    _count("review_count", Group.POST_EVENT, **_POST_EVENT),
    _count("chat_count", Group.POST_EVENT, **_POST_EVENT),
    _count("added_to_cart", Group.POST_EVENT, **_POST_EVENT),
])
