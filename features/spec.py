"""The feature spec: the one source of truth for names, types, derivations and roles.

A person declares it in a YAML file (`default_spec.yaml` is the default world's; the
format is WORKSPACE.md's "The feature spec file"); `load_spec_file` validates it into
the frozen dataclasses below, which every other part of the project reads: the Beam job
(which fields to pull from the logs, which features to derive from clicks and detail
pages, which vocabularies to build), the schema and tfds metadata writers, the tf.data
parser, the models (which inputs the student may see) and the export (which inputs a
serving signature may take). A dataset carries the spec it was written with, as JSON
(`to_json`) of the same mapping.

YAML, not JSON, for the file a person writes: it takes comments (the proposal of
`features.infer_spec` explains itself in them, and a team notes why a feature is
privileged), and JSON is read as well, being YAML too.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import re
from typing import Any, Iterable, Mapping

import yaml

SCHEMA_VERSION = 2
DEFAULT_SPEC_PATH = os.path.join(os.path.dirname(__file__), "default_spec.yaml")
# What a categorical feature takes where a record lacks it (absent, null or ""): a
# token like any other in the vocabulary, never an empty line in its file.
MISSING_TOKEN = "__missing__"
# Plausible event times (LOG_CONTRACT.md): [2000-01-01, 2100-01-01) UTC, in ms since the
# epoch. Outside is a unit bug upstream.
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000
# The impression's time, ms since the epoch (LOG_CONTRACT.md): the source of the
# metadata feature that splits and slices the data by day.
IMPRESSION_TIME_SOURCE = "impression.ts_ms"


# Where a logged feature is read: the impression's top-level fields, or a key (at any
# depth) of one of its logged objects (LOG_CONTRACT.md).
IMPRESSION_SCOPE = "impression"
LOGGED_OBJECTS = ("user", "item")


def source_path(source: str) -> tuple[str, tuple[str, ...]]:
  """A logged feature's source as (scope, keys): 'user.geo.country' -> ('user',
  ('geo', 'country')).

  Raises:
    ValueError: a path no record can carry: an unknown scope, an empty key, an
      impression field below the top level, or a logged object read as a value.
  """
  scope, *keys = source.split(".")
  expected = ("expected impression.<field>, user.<key> or item.<key> (nested keys "
              "dotted: user.geo.country)")
  if scope not in (IMPRESSION_SCOPE, *LOGGED_OBJECTS) or not keys or not all(keys):
    raise ValueError(f"source {source!r} cannot exist: {expected}")
  if scope == IMPRESSION_SCOPE:
    if keys[0] in LOGGED_OBJECTS:
      raise ValueError(f"source {source!r} cannot exist: {keys[0]!r} is a logged "
                       f"object, not a value; read its keys as {keys[0]}.<key>")
    if len(keys) > 1:
      raise ValueError(f"source {source!r} cannot exist: impression fields are read "
                       "at the top level only (impression.<field>)")
  return scope, tuple(keys)


class SpecError(ValueError):
  """A spec that breaks a rule; the message names the file, the feature and the rule."""


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


_OP_GROUPS = {Op.CLICK: Group.LABEL, Op.EVENT: Group.LABEL, Op.HISTORY: Group.BEHAVIOUR,
              Op.CLICKS_SHARING: Group.CROSS, Op.COUNT: Group.POST_EVENT,
              Op.ANY: Group.POST_EVENT, Op.SUM: Group.POST_EVENT,
              Op.MAX: Group.POST_EVENT}
_OP_DTYPES = {Op.SUM: DType.FLOAT32, Op.MAX: DType.FLOAT32, Op.HISTORY: DType.STRING}
_SOURCE_GROUPS = {"user": Group.USER, "item": Group.ITEM}
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(text: str) -> int:
  """'30m' -> 1800000; units ms, s, m, h, d."""
  match = _DURATION.match(str(text))
  if not match:
    raise ValueError(f"window {text!r} is not a duration like 30m, 24h or 7d "
                     "(units: ms, s, m, h, d)")
  return int(match.group(1)) * _DURATION_MS[match.group(2)]


def format_duration(ms: int) -> str:
  for unit in ("d", "h", "m", "s"):
    if ms and ms % _DURATION_MS[unit] == 0:
      return f"{ms // _DURATION_MS[unit]}{unit}"
  return f"{ms}ms"


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
  max_length: int | None = None
  default: str | int | float | None = None
  bounds: tuple[float, float] | None = None
  required: bool = False
  derive: Derivation | None = None
  description: str = ""

  def __post_init__(self):
    if self.privileged_in & self.excluded_from:
      raise ValueError(f"feature {self.name!r} is both privileged and excluded for "
                       f"{sorted(self.privileged_in & self.excluded_from)}")
    needs_vocab = self.kind in (Kind.CATEGORICAL, Kind.SEQUENCE)
    if needs_vocab != (self.vocabulary is not None):
      raise ValueError(f"feature {self.name!r} of kind {self.kind.value} "
                       f"{'needs' if needs_vocab else 'cannot have'} a vocabulary")
    if needs_vocab and self.dtype is not DType.STRING:
      raise ValueError(f"feature {self.name!r}: ids are stored as strings, got "
                       f"{self.dtype.value}")
    if (self.kind is Kind.SEQUENCE) != (self.max_length is not None):
      raise ValueError(f"feature {self.name!r}: max_length is for sequences only, "
                       "and sequences need one")
    if (self.source == "derived") != (self.derive is not None):
      raise ValueError(f"feature {self.name!r}: a derived feature needs `derive`, "
                       "and only a derived one has it")
    if self.source != "derived":
      try:
        source_path(self.source)
      except ValueError as e:
        raise ValueError(f"feature {self.name!r}: {e}") from None
    if self.bounds is not None and self.kind is not Kind.NUMERIC:
      raise ValueError(f"feature {self.name!r}: bounds are for numeric features")

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


class FeatureSpec:
  """An ordered, validated table of features with its tasks, events and per-task views.

  Raises:
    ValueError: a rule is broken; the message names the feature (or task) and the rule.
  """

  def __init__(self, features: Iterable[Feature], tasks: Iterable[Task],
               events: Iterable[Event] = (), identity: Mapping[str, str] | None = None,
               slices: Iterable[Slice] = ()):
    self.features: tuple[Feature, ...] = tuple(features)
    self.tasks: dict[str, Task] = {t.name: t for t in tasks}
    self.events: dict[str, Event] = {e.name: e for e in events}
    self.identity: dict[str, str] = dict(identity or {})
    self.slices: tuple[Slice, ...] = tuple(slices)
    names = [f.name for f in self.features]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
      raise ValueError(f"feature names must be unique; repeated: {duplicated}")
    self._by_name = {f.name: f for f in self.features}
    self._validate()

  # --- validation ---------------------------------------------------------------
  def _validate(self) -> None:
    if not self.tasks:
      raise ValueError("the spec declares no task")
    for t in self.tasks.values():
      if t.label not in self._by_name or self[t.label].kind is not Kind.LABEL:
        raise ValueError(f"task {t.name!r}: its label {t.label!r} is not a feature of "
                         "kind label")
      for label in t.auxiliary_labels:
        if label not in self._by_name or self[label].kind is not Kind.LABEL:
          raise ValueError(f"task {t.name!r}: its auxiliary label {label!r} is not a "
                           "feature of kind label")
      labels = [t.label, *t.auxiliary_labels]
      if len(set(labels)) != len(labels):
        raise ValueError(f"task {t.name!r}: auxiliary_labels {list(t.auxiliary_labels)} "
                         f"repeat a label or name the task's own ({t.label!r})")
    for role, key in (("user", "user"), ("item", "item")):
      name = self.identity.get(key)
      if name is None:
        raise ValueError(f"identity: {role!r} must name the feature that identifies "
                         f"a {role}")
      if name not in self._by_name or self[name].kind is not Kind.CATEGORICAL:
        raise ValueError(f"identity: {role}={name!r} is not a categorical feature")
    if not self[self.identity["user"]].source.startswith("impression."):
      raise ValueError(f"identity: user={self.identity['user']!r} must be read from a "
                       "top-level impression field (impression.<field>): the join "
                       "groups each user's impressions by it")
    request = self.identity.get("request")
    if request is not None and (request not in self._by_name or self[request].kind
                                not in (Kind.METADATA, Kind.CATEGORICAL)):
      raise ValueError(f"identity: request={request!r} is not a metadata or "
                       "categorical feature")
    unknown = set(self.identity) - {"user", "item", "request"}
    if unknown:
      raise ValueError(f"identity: unknown keys {sorted(unknown)}; known: item, "
                       "request, user")
    for s in self.slices:
      if s.feature not in self._by_name or self[s.feature].kind is not Kind.NUMERIC:
        raise ValueError(f"evaluation slice {s.name!r}: {s.feature!r} is not a numeric "
                         "feature")
      if not 0 < s.top_fraction <= 1:
        raise ValueError(f"evaluation slice {s.name!r}: top_fraction must be in "
                         f"(0, 1], got {s.top_fraction}")
    self._validate_sources()
    for f in self.features:
      unknown = (f.privileged_in | f.excluded_from) - set(self.tasks)
      if unknown:
        raise ValueError(f"feature {f.name!r} names unknown tasks {sorted(unknown)}; "
                         f"tasks: {sorted(self.tasks)}")
      if f.derive is not None:
        self._validate_derivation(f)
    clicks = [f.name for f in self.features if f.derive and f.derive.op is Op.CLICK]
    if len(clicks) != 1:
      raise ValueError(f"the spec needs exactly one click label (derive: {{op: click}}),"
                       f" got {clicks}")

  def _validate_sources(self) -> None:
    """No logged feature reads a path inside another's value (a value cannot also be
    an object)."""
    paths = {source_path(f.source): f.name for f in self.logged()}
    for (scope, keys), name in paths.items():
      for depth in range(1, len(keys)):
        outer = paths.get((scope, keys[:depth]))
        if outer is not None:
          raise ValueError(
              f"feature {name!r} reads {scope}.{'.'.join(keys)}, inside the value of "
              f"feature {outer!r} ({scope}.{'.'.join(keys[:depth])}): a value cannot "
              "also be an object")

  def _validate_derivation(self, f: Feature) -> None:
    d = f.derive

    def fail(rule: str):
      raise ValueError(f"feature {f.name!r} (derive op {d.op.value}): {rule}")

    if d.op.is_label != (f.kind is Kind.LABEL):
      fail("labels are derived by op click or event, and those derive labels only")
    if d.event is not None and d.event not in self.events:
      fail(f"event {d.event!r} is not declared under events (declared: "
           f"{sorted(self.events)})")
    if (d.event is None) == (d.op in (Op.EVENT,) or d.op.is_post_event):
      fail("names an event" if d.event is not None else "needs an event")
    if d.op in (Op.CLICK, Op.EVENT, Op.CLICKS_SHARING) and not d.window_ms:
      fail("needs a window (e.g. 30m, 24h)")
    if d.op in (Op.SUM, Op.MAX):
      fields = {x.name for x in self.events[d.event].fields}
      if d.field not in fields:
        fail(f"field {d.field!r} is not a field of event {d.event!r} (fields: "
             f"{sorted(fields)})")
    elif d.field is not None:
      fail("only sum and max take a field")
    if d.op in (Op.HISTORY, Op.CLICKS_SHARING):
      of = self._by_name.get(d.of)
      if of is None or of.kind is not Kind.CATEGORICAL or of.source == "derived":
        fail(f"`of` must name a logged categorical feature, got {d.of!r}")
      if d.op is Op.HISTORY and f.kind is not Kind.SEQUENCE:
        fail("a history is a sequence feature")
    elif d.of is not None:
      fail("only history and clicks_sharing take `of`")
    if d.op is Op.CLICKS_SHARING and f.kind is not Kind.NUMERIC:
      fail("a clicks_sharing count is a numeric feature")
    if d.op.is_post_event:
      if f.kind is not Kind.NUMERIC:
        fail("a post-event aggregate is a numeric feature")
      for t in self.tasks.values():
        role = f.role(t.name)
        if role is Role.REGULAR:
          fail(f"post-event features do not exist when a ranker scores: make it "
               f"privileged or excluded for task {t.name!r}")
        if not t.clicked_only and role is not Role.EXCLUDED:
          fail(f"it is 0 without a click and would leak the click label of task "
               f"{t.name!r} (examples: all): exclude it there")
      before = self.post_event_label(f)
      if before is None:
        fail("its window needs an event label to end before: set `before`, or make "
             "it privileged for a task with an event label")
    elif d.before is not None:
      fail("only post-event aggregates take `before`")

  def post_event_label(self, feature: Feature) -> str | None:
    """The event label whose first event (or window end) ends `feature`'s window."""
    d = feature.derive
    labels = ({d.before} if d.before is not None
              else {self.tasks[t].label for t in feature.privileged_in})
    if len(labels) > 1:
      raise ValueError(f"feature {feature.name!r}: privileged for tasks with different "
                       f"labels {sorted(labels)}; set `before` to one of them")
    if not labels:
      return None
    (label,) = labels
    if (label not in self._by_name or self[label].derive is None
        or self[label].derive.op is not Op.EVENT):
      raise ValueError(f"feature {feature.name!r}: `before` must name an event label "
                       f"(derive op event), got {label!r}")
    return label

  # --- lookups ------------------------------------------------------------------
  def __getitem__(self, name: str) -> Feature:
    if name not in self._by_name:
      raise KeyError(f"No feature {name!r} in the spec; known: {sorted(self._by_name)}.")
    return self._by_name[name]

  def __contains__(self, name: str) -> bool:
    return name in self._by_name

  def __iter__(self):
    return iter(self.features)

  def __len__(self) -> int:
    return len(self.features)

  def __eq__(self, other) -> bool:
    return isinstance(other, FeatureSpec) and self.to_dict() == other.to_dict()

  def __hash__(self) -> int:
    return hash(self.fingerprint())

  def task(self, name: str) -> Task:
    """The task called `name`; raises ValueError naming the known ones."""
    if name not in self.tasks:
      raise ValueError(f"Unknown task {name!r}; this spec's tasks: "
                       f"{sorted(self.tasks)}.")
    return self.tasks[name]

  @property
  def names(self) -> list[str]:
    return [f.name for f in self.features]

  @property
  def click_label(self) -> str:
    """The label derived from the click log (what `clicked` tasks select by)."""
    return next(f.name for f in self.features if f.derive and f.derive.op is Op.CLICK)

  @property
  def user_feature(self) -> str:
    return self.identity["user"]

  @property
  def time_feature(self) -> str | None:
    """The metadata feature holding each impression's time in ms (its source is
    IMPRESSION_TIME_SOURCE), by which a split is sliced by day; None if not carried."""
    return next((f.name for f in self.features if f.kind is Kind.METADATA
                 and f.source == IMPRESSION_TIME_SOURCE), None)

  @property
  def item_feature(self) -> str:
    return self.identity["item"]

  @property
  def request_feature(self) -> str | None:
    """The feature identifying a request (the impressions served together), which
    ranking losses and metrics group by; None when the spec names none."""
    return self.identity.get("request")

  def derived(self, *ops: Op) -> list[Feature]:
    """Derived features, in spec order; only those of `ops` when given."""
    return [f for f in self.features
            if f.derive is not None and (not ops or f.derive.op in ops)]

  def event_labels(self) -> list[Feature]:
    return self.derived(Op.EVENT)

  def post_event_features(self) -> list[Feature]:
    return self.derived(Op.COUNT, Op.ANY, Op.SUM, Op.MAX)

  def event_field_names(self) -> list[str]:
    """Every event field, in declaration order: the layout of DetailEvent.fields."""
    names: list[str] = []
    for event in self.events.values():
      names.extend(x.name for x in event.fields if x.name not in names)
    return names

  def metadata_features(self) -> list[Feature]:
    """What evaluation reads beside a task's inputs: metadata, the user (GAUC), the
    request (ranking metrics) and the slices' features."""
    wanted = ({self.user_feature, self.request_feature}
              | {s.feature for s in self.slices})
    return [f for f in self.features if f.kind is Kind.METADATA or f.name in wanted]

  def with_role(self, task_name: str, role: Role) -> list[Feature]:
    self.task(task_name)
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

  def with_features(self, features: Iterable[Feature]) -> FeatureSpec:
    """The same tasks, events, identity and slices over other features."""
    return FeatureSpec(features, self.tasks.values(), self.events.values(),
                       self.identity, self.slices)

  # --- the file format ----------------------------------------------------------
  def to_dict(self) -> dict[str, Any]:
    """The spec as the file format's mapping (what `from_dict` reads)."""
    return {
        "version": SCHEMA_VERSION,
        "identity": dict(self.identity),
        "events": {e.name: {"fields": {
            x.name: _drop_none({"dtype": x.dtype.value, "required": x.required,
                                "bounds": list(x.bounds) if x.bounds else None})
            for x in e.fields}} for e in self.events.values()},
        "tasks": {t.name: _drop_none({
            "label": t.label, "examples": t.examples.value,
            "description": t.description or None,
            "model_defaults": dict(t.model_defaults) or None,
            "auxiliary_labels": list(t.auxiliary_labels) or None})
                  for t in self.tasks.values()},
        "evaluation": {"slices": {s.name: {"feature": s.feature,
                                           "top_fraction": s.top_fraction}
                                  for s in self.slices}},
        "features": [_feature_to_dict(f) for f in self.features],
    }

  @classmethod
  def from_dict(cls, payload: Mapping[str, Any]) -> FeatureSpec:
    """Validates the file format's mapping; errors name the feature and the rule."""
    return _SpecReader().read(payload)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> FeatureSpec:
    return cls.from_dict(json.loads(text))

  def to_yaml(self) -> str:
    return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None,
                          width=88)

  def fingerprint(self) -> str:
    """A stable hash of the spec, recorded with datasets and exports."""
    return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:16]


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
  return {k: v for k, v in mapping.items() if v is not None and v is not False}


def _feature_to_dict(f: Feature) -> dict[str, Any]:
  row: dict[str, Any] = {"name": f.name, "kind": f.kind.value, "dtype": f.dtype.value,
                         "group": f.group.value}
  if f.derive is None:
    row["source"] = f.source
  else:
    d = f.derive
    row["derive"] = _drop_none({
        "op": d.op.value, "event": d.event, "field": d.field, "of": d.of,
        "window": format_duration(d.window_ms) if d.window_ms else None,
        "before": d.before})
  row.update(_drop_none({
      "vocabulary": f.vocabulary if f.vocabulary != _default_vocabulary(f) else None,
      "min_count": f.min_count if f.min_count != 1 else None,
      "max_tokens": f.max_tokens, "max_length": f.max_length, "default": f.default,
      "bounds": list(f.bounds) if f.bounds else None, "required": f.required,
      "privileged_in": sorted(f.privileged_in) or None,
      "excluded_from": sorted(f.excluded_from) or None,
      "description": f.description or None}))
  return row


def _default_vocabulary(f: Feature) -> str | None:
  """A categorical feature's own name; a history's, its `of` feature's vocabulary
  (resolved by the reader; here: the `of` name, which owns it in valid specs)."""
  if f.kind is Kind.CATEGORICAL:
    return f.name
  if f.kind is Kind.SEQUENCE and f.derive is not None:
    return f.derive.of
  return None


_FEATURE_KEYS = {"name", "kind", "dtype", "group", "source", "derive", "vocabulary",
                 "min_count", "max_tokens", "max_length", "default", "bounds",
                 "required", "privileged_in", "excluded_from", "description"}
_DERIVE_KEYS = {"op", "event", "field", "of", "window", "before"}
_TOP_KEYS = {"version", "identity", "events", "tasks", "evaluation", "features"}
_TASK_KEYS = {"label", "examples", "description", "model_defaults", "auxiliary_labels"}
_FIELD_KEYS = {"dtype", "required", "bounds"}


def _enum(enum_type: type[enum.Enum], value: Any, what: str):
  try:
    return enum_type(value)
  except ValueError:
    raise ValueError(f"unknown {what} {value!r}; known: "
                     f"{[e.value for e in enum_type]}") from None


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
  if value is None:
    return {}
  if not isinstance(value, Mapping):
    raise ValueError(f"{what} must be a mapping, got {value!r}")
  return value


def _known_keys(mapping: Mapping[str, Any], known: set[str], what: str) -> None:
  unknown = sorted(set(mapping) - known)
  if unknown:
    raise ValueError(f"{what}: unknown keys {unknown}; known: {sorted(known)}")


def _bounds(value: Any, what: str) -> tuple[float, float] | None:
  if value is None:
    return None
  if (not isinstance(value, (list, tuple)) or len(value) != 2
      or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                 for v in value) or value[0] > value[1]):
    raise ValueError(f"{what}: bounds must be [low, high] numbers with low <= high, "
                     f"got {value!r}")
  return (value[0], value[1])


class _SpecReader:
  """The file format's mapping -> FeatureSpec, one section at a time."""

  def read(self, payload: Mapping[str, Any]) -> FeatureSpec:
    payload = _mapping(payload, "the spec")
    if payload.get("version") != SCHEMA_VERSION:
      raise ValueError(f"version is {payload.get('version')!r}; this code reads "
                       f"version {SCHEMA_VERSION}")
    _known_keys(payload, _TOP_KEYS, "the spec")
    events = [self._event(name, body)
              for name, body in _mapping(payload.get("events"), "events").items()]
    tasks = [self._task(name, body)
             for name, body in _mapping(payload.get("tasks"), "tasks").items()]
    evaluation = _mapping(payload.get("evaluation"), "evaluation")
    _known_keys(evaluation, {"slices"}, "evaluation")
    slices = [Slice(str(name), str(body.get("feature")),
                    float(body.get("top_fraction", 0)))
              for name, body in _mapping(evaluation.get("slices"),
                                         "evaluation.slices").items()]
    rows = payload.get("features")
    if not isinstance(rows, list) or not rows:
      raise ValueError("features must be a non-empty list")
    features = [self._feature(row, i) for i, row in enumerate(rows)]
    features = self._resolve_vocabularies(features)
    return FeatureSpec(features, tasks, events,
                       _mapping(payload.get("identity"), "identity"), slices)

  @staticmethod
  def _event(name: str, body: Any) -> Event:
    body = _mapping(body, f"event {name!r}")
    _known_keys(body, {"fields"}, f"event {name!r}")
    fields = []
    for field_name, spec in _mapping(body.get("fields"),
                                     f"event {name!r} fields").items():
      spec = _mapping(spec, f"event {name!r} field {field_name!r}")
      what = f"event {name!r} field {field_name!r}"
      _known_keys(spec, _FIELD_KEYS, what)
      dtype = _enum(DType, spec.get("dtype", "int64"), f"{what} dtype")
      if dtype is DType.STRING:
        raise ValueError(f"{what}: event fields are numbers (int64 or float32)")
      fields.append(EventField(str(field_name), dtype, bool(spec.get("required", False)),
                               _bounds(spec.get("bounds"), what)))
    return Event(str(name), tuple(fields))

  @staticmethod
  def _task(name: str, body: Any) -> Task:
    body = _mapping(body, f"task {name!r}")
    _known_keys(body, _TASK_KEYS, f"task {name!r}")
    if "label" not in body:
      raise ValueError(f"task {name!r} needs a label")
    defaults = _mapping(body.get("model_defaults"), f"task {name!r} model_defaults")
    auxiliary = body.get("auxiliary_labels") or []
    if not isinstance(auxiliary, list):
      raise ValueError(f"task {name!r}: auxiliary_labels must be a list of label "
                       f"features, got {auxiliary!r}")
    return Task(str(name), str(body["label"]),
                _enum(Examples, body.get("examples", "all"), f"task {name!r} examples"),
                str(body.get("description", "")),
                tuple((k, tuple(v) if isinstance(v, list) else v)
                      for k, v in defaults.items()),
                tuple(map(str, auxiliary)))

  @staticmethod
  def _feature(row: Any, index: int) -> Feature:
    if not isinstance(row, Mapping) or "name" not in row:
      raise ValueError(f"features[{index}] must be a mapping with a name, got {row!r}")
    name = str(row["name"])
    try:
      _known_keys(row, _FEATURE_KEYS, "keys")
      kind = _enum(Kind, row.get("kind"), "kind")
      derive = None
      if "derive" in row:
        raw = _mapping(row["derive"], "derive")
        _known_keys(raw, _DERIVE_KEYS, "derive")
        op = _enum(Op, raw.get("op"), "derive op")
        derive = Derivation(
            op, event=raw.get("event"), field=raw.get("field"), of=raw.get("of"),
            window_ms=duration_ms(raw["window"]) if "window" in raw else None,
            before=raw.get("before"))
        if "source" in row:
          raise ValueError("a derived feature has no source")
        source = "derived"
      elif "source" in row:
        source = str(row["source"])
      else:
        raise ValueError("needs a source (user.<key>, item.<key>, impression.<field>) "
                         "or a derive")
      dtype = row.get("dtype") or _default_dtype(kind, derive)
      if dtype is None:
        raise ValueError(f"a {kind.value} feature read from the logs needs a dtype "
                         "(int64 or float32 for numbers, string for ids)")
      dtype = _enum(DType, dtype, "dtype")
      group = row.get("group") or _default_group(kind, source, derive)
      if group is None:
        raise ValueError(f"cannot tell its group from source {source!r}; declare one "
                         f"of {[g.value for g in Group]}")
      group = _enum(Group, group, "group")
      needs_vocab = kind in (Kind.CATEGORICAL, Kind.SEQUENCE)
      vocabulary = row.get("vocabulary")
      if needs_vocab and vocabulary is None:
        vocabulary = name if kind is Kind.CATEGORICAL else (
            derive.of if derive and derive.of else None)
      privileged = row.get("privileged_in") or []
      excluded = row.get("excluded_from") or []
      for key, value in (("privileged_in", privileged), ("excluded_from", excluded)):
        if not isinstance(value, list):
          raise ValueError(f"{key} must be a list of task names, got {value!r}")
      return Feature(
          name, dtype, kind, group, source,
          privileged_in=frozenset(map(str, privileged)),
          excluded_from=frozenset(map(str, excluded)),
          vocabulary=vocabulary, min_count=int(row.get("min_count", 1)),
          max_tokens=row.get("max_tokens"), max_length=row.get("max_length"),
          default=row.get("default"), bounds=_bounds(row.get("bounds"), "bounds"),
          required=bool(row.get("required", False)), derive=derive,
          description=str(row.get("description", "")))
    except ValueError as e:
      message = str(e)
      if message.startswith(f"feature {name!r}"):
        raise
      raise ValueError(f"feature {name!r}: {message}") from None

  @staticmethod
  def _resolve_vocabularies(features: list[Feature]) -> list[Feature]:
    """A history looks up in its `of` feature's vocabulary (not its name)."""
    by_name = {f.name: f for f in features}
    return [dataclasses.replace(f, vocabulary=by_name[f.derive.of].vocabulary)
            if (f.derive is not None and f.derive.op is Op.HISTORY
                and f.vocabulary == f.derive.of and f.derive.of in by_name
                and by_name[f.derive.of].vocabulary is not None)
            else f for f in features]


def _default_dtype(kind: Kind, derive: Derivation | None) -> str | None:
  if kind in (Kind.CATEGORICAL, Kind.SEQUENCE):
    return DType.STRING.value
  if derive is not None:
    return _OP_DTYPES.get(derive.op, DType.INT64).value
  return None


def _default_group(kind: Kind, source: str, derive: Derivation | None) -> str | None:
  if kind is Kind.LABEL:
    return Group.LABEL.value
  if kind is Kind.METADATA:
    return Group.METADATA.value
  if derive is not None:
    return _OP_GROUPS[derive.op].value
  group = _SOURCE_GROUPS.get(source.split(".")[0])
  return group.value if group else None


def load_spec_file(path: str) -> FeatureSpec:
  """Reads and validates a spec file (YAML or JSON), local or gs:// (fsspec-free:
  Beam's FileSystems when the path has a scheme).

  Raises:
    SpecError: naming `path`, the feature and the rule broken.
  """
  try:
    text = _read_text(path)
  except OSError as e:
    raise SpecError(f"{path}: cannot read the feature spec: {e}") from e
  try:
    payload = yaml.safe_load(text)
  except yaml.YAMLError as e:
    raise SpecError(f"{path}: not YAML: {e}") from e
  try:
    return FeatureSpec.from_dict(payload)
  except ValueError as e:
    raise SpecError(f"{path}: {e}") from e


def _read_text(path: str) -> str:
  if "://" in path:
    from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
    with FileSystems.open(path) as f:
      return f.read().decode("utf-8")
  with open(path, encoding="utf-8") as f:
    return f.read()


DEFAULT_SPEC = load_spec_file(DEFAULT_SPEC_PATH)
