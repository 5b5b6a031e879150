"""Example dicts -> serialized tf.train.Example, driven by the feature spec.

The Beam job serializes with `ExampleSerializer`; training, evaluation and serving
parse with `features.example_parser`. Every feature is written in every example
(scalars with their default when absent), which is also what tensorflow-datasets'
readers expect.

No TensorFlow here: the messages are tensorflow-datasets' copy of TensorFlow's
`feature.proto` (`tensorflow_datasets.proto.tf_feature_pb2`, what tfds itself
serializes with), the same fields on the wire. The join job's workers import this
module and nothing else of TensorFlow's: importing TensorFlow would cost each worker
seconds of CPU to start and to exit.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import struct
from typing import Any, Hashable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from tensorflow_datasets.proto import tf_feature_pb2

from features import example_columns
from features import spec as spec_lib


class _Slot(NamedTuple):
  """How one feature is written: precomputed once per spec."""
  name: str
  is_sequence: bool
  max_length: int | None
  default: Any
  is_string: bool
  list_field: str  # bytes_list / int64_list / float_list


_LIST_FIELDS = {spec_lib.DType.STRING: "bytes_list", spec_lib.DType.INT64: "int64_list",
                spec_lib.DType.FLOAT32: "float_list"}
_EXAMPLE_FEATURES_TAG = b"\x0a"  # tf.train.Example.features: field 1, length-delimited.


def _slot(feature: spec_lib.Feature) -> _Slot:
  return _Slot(feature.name, feature.is_sequence, feature.max_length,
               feature.parse_default, feature.dtype is spec_lib.DType.STRING,
               _LIST_FIELDS[feature.dtype])


def _one_feature(slot: _Slot, key: Hashable) -> bytes:
  """A serialized `tf.train.Features` holding this one feature (protobuf's own
  encoding: see `ExampleSerializer`)."""
  if not slot.is_sequence:
    piece = _one_scalar(slot, key)
    if piece is not None:
      return piece
  values = list(key) if slot.is_sequence else [key]
  if slot.is_string:
    values = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
  features = tf_feature_pb2.Features()
  getattr(features.feature[slot.name], slot.list_field).value.extend(values)
  return features.SerializeToString()


# The wire bytes protobuf writes for a one-value list of each kind: Feature's field
# (bytes_list 1, float_list 2, int64_list 3) and its list's one field, both
# length-delimited (the numeric lists packed).
_LIST_TAGS = {"bytes_list": b"\x0a", "float_list": b"\x12", "int64_list": b"\x1a"}
_FLOAT32 = struct.Struct("<f")


def _one_scalar(slot: _Slot, value: Any) -> bytes | None:
  """`_one_feature` of one scalar, its bytes written here (protobuf's message objects
  cost twice as much). None for a value of another type or out of range, which
  protobuf then encodes (or refuses) itself."""
  kind = type(value)
  if slot.list_field == "bytes_list":
    if kind is str:
      value = value.encode("utf-8")
    elif kind is not bytes:
      return None
    payload = value
  elif slot.list_field == "int64_list":
    if kind is not int or not -(1 << 63) <= value < (1 << 63):
      return None
    payload = _varint(value & 0xFFFFFFFFFFFFFFFF)
  else:
    if kind is not float and kind is not int:
      return None
    try:
      payload = _FLOAT32.pack(value)
    except OverflowError:
      return None
    if not math.isfinite(value):
      return None
  return _framing(slot, len(payload)) + payload


@functools.lru_cache(maxsize=4096)
def _framing(slot: _Slot, payload_length: int) -> bytes:
  """The bytes before a one-value piece's payload (its encoded value): every length
  in them is a function of the payload's."""
  values_length = 1 + _varint_length(payload_length) + payload_length
  feature_length = 1 + _varint_length(values_length) + values_length
  name = slot.name.encode("utf-8")
  entry = b"\x0a" + _varint(len(name)) + name + b"\x12" + _varint(feature_length)
  entry_length = len(entry) + feature_length
  return (b"\x0a" + _varint(entry_length) + entry + _LIST_TAGS[slot.list_field]
          + _varint(values_length) + b"\x0a" + _varint(payload_length))


def _varint_length(n: int) -> int:
  return max(1, (n.bit_length() + 6) // 7)


def _varint(n: int) -> bytes:
  """Protobuf's base-128 varint (of a non-negative int)."""
  out = bytearray()
  while n > 0x7F:
    out.append((n & 0x7F) | 0x80)
    n >>= 7
  out.append(n)
  return bytes(out)


_PACKED_LISTS = {"int64_list": tf_feature_pb2.Int64List,
                 "float_list": tf_feature_pb2.FloatList}
_COLUMN_TYPES = {"bytes_list": {str}, "int64_list": {int}, "float_list": {float}}


def _payloads(slot: _Slot, values: list[Any]) -> list[bytes] | None:
  """Each scalar's encoded value, for values all of the feature's own Python type:
  UTF-8 for strings; for numbers, protobuf's packed list of them all, cut at its
  values' ends (a varint's last byte is below 0x80, a float is 4 bytes). None for
  other values (bytes, an int for a float, a bool, a numpy scalar): those take
  `_one_feature` one by one."""
  if set(map(type, values)) != _COLUMN_TYPES[slot.list_field]:
    return None
  if slot.is_string:
    return list(map(str.encode, values))
  packed = _PACKED_LISTS[slot.list_field](value=values).SerializeToString()
  if slot.list_field == "float_list":
    return np.frombuffer(packed, "V4", offset=len(packed) - 4 * len(values)).tolist()
  # The first two ends are the list's tag and its length's varint.
  ends = (np.flatnonzero(np.frombuffer(packed, np.uint8) < 0x80) + 1)[1:].tolist()
  return [packed[start:end] for start, end in zip(ends, ends[1:])]


def _scalar_pieces(slot: _Slot, values: list[Any]) -> list[bytes]:
  """`_one_feature` of each of `values` (scalars), encoded together."""
  payloads = _payloads(slot, values)
  if payloads is None:
    return [_one_feature(slot, value) for value in values]
  lengths = list(map(len, payloads))
  framing = {n: _framing(slot, n) for n in set(lengths)}
  return list(map(bytes.__add__, map(framing.__getitem__, lengths), payloads))


class ExampleSerializer:
  """Example dicts -> serialized tf.train.Example, every feature of the spec in each.

  Protobuf parses concatenated messages as their merge, and map entries merge by
  key, so an Example's `Features` is the concatenation of one-feature `Features`
  messages (pieces), each serialized by protobuf itself or, for a scalar, written
  here as protobuf writes it; building each Example as a message would take two
  upb calls per feature. A list of examples is serialized feature by feature
  (`example_columns`), so the per-value work is C's (dict lookups, `map`, joins).
  Most pieces repeat from example to example (a user's features across the user's
  impressions, an item's across its impressions, the behaviour sequences between
  two clicks), so each feature caches its pieces by value (equal values share one:
  -0.0 is written as 0.0 when 0.0 came first); a cache is emptied when it would
  pass `cache_size` values, which bounds memory and lets the values of the moment
  (the popular items, this user) come back in. The other framing written here is
  the Example's one field tag and length.
  """

  def __init__(self, spec: spec_lib.FeatureSpec, cache_size: int = 4096):
    if cache_size < 1:
      raise ValueError(f"cache_size must be >= 1, got {cache_size}.")
    self._names = tuple(spec.names)
    self._cache_size = cache_size
    # (index in the spec, slot, its cache or None). Metadata (ids, timestamps) is
    # (nearly) unique per example: not cached. Scalars are written first, then
    # sequences: the order of a map's entries does not matter to a parser.
    features = [(i, _slot(f), None if f.kind is spec_lib.Kind.METADATA else {})
                for i, f in enumerate(spec)]
    self._features = sorted(features, key=lambda feature: feature[1].is_sequence)

  def __call__(self, values: Mapping[str, Any]) -> bytes:
    """Serializes one example (see `serialize_batch`)."""
    return self.serialize_batch([values])[0]

  def serialize_batch(self, examples: Sequence[Mapping[str, Any]]) -> list[bytes]:
    """Serializes each of `examples` (feature name -> a scalar, or a list for
    sequences).

    Missing names take the feature's default (an empty list for sequences); unknown
    names are rejected so typos cannot vanish.
    """
    columns = example_columns.columns(self._names, examples)
    pieces = [self._pieces(slot, cache, columns[i])
              for i, slot, cache in self._features]
    features = list(map(b"".join, zip(*pieces)))
    lengths = list(map(len, features))
    tags = {n: _EXAMPLE_FEATURES_TAG + _varint(n) for n in set(lengths)}
    return list(map(bytes.__add__, map(tags.__getitem__, lengths), features))

  def _pieces(self, slot: _Slot, cache: dict[Hashable, bytes] | None,
              column: Sequence[Any]) -> list[bytes]:
    """Each value's piece; a sequence's piece is found once per list object (the
    examples between two clicks share theirs)."""
    if not slot.is_sequence:
      return self._cached(slot, cache, column)
    lists = dict(zip(map(id, column), column))
    # As written: truncated.
    keys = [tuple(v[:slot.max_length]) if v else () for v in lists.values()]
    by_list = dict(zip(lists, self._cached(slot, cache, keys)))
    return list(map(by_list.__getitem__, map(id, column)))

  def _cached(self, slot: _Slot, cache: dict[Hashable, bytes] | None,
              keys: Sequence[Hashable]) -> list[bytes]:
    """The pieces of `keys` (None: a missing scalar, written as its default), the
    ones not in `cache` built together and cached."""
    if cache is None:
      return list(map(_built(slot, keys).__getitem__, keys))
    pieces = list(map(cache.get, keys))
    if all(pieces):  # Every key cached (a piece is never empty).
      return pieces
    fresh = _built(slot, itertools.compress(keys, map(operator.not_, pieces)))
    if len(cache) + len(fresh) > self._cache_size:
      cache.clear()
    cache.update(fresh)
    return list(map(fresh.get, keys, pieces))


def _built(slot: _Slot, keys: Iterable[Hashable]) -> dict[Hashable, bytes]:
  """Each distinct key's piece."""
  distinct = list(dict.fromkeys(keys))
  if slot.is_sequence:
    return {key: _one_feature(slot, key) for key in distinct}
  values = [slot.default if key is None else key for key in distinct]
  return dict(zip(distinct, _scalar_pieces(slot, values)))
