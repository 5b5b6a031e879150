"""The feature spec: the one source of truth for names, types, derivations and roles.

A person declares it in a YAML file (`default_spec.yaml` is the default world's; the
format is WORKSPACE.md's "The feature spec file"); `load_spec_file` validates it into a
`FeatureSpec`, which every other part of the project reads: the Beam job (which fields
to pull from the logs, which features to derive from clicks and detail pages, which
vocabularies to build), the schema and tfds metadata writers, the tf.data parser, the
models (which inputs the student may see) and the export (which inputs a serving
signature may take). A dataset carries the spec it was written with, as JSON
(`to_json`) of the same mapping.

This module is the spec's public face: the records are `features.spec_types`', the
rules `features.spec_rules`', the file format `features.spec_file`'s, and the
log-contract names `features.log_contract`'s; their public names are all here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from typing import Any, Iterable, Mapping

from features import spec_file
from features import spec_rules
from features.log_contract import (IMPRESSION_SCOPE, IMPRESSION_TIME_SOURCE,
                                   LOGGED_OBJECTS, MAX_TS_MS, MIN_TS_MS)
from features.spec_file import SCHEMA_VERSION, SpecError, duration_ms
from features.spec_rules import source_path
from features.spec_types import (DERIVED, MISSING_TOKEN, Derivation, DType, Event,
                                 EventField, Examples, Feature, Group, Kind, Op, Role,
                                 Slice, Task)

__all__ = [
    "DEFAULT_SPEC", "DEFAULT_SPEC_PATH", "DERIVED", "IMPRESSION_SCOPE",
    "IMPRESSION_TIME_SOURCE", "LOGGED_OBJECTS", "MAX_TS_MS", "MIN_TS_MS",
    "MISSING_TOKEN", "SCHEMA_VERSION", "Derivation", "DType", "Event", "EventField",
    "Examples", "Feature", "FeatureSpec", "Group", "Kind", "Op", "Role", "Slice",
    "SpecError", "Task", "default_spec", "duration_ms", "load_spec_file",
    "source_path",
]

DEFAULT_SPEC_PATH = os.path.join(os.path.dirname(__file__), "default_spec.yaml")


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
    self._by_name = {f.name: f for f in self.features}
    spec_rules.check_spec(self)

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
    return [f for f in self.features if f.source != DERIVED]

  def vocabularies(self) -> dict[str, list[Feature]]:
    """Vocabulary name -> the features that look up in it (the first one owns it)."""
    vocabs: dict[str, list[Feature]] = {}
    for f in self.features:
      if f.vocabulary is not None:
        vocabs.setdefault(f.vocabulary, []).append(f)
    return vocabs

  def vocabulary_settings(self, vocab_name: str) -> Feature:
    """The feature whose min_count, max_tokens, min_count_days and
    retire_after_days govern `vocab_name` (its owner)."""
    return self.vocabularies()[vocab_name][0]

  def with_features(self, features: Iterable[Feature]) -> FeatureSpec:
    """The same tasks, events, identity and slices over other features."""
    return FeatureSpec(features, self.tasks.values(), self.events.values(),
                       self.identity, self.slices)

  def post_event_label(self, feature: Feature) -> str | None:
    """The event label whose first event (or window end) ends `feature`'s window."""
    return spec_rules.post_event_label(self, feature)

  # --- the file format ----------------------------------------------------------
  def to_dict(self) -> dict[str, Any]:
    """The spec as the file format's mapping (what `from_dict` reads)."""
    return spec_file.to_mapping(self)

  @classmethod
  def from_dict(cls, payload: Mapping[str, Any]) -> FeatureSpec:
    """Validates the file format's mapping; errors name the feature and the rule."""
    return cls(*spec_file.from_mapping(payload))

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> FeatureSpec:
    return cls.from_dict(json.loads(text))

  def to_yaml(self) -> str:
    return spec_file.to_yaml(self.to_dict())

  def fingerprint(self) -> str:
    """A stable hash of the spec, recorded with datasets and exports."""
    return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:16]


def load_spec_file(path: str) -> FeatureSpec:
  """Reads and validates a spec file (YAML or JSON), local or gs://.

  Raises:
    SpecError: naming `path`, the feature and the rule broken.
  """
  payload = spec_file.read_mapping(path)
  try:
    return FeatureSpec.from_dict(payload)
  except ValueError as e:
    raise SpecError(f"{path}: {e}") from e


@functools.cache
def default_spec() -> FeatureSpec:
  """The default world's spec (`default_spec.yaml`), read on first use."""
  return load_spec_file(DEFAULT_SPEC_PATH)


def __getattr__(name: str) -> Any:
  # DEFAULT_SPEC reads its file when first asked for, not when this module is imported.
  if name == "DEFAULT_SPEC":
    return default_spec()
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
