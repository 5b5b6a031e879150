"""Raw log lines -> typed, validated records, or a dead letter saying why not.

Pure Python (no Beam, no TensorFlow), so the rules of LOG_CONTRACT.md are unit-testable
line by line. Checks run in the contract's order: empty line, malformed JSON, missing
field, wrong type, invalid value.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import json
import math
from typing import Any, Callable, Mapping, NamedTuple

from features import spec as spec_lib
# The contract's top-level fields the job itself needs (features name the rest), and
# the impression's logged objects (a feature's source `user.<key>` / `item.<key>`).
from features.log_contract import EVENT, IMPRESSION_ID, TS_MS
from features.log_contract import LOGGED_OBJECTS as OBJECTS


class Log(str, enum.Enum):
  IMPRESSIONS = "impressions"
  CLICKS = "clicks"
  DETAIL_PAGES = "detail_pages"


class Reason(str, enum.Enum):
  """Why a line went to the dead letter, in the order the checks run."""
  EMPTY_LINE = "empty_line"
  MALFORMED_JSON = "malformed_json"
  MISSING_FIELD = "missing_field"
  WRONG_TYPE = "wrong_type"
  INVALID_VALUE = "invalid_value"
  CONFLICTING_DUPLICATE = "conflicting_duplicate"
  ORPHAN_EVENT = "orphan_event"
  EVENT_BEFORE_IMPRESSION = "event_before_impression"
  DETAIL_WITHOUT_CLICK = "detail_without_click"


class DeadLetter(NamedTuple):
  """A rejected line: what it was, where it came from, and why."""
  log: str
  source: str
  reason: str
  detail: str
  record: str  # The raw line, or the parsed record as canonical JSON.

  def to_json(self) -> str:
    return json.dumps(self._asdict(), sort_keys=True, ensure_ascii=False)


class Impression(NamedTuple):
  """A valid impression: join keys, plus every logged spec feature's value."""
  impression_id: str
  user_id: str  # The spec's identity user feature's value.
  ts_ms: int
  values: Mapping[str, Any]  # spec feature name -> value (logged features only)
  source: str

  def canonical(self) -> str:
    return json.dumps(self.values, sort_keys=True, ensure_ascii=False)


class Click(NamedTuple):
  impression_id: str
  ts_ms: int
  source: str

  def canonical(self) -> str:
    return json.dumps({"impression_id": self.impression_id, "ts_ms": self.ts_ms},
                      sort_keys=True)


class DetailEvent(NamedTuple):
  impression_id: str
  ts_ms: int
  event: str
  fields: tuple  # The spec's event fields (`event_field_names`); 0 where not logged.
  source: str

  def canonical(self) -> str:
    return json.dumps({"impression_id": self.impression_id, "ts_ms": self.ts_ms,
                       "event": self.event, "fields": self.fields}, sort_keys=True)


class _Rejected(Exception):
  """Internal: carries a dead-letter reason out of the field readers."""

  def __init__(self, reason: Reason, detail: str):
    super().__init__(detail)
    self.reason = reason
    self.detail = detail


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _get(obj: Mapping[str, Any], key: str, path: str | None = None) -> Any:
  """obj[key]; a missing key is a missing field, named `path` (default `key`)."""
  if key not in obj:
    raise _Rejected(Reason.MISSING_FIELD, f"missing field {path or key!r}")
  return obj[key]


def _as_id(value: Any, path: str) -> str:
  if isinstance(value, str) and value:
    return value
  if _is_int(value):
    return str(value)
  raise _Rejected(Reason.WRONG_TYPE, f"{path!r} must be a non-empty string or an "
                  f"integer, got {value!r}")


def _as_token(value: Any, path: str) -> str:
  """A categorical value: an id, or a JSON boolean as the token "true" / "false"."""
  if isinstance(value, bool):
    return "true" if value else "false"
  return _as_id(value, path)


def _as_int(value: Any, path: str) -> int:
  if not _is_int(value):
    raise _Rejected(Reason.WRONG_TYPE, f"{path!r} must be an integer, got {value!r}")
  return value


def _as_str(value: Any, path: str) -> str:
  if not isinstance(value, str):
    raise _Rejected(Reason.WRONG_TYPE, f"{path!r} must be a string, got {value!r}")
  return value


def _as_object(value: Any, path: str) -> Mapping[str, Any]:
  if not isinstance(value, dict):  # json.loads makes dicts; typing.Mapping is slow.
    raise _Rejected(Reason.WRONG_TYPE, f"{path!r} must be an object, got {value!r}")
  return value


def _as_ts(value: Any, path: str) -> int:
  ts = _as_int(value, path)
  if not spec_lib.MIN_TS_MS <= ts < spec_lib.MAX_TS_MS:
    raise _Rejected(Reason.INVALID_VALUE, f"{path!r}={ts} is outside "
                    f"[{spec_lib.MIN_TS_MS}, {spec_lib.MAX_TS_MS}) ms since the epoch")
  return ts


def _as_number(value: Any, path: str) -> float:
  if not (isinstance(value, (int, float)) and not isinstance(value, bool)):
    raise _Rejected(Reason.WRONG_TYPE, f"{path!r} must be a number, got {value!r}")
  if not math.isfinite(value):
    raise _Rejected(Reason.INVALID_VALUE, f"{path!r}={value!r} is not finite")
  return value


def _as_float(value: Any, path: str) -> float:
  return float(_as_number(value, path))


def _bounded(read: Callable[[Any, str], float], bounds: tuple[float, float] | None
             ) -> Callable[[Any, str], float]:
  if bounds is None:
    return read
  low, high = bounds

  def read_in_bounds(value: Any, path: str) -> float:
    number = read(value, path)
    if not low <= number <= high:
      raise _Rejected(Reason.INVALID_VALUE,
                      f"{path!r}={number!r} is outside [{low}, {high}]")
    return number
  return read_in_bounds


_ReadFeature = Callable[[Mapping[str, Any]], Any]


def _converter(feature: spec_lib.Feature) -> Callable[[Any, str], Any]:
  if feature.dtype is spec_lib.DType.STRING:
    return _as_token
  if feature.kind is spec_lib.Kind.METADATA:
    return _as_ts
  if feature.dtype is spec_lib.DType.INT64:
    return _bounded(_as_int, feature.bounds)
  return _bounded(_as_float, feature.bounds)


def _reader(feature: spec_lib.Feature, missing: collections.Counter
            ) -> tuple[str, _ReadFeature]:
  """(name, a function reading and checking the feature from a parsed impression).

  A closure per feature, built once per spec: the job reads ~14 features of every
  impression line, and looking up where each sits and how it is checked was a
  third of the parse. A `user.` / `item.` value that is absent, null or (for an id)
  "" is missing: it takes the feature's default and counts in `missing[name]`, or,
  for a `required` feature, rejects the line.
  """
  scope, keys = spec_lib.source_path(feature.source)
  convert = _converter(feature)
  if scope == spec_lib.IMPRESSION_SCOPE:
    (key,) = keys

    def read_required(record: Mapping[str, Any]) -> Any:
      return convert(_get(record, key), key)
    return feature.name, read_required

  name, path, default = feature.name, feature.source, feature.parse_default
  required = feature.required
  key, *inner = keys

  def lookup(record: Mapping[str, Any]) -> Any:
    value = record[scope].get(key)  # Checked to be an object before.
    for depth, inner_key in enumerate(inner, start=2):
      if value is None:
        return None
      if not isinstance(value, dict):
        raise _Rejected(Reason.WRONG_TYPE, f"{'.'.join((scope, *keys[:depth - 1]))!r} "
                        f"must be an object (for {path!r}), got {value!r}")
      value = value.get(inner_key)
    return value

  def read_optional(record: Mapping[str, Any]) -> Any:
    value = lookup(record)
    if value is None or value == "":
      if required:
        raise _Rejected(Reason.MISSING_FIELD, f"missing field {path!r}")
      missing[name] += 1
      return default
    return convert(value, path)
  return name, read_optional


def _load_object(line: str | bytes) -> Mapping[str, Any]:
  if not line.strip():
    raise _Rejected(Reason.EMPTY_LINE, "blank line")
  if isinstance(line, bytes):
    try:
      line = line.decode("utf-8")
    except UnicodeDecodeError as e:
      raise _Rejected(Reason.MALFORMED_JSON, f"not UTF-8: {e}") from e
  try:
    record = json.loads(line)
  except (json.JSONDecodeError, RecursionError) as e:
    raise _Rejected(Reason.MALFORMED_JSON, f"not JSON: {e}") from e
  if not isinstance(record, dict):
    raise _Rejected(Reason.MALFORMED_JSON,
                    f"a record must be a JSON object, got {type(record).__name__}")
  return record


@dataclasses.dataclass
class Coverage:
  """Over the valid impressions parsed: how many lack each declared `user.`/`item.`
  feature, and how many carry each key that no feature declares."""
  parsed: int = 0
  missing: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  undeclared: collections.Counter = dataclasses.field(
      default_factory=collections.Counter)  # "user.<key>" / "item.<key>" -> records

  def reset(self) -> None:
    self.parsed = 0
    self.missing.clear()
    self.undeclared.clear()


@dataclasses.dataclass(frozen=True)
class LogParser:
  """Parses the lines of one log. Build with `for_log`; call with (line, source).

  An impression parser counts its valid records' `coverage` (the caller reads and
  resets it).
  """
  log: Log
  _parse: Callable[[Mapping[str, Any], str], Any]
  coverage: Coverage

  @classmethod
  def for_log(cls, log: Log, spec: spec_lib.FeatureSpec) -> LogParser:
    coverage = Coverage()
    if log is Log.IMPRESSIONS:
      missing: collections.Counter = collections.Counter()
      parse = functools.partial(
          _parse_impression,
          readers=tuple(_reader(f, missing) for f in spec.logged()),
          user_feature=spec.user_feature,
          declared={scope: frozenset(keys[0] for source_scope, keys in map(
              spec_lib.source_path, (f.source for f in spec.logged()))
                                     if source_scope == scope)
                    for scope in OBJECTS},
          missing=missing, coverage=coverage)
    elif log is Log.CLICKS:
      parse = _parse_click
    else:
      parse = functools.partial(_parse_detail_event, events=_event_readers(spec))
    return cls(log, parse, coverage)

  def __call__(self, line: str | bytes, source: str) -> Any:
    """Returns the typed record, or a DeadLetter.

    `line` is text, or its UTF-8 bytes as read from a file (invalid UTF-8 is a
    malformed line, kept in the dead letter with its bad bytes replaced).
    """
    try:
      return self._parse(_load_object(line), source)
    except _Rejected as e:
      if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
      return DeadLetter(self.log.value, source, e.reason.value, e.detail, line)


def _parse_impression(record: Mapping[str, Any], source: str,
                      readers: tuple[tuple[str, _ReadFeature], ...],
                      user_feature: str,
                      declared: Mapping[str, frozenset[str]],
                      missing: collections.Counter,
                      coverage: Coverage) -> Impression:
  # Contract fields first, so a broken record names its first broken field.
  objects = [(scope, _as_object(_get(record, scope), scope)) for scope in OBJECTS]
  missing.clear()
  values = {name: read(record) for name, read in readers}
  impression = Impression(
      impression_id=_as_id(_get(record, IMPRESSION_ID), IMPRESSION_ID),
      user_id=values[user_feature],
      ts_ms=_as_ts(_get(record, TS_MS), TS_MS),
      values=values,
      source=source)
  # Counted once the record is valid: coverage is over the records in the examples.
  coverage.parsed += 1
  if missing:
    coverage.missing.update(missing)
  for scope, obj in objects:
    known = declared[scope]
    for key in obj:
      if key not in known:
        coverage.undeclared[f"{scope}.{key}"] += 1
  return impression


def _parse_click(record: Mapping[str, Any], source: str) -> Click:
  return Click(impression_id=_as_id(_get(record, IMPRESSION_ID), IMPRESSION_ID),
               ts_ms=_as_ts(_get(record, TS_MS), TS_MS), source=source)


_EventReader = Callable[[Mapping[str, Any]], tuple]


def _event_readers(spec: spec_lib.FeatureSpec) -> dict[str, _EventReader]:
  """Event name -> a function reading its fields, in `event_field_names` order."""
  names = spec.event_field_names()
  readers = {}
  for event in spec.events.values():
    own = {}
    for field in event.fields:
      read = _as_int if field.dtype is spec_lib.DType.INT64 else _as_float
      own[field.name] = (field.required, _bounded(read, field.bounds))

    def read_fields(record: Mapping[str, Any], own=own) -> tuple:
      values = []
      for name in names:
        if name not in own:
          values.append(0)
          continue
        required, read = own[name]
        if name in record:
          values.append(read(record[name], name))
        elif required:
          raise _Rejected(Reason.MISSING_FIELD, f"missing field {name!r}")
        else:
          values.append(0)
      return tuple(values)
    readers[event.name] = read_fields
  return readers


def _parse_detail_event(record: Mapping[str, Any], source: str,
                        events: Mapping[str, _EventReader]) -> DetailEvent:
  impression_id = _as_id(_get(record, IMPRESSION_ID), IMPRESSION_ID)
  ts_ms = _as_ts(_get(record, TS_MS), TS_MS)
  event = _as_str(_get(record, EVENT), EVENT)
  read_fields = events.get(event)
  if read_fields is None:
    raise _Rejected(Reason.INVALID_VALUE,
                    f"'event'={event!r} is not one of {sorted(events)}")
  return DetailEvent(impression_id, ts_ms, event, read_fields(record), source)
