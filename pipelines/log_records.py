"""Raw log lines -> typed, validated records, or a dead letter saying why not.

Pure Python (no Beam, no TensorFlow), so the rules of LOG_CONTRACT.md are unit-testable
line by line. Checks run in the contract's order: empty line, malformed JSON, missing
field, wrong type, invalid value.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import math
from typing import Any, Callable, Mapping, NamedTuple

from features import spec as spec_lib

# Plausible event times: [2000-01-01, 2100-01-01) UTC. Outside is a unit bug upstream.
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000
MAX_DWELL_MS = 24 * 3600 * 1000
DETAIL_EVENTS = frozenset({"view", "review", "chat", "cart", "purchase"})


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
  user_id: str
  ts_ms: int
  item_id: str
  category_id: str
  shop_id: str
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
  dwell_ms: int
  source: str

  def canonical(self) -> str:
    return json.dumps({"impression_id": self.impression_id, "ts_ms": self.ts_ms,
                       "event": self.event, "dwell_ms": self.dwell_ms}, sort_keys=True)


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
  if not MIN_TS_MS <= ts < MAX_TS_MS:
    raise _Rejected(Reason.INVALID_VALUE, f"{path!r}={ts} is outside "
                    f"[{MIN_TS_MS}, {MAX_TS_MS}) ms since the epoch")
  return ts


def _as_number(value: Any, path: str) -> float:
  if not (isinstance(value, (int, float)) and not isinstance(value, bool)):
    raise _Rejected(Reason.WRONG_TYPE, f"{path!r} must be a number, got {value!r}")
  if not math.isfinite(value):
    raise _Rejected(Reason.INVALID_VALUE, f"{path!r}={value!r} is not finite")
  return value


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


def _reader(feature: spec_lib.Feature) -> tuple[str, _ReadFeature]:
  """(name, a function reading and checking the feature from a parsed impression).

  A closure per feature, built once per spec: the job reads ~14 features of every
  impression line, and looking up where each sits and how it is checked was a
  third of the parse.
  """
  scope, _, key = feature.source.partition(".")
  if feature.dtype is spec_lib.DType.STRING:
    convert = _as_id
  elif feature.kind is spec_lib.Kind.METADATA:
    convert = _as_ts
  elif feature.dtype is spec_lib.DType.INT64:
    convert = _bounded(_as_int, feature.bounds)
  else:
    convert = _bounded(lambda v, p: float(_as_number(v, p)), feature.bounds)

  if scope == "impression":
    def read_required(record: Mapping[str, Any]) -> Any:
      return convert(_get(record, key), key)
    return feature.name, read_required

  path, default = feature.source, feature.parse_default

  def read_optional(record: Mapping[str, Any]) -> Any:
    container = record[scope]  # Checked to be an object before.
    if key not in container:  # Absent optional keys get the default.
      return default
    return convert(container[key], path)
  return feature.name, read_optional


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


@dataclasses.dataclass(frozen=True)
class LogParser:
  """Parses the lines of one log. Build with `for_log`; call with (line, source)."""
  log: Log
  _parse: Callable[[Mapping[str, Any], str], Any]

  @classmethod
  def for_log(cls, log: Log, spec: spec_lib.FeatureSpec) -> LogParser:
    parsers = {
        Log.IMPRESSIONS: functools.partial(
            _parse_impression, readers=tuple(_reader(f) for f in spec.logged())),
        Log.CLICKS: _parse_click,
        Log.DETAIL_PAGES: _parse_detail_event,
    }
    return cls(log, parsers[log])

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


_REQUIRED_ITEM_FIELDS = (("category_id", "item.category_id"), ("shop_id", "item.shop_id"))


def _parse_impression(record: Mapping[str, Any], source: str,
                      readers: tuple[tuple[str, _ReadFeature], ...]) -> Impression:
  # Contract fields first, so a broken record names its first broken field.
  _as_object(_get(record, "user"), "user")
  item = _as_object(_get(record, "item"), "item")
  for required, path in _REQUIRED_ITEM_FIELDS:
    _get(item, required, path)
  values = {name: read(record) for name, read in readers}
  return Impression(
      impression_id=_as_id(_get(record, "impression_id"), "impression_id"),
      user_id=_as_id(_get(record, "user_id"), "user_id"),
      ts_ms=_as_ts(_get(record, "ts_ms"), "ts_ms"),
      item_id=_as_id(_get(record, "item_id"), "item_id"),
      category_id=_as_id(item["category_id"], "item.category_id"),
      shop_id=_as_id(item["shop_id"], "item.shop_id"),
      values=values,
      source=source)


def _parse_click(record: Mapping[str, Any], source: str) -> Click:
  return Click(impression_id=_as_id(_get(record, "impression_id"), "impression_id"),
               ts_ms=_as_ts(_get(record, "ts_ms"), "ts_ms"), source=source)


def _parse_detail_event(record: Mapping[str, Any], source: str) -> DetailEvent:
  impression_id = _as_id(_get(record, "impression_id"), "impression_id")
  ts_ms = _as_ts(_get(record, "ts_ms"), "ts_ms")
  event = _as_str(_get(record, "event"), "event")
  if event not in DETAIL_EVENTS:
    raise _Rejected(Reason.INVALID_VALUE,
                    f"'event'={event!r} is not one of {sorted(DETAIL_EVENTS)}")
  dwell_ms = 0
  if event == "view":
    dwell_ms = _as_int(_get(record, "dwell_ms"), "dwell_ms")
    if not 0 <= dwell_ms <= MAX_DWELL_MS:
      raise _Rejected(Reason.INVALID_VALUE,
                      f"'dwell_ms'={dwell_ms} is outside [0, {MAX_DWELL_MS}]")
  return DetailEvent(impression_id, ts_ms, event, dwell_ms, source)
