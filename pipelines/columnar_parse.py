"""Chunks of log lines -> the records' wire fields, parsed as Arrow columns.

`pyarrow.json` parses a chunk of lines into columns in C (the Arrow project's own
reader, already a dependency of Beam), and the log contract's checks run as column
expressions. The per-line parser (`log_records.LogParser`) stays the rule book: a
chunk in which any check fails, or whose meaning the columns cannot pin down (a null
that may be an absent key, a blank line, a type Arrow promoted), is parsed again line
by line, so every dead letter, its detail and every count are the per-line parser's.

A record comes out as `wire`'s fields: an impression as (impression_id, user_id,
ts_ms, values in `spec.logged()` order, source), a click as (impression_id, ts_ms,
source), a detail event as (impression_id, ts_ms, event, fields, source).
"""

from __future__ import annotations

import collections
import functools
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from features import log_contract
from features import spec as spec_lib
from pipelines import log_records
from pipelines import wire
from pipelines.log_records import DeadLetter, Log

Fields = tuple
# A chunk that falls back is tried again in parts this long, then line by line.
FALLBACK_LINES = 256


class _Fallback(Exception):
  """Internal: the chunk goes to the per-line parser."""


def _child(struct: pa.StructArray, key: str) -> pa.Array | None:
  """A struct's field as an array (nulls where the struct is null), or None."""
  index = struct.type.get_field_index(key)
  if index < 0:
    return None
  return pc.struct_field(struct, [index])  # StructArray.field ignores the nulls.


def _required(array: pa.Array | None) -> pa.Array:
  if array is None or array.null_count:
    raise _Fallback  # Absent and null read alike here, and differ in the contract.
  return array


def _ids(array: pa.Array | None) -> list[str]:
  """An impression-scope id: non-empty strings, or integers as decimal strings."""
  array = _required(array)
  if pa.types.is_string(array.type):
    if pc.any(pc.equal(pc.binary_length(array), 0)).as_py():
      raise _Fallback
    return array.to_pylist()
  if pa.types.is_int64(array.type):
    return [str(v) for v in array.to_pylist()]
  raise _Fallback


def _tokens(array: pa.Array) -> list[str | None]:
  """A categorical column: strings, integers, or booleans as "true"/"false"; None
  where null."""
  kind = array.type
  if pa.types.is_string(kind):
    return array.to_pylist()
  if pa.types.is_int64(kind):
    return [None if v is None else str(v) for v in array.to_pylist()]
  if pa.types.is_boolean(kind):
    return [None if v is None else ("true" if v else "false")
            for v in array.to_pylist()]
  if pa.types.is_null(kind):
    return array.to_pylist()
  raise _Fallback


def _numbers(array: pa.Array, integer: bool,
             bounds: tuple[float, float] | None) -> list[int | float | None]:
  """A numeric column checked as the per-line readers check each value."""
  kind = array.type
  if pa.types.is_null(kind):
    return array.to_pylist()
  if not (pa.types.is_int64(kind) or (not integer and pa.types.is_floating(kind))):
    raise _Fallback
  if pa.types.is_floating(kind):
    present = array.drop_null().to_numpy()
    # Arrow reads JSON's NaN, and -0 beside floats as -0.0: the per-line reader
    # rejects the first and reads the second as 0.0.
    if not np.isfinite(present).all() or np.signbit(present[present == 0]).any():
      raise _Fallback
  if bounds is not None and len(array) > array.null_count:
    low, high = pc.min_max(array).as_py().values()
    if low < bounds[0] or high > bounds[1]:
      raise _Fallback
  listed = array.to_pylist()
  if integer:
    return listed
  return [None if v is None else float(v) for v in listed]


def _timestamps(array: pa.Array | None) -> list[int]:
  return _numbers(_required(array), True,
                  (log_contract.MIN_TS_MS, log_contract.MAX_TS_MS - 1))


def _feature_column(feature: spec_lib.Feature, missing: collections.Counter
                    ) -> Callable[[pa.StructArray], list[Any]]:
  """(records -> the feature's values), as `log_records._reader` reads them."""
  scope, keys = spec_lib.source_path(feature.source)
  if feature.dtype is spec_lib.DType.STRING:
    convert = _tokens
  elif feature.kind is spec_lib.Kind.METADATA:
    convert = _timestamps
  else:
    convert = functools.partial(
        _numbers, integer=feature.dtype is spec_lib.DType.INT64, bounds=feature.bounds)
  if scope == log_contract.IMPRESSION_SCOPE:
    def read_required(records: pa.StructArray) -> list[Any]:
      values = convert(_required(_child(records, keys[0])))
      if feature.dtype is spec_lib.DType.STRING and "" in values:
        raise _Fallback  # An empty impression-scope id is a wrong_type.
      return values
    return read_required

  name, default, required = feature.name, feature.parse_default, feature.required

  def read_optional(records: pa.StructArray) -> list[Any]:
    array = _child(records, scope)
    for key in keys:
      if array is None or pa.types.is_null(array.type):
        array = None
        break
      if not pa.types.is_struct(array.type):
        raise _Fallback
      array = _child(array, key)
    if array is None:
      values, lacking = [None] * len(records), range(len(records))
    else:
      values, lacking = convert(array), _lacking(array)
    if lacking:
      if required:
        raise _Fallback
      missing[name] += len(lacking)
      values = list(values)
      for i in lacking:
        values[i] = default
    return values
  return read_optional


def _lacking(array: pa.Array) -> list[int]:
  """Where a column's converted values are None or "" (the per-line readers'
  missing): its nulls, and its empty strings."""
  lacking = pc.is_null(array)
  if pa.types.is_string(array.type):
    lacking = pc.or_(lacking, pc.fill_null(pc.equal(array, ""), False))
  if not lacking.true_count:
    return []
  return np.flatnonzero(lacking.to_numpy(zero_copy_only=False)).tolist()


def _read_table(lines: Sequence[bytes]) -> pa.StructArray:
  """The lines as one struct array, a row per line, or _Fallback."""
  if not all(line.strip() for line in lines):
    raise _Fallback  # Arrow skips blank lines.
  data = b"\n".join(lines)
  try:
    data.decode("utf-8")  # Arrow keeps invalid UTF-8 inside strings.
    table = pa_json.read_json(
        pa.BufferReader(data),
        read_options=pa_json.ReadOptions(use_threads=False,
                                          block_size=len(data) + 1))
  except (pa.ArrowException, ValueError) as e:  # Arrow's, and not UTF-8.
    raise _Fallback from e
  if table.num_rows != len(lines):
    raise _Fallback  # Two objects on one line read as two rows.
  if not table.num_columns:
    raise _Fallback
  return pa.StructArray.from_arrays([c.combine_chunks() for c in table.columns],
                                    names=table.column_names)


class ColumnarParser:
  """Parses chunks of one log's lines; call with (lines, source).

  `coverage` counts the valid impressions as the per-line parser's does (the caller
  reads and resets it).
  """

  def __init__(self, log: Log, spec: spec_lib.FeatureSpec):
    self._log = log
    self._lines = log_records.LogParser.for_log(log, spec)
    self.coverage = self._lines.coverage
    self._missing: collections.Counter = collections.Counter()
    self._features = [_feature_column(f, self._missing) for f in spec.logged()]
    self._user_index = [f.name for f in spec.logged()].index(spec.user_feature)
    self._declared = {scope: frozenset(
        keys[0] for s, keys in map(spec_lib.source_path,
                                   (f.source for f in spec.logged())) if s == scope)
                      for scope in log_contract.LOGGED_OBJECTS}
    self._event_names = spec.event_field_names()
    self._events = {event.name: {field.name: field for field in event.fields}
                    for event in spec.events.values()}

  def __call__(self, lines: Sequence[bytes], source: str
               ) -> list[Fields | DeadLetter]:
    """The lines' records as wire fields, or DeadLetters (detail without the line
    number, as the per-line parser gives them), in line order.

    A chunk that falls back is tried again in parts of `FALLBACK_LINES`, once, so
    a rare bad line costs its part the per-line parser, not the whole chunk (where
    bad lines are dense, retrying smaller parts costs more than it saves).
    """
    try:
      records = _read_table(lines)
      if self._log is Log.IMPRESSIONS:
        return self._impressions(records, source)
      if self._log is Log.CLICKS:
        return self._clicks(records, source)
      return self._details(records, source)
    except _Fallback:
      if len(lines) <= FALLBACK_LINES:
        return [self._line(line, source) for line in lines]
      return [record for start in range(0, len(lines), FALLBACK_LINES)
              for record in self(lines[start:start + FALLBACK_LINES], source)]

  def _line(self, line: bytes, source: str) -> Fields | DeadLetter:
    record = self._lines(line, source)
    if isinstance(record, DeadLetter):
      return record
    if self._log is Log.IMPRESSIONS:
      return wire.impression_fields(record)
    return tuple(record)

  def _impressions(self, records: pa.StructArray, source: str) -> list[Fields]:
    objects = [_required(_child(records, scope))
               for scope in log_contract.LOGGED_OBJECTS]
    if not all(pa.types.is_struct(o.type) for o in objects):
      raise _Fallback
    undeclared = collections.Counter()
    for scope, array in zip(log_contract.LOGGED_OBJECTS, objects):
      for field in array.type:
        if field.name not in self._declared[scope]:
          if array.field(field.name).null_count:
            raise _Fallback  # Present as null, or absent: counted only if present.
          undeclared[f"{scope}.{field.name}"] += len(array)
    self._missing.clear()
    columns = [read(records) for read in self._features]
    ids = _ids(_child(records, log_contract.IMPRESSION_ID))
    timestamps = _timestamps(_child(records, log_contract.TS_MS))
    # Counted once the chunk is valid, as the per-line parser counts valid records.
    self.coverage.parsed += len(ids)
    self.coverage.missing.update(self._missing)
    self.coverage.undeclared.update(undeclared)
    values = list(zip(*columns))
    users = columns[self._user_index]
    return [(i, u, t, v, source) for i, u, t, v in zip(ids, users, timestamps, values)]

  def _clicks(self, records: pa.StructArray, source: str) -> list[Fields]:
    ids = _ids(_child(records, log_contract.IMPRESSION_ID))
    timestamps = _timestamps(_child(records, log_contract.TS_MS))
    return [(i, t, source) for i, t in zip(ids, timestamps)]

  def _details(self, records: pa.StructArray, source: str) -> list[Fields]:
    ids = _ids(_child(records, log_contract.IMPRESSION_ID))
    timestamps = _timestamps(_child(records, log_contract.TS_MS))
    events = _required(_child(records, log_contract.EVENT))
    if not pa.types.is_string(events.type):
      raise _Fallback
    events = events.to_pylist()
    if not set(events) <= self._events.keys():
      raise _Fallback
    columns = [self._event_field(name, records, events) for name in self._event_names]
    fields = list(zip(*columns)) if columns else [()] * len(ids)
    return [(i, t, e, f, source) for i, t, e, f in zip(ids, timestamps, events, fields)]

  def _event_field(self, name: str, records: pa.StructArray, events: list[str]
                   ) -> list[int | float]:
    """One of `event_field_names` per record: read where the record's event declares
    it, 0 elsewhere (as `log_records._event_readers`)."""
    declaring = {e: own[name] for e, own in self._events.items() if name in own}
    uses = np.fromiter((e in declaring for e in events), bool, len(events))
    if not uses.any():
      return [0] * len(events)
    array = _child(records, name)
    if array is None:
      raise _Fallback
    dtypes = {f.dtype for f in declaring.values()}
    bounds = {f.bounds for f in declaring.values()}
    if len(dtypes) > 1 or len(bounds) > 1:
      raise _Fallback  # Events that read one name differently: line by line.
    used = array.filter(pa.array(uses))
    if used.null_count:
      raise _Fallback
    values = _numbers(used, dtypes.pop() is spec_lib.DType.INT64, bounds.pop())
    out: list[int | float] = [0] * len(events)
    for i, v in zip(np.flatnonzero(uses).tolist(), values):
      out[i] = v
    return out
