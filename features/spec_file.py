"""The feature spec file: its text (YAML or JSON, local or remote) and the mapping it
holds, to and from the spec's records.

The format is WORKSPACE.md's "The feature spec file". YAML, not JSON, for the file a
person writes: it takes comments (the proposal of `features.infer_spec` explains itself
in them, and a team notes why a feature is privileged), and JSON is read as well, being
YAML too. The reader checks the file's shape (known keys, mappings, lists, spellings,
the version) and fills in defaults; what the values mean is `features.spec_rules`'.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

import yaml

from features.spec_types import (DERIVED, Derivation, DType, Event, EventField,
                                 Examples, Feature, Group, Kind, Op, Slice, Task)

if TYPE_CHECKING:
  from features.spec import FeatureSpec

SCHEMA_VERSION = 2


class SpecError(ValueError):
  """A spec that breaks a rule; the message names the file, the feature and the rule."""


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


class Declarations(NamedTuple):
  """What a spec file declares, in the order `FeatureSpec` takes it."""
  features: list[Feature]
  tasks: list[Task]
  events: list[Event]
  identity: Mapping[str, str]
  slices: list[Slice]


def from_mapping(payload: Any) -> Declarations:
  """The file format's mapping -> its records; errors name the feature and the rule."""
  return _SpecReader().read(payload)


def to_mapping(spec: FeatureSpec) -> dict[str, Any]:
  """The spec as the file format's mapping (what `from_mapping` reads)."""
  return {
      "version": SCHEMA_VERSION,
      "identity": dict(spec.identity),
      "events": {e.name: {"fields": {
          x.name: _drop_none({"dtype": x.dtype.value, "required": x.required,
                              "bounds": list(x.bounds) if x.bounds else None})
          for x in e.fields}} for e in spec.events.values()},
      "tasks": {t.name: _drop_none({
          "label": t.label, "examples": t.examples.value,
          "description": t.description or None,
          "model_defaults": dict(t.model_defaults) or None,
          "auxiliary_labels": list(t.auxiliary_labels) or None})
                for t in spec.tasks.values()},
      "evaluation": {"slices": {s.name: {"feature": s.feature,
                                         "top_fraction": s.top_fraction}
                                for s in spec.slices}},
      "features": [_feature_to_dict(f) for f in spec.features],
  }


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
      "max_tokens": f.max_tokens, "min_count_days": f.min_count_days,
      "retire_after_days": f.retire_after_days, "max_length": f.max_length,
      "default": f.default,
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
                 "min_count", "max_tokens", "min_count_days", "retire_after_days",
                 "max_length", "default", "bounds",
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
  """The file format's mapping -> its records, one section at a time."""

  def read(self, payload: Mapping[str, Any]) -> Declarations:
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
    return Declarations(features, tasks, events,
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
        source = DERIVED
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
          max_tokens=row.get("max_tokens"),
          min_count_days=row.get("min_count_days"),
          retire_after_days=row.get("retire_after_days"),
          max_length=row.get("max_length"),
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


def read_mapping(path: str) -> Any:
  """The mapping a spec file (YAML or JSON) holds, local or remote (fsspec-free:
  Beam's FileSystems when the path has a scheme).

  Raises:
    SpecError: naming `path`: it cannot be read, or it is not YAML.
  """
  try:
    text = _read_text(path)
  except OSError as e:
    raise SpecError(f"{path}: cannot read the feature spec: {e}") from e
  try:
    return yaml.safe_load(text)
  except yaml.YAMLError as e:
    raise SpecError(f"{path}: not YAML: {e}") from e


def _read_text(path: str) -> str:
  if "://" in path:
    from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
    with FileSystems.open(path) as f:
      return f.read().decode("utf-8")
  with open(path, encoding="utf-8") as f:
    return f.read()


def to_yaml(mapping: Mapping[str, Any]) -> str:
  """The file format's mapping as YAML, in its order (`to_mapping`'s)."""
  return yaml.safe_dump(dict(mapping), sort_keys=False, default_flow_style=None,
                        width=88)
