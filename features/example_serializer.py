"""Example dicts -> serialized tf.train.Example, driven by the feature spec.

The Beam job serializes with `ExampleSerializer`; training, evaluation and serving
parse with `features.example_parser`. Every feature is written in every example
(scalars with their default when absent), which is also what tensorflow-datasets'
readers expect.

No TensorFlow here: the messages are tensorflow-datasets' copy of TensorFlow's
`feature.proto` (`tensorflow_datasets.proto.tf_feature_pb2`, what tfds itself
serializes with), the same fields on the wire. The join job's workers import this
module and nothing else of TensorFlow's: importing TensorFlow cost each process ~5 s
of CPU, and its interpreter ~1 s more to exit.
"""

from __future__ import annotations

import functools
import math
import struct
from typing import Any, Hashable, Mapping, NamedTuple

from tensorflow_datasets.proto import tf_feature_pb2

from features import spec as spec_lib


class _Slot(NamedTuple):
  """How one feature is written: precomputed once per spec (see `_encoding_plan`)."""
  name: str
  is_sequence: bool
  max_length: int | None
  default: Any
  is_string: bool
  list_field: str  # bytes_list / int64_list / float_list


_LIST_FIELDS = {spec_lib.DType.STRING: "bytes_list", spec_lib.DType.INT64: "int64_list",
                spec_lib.DType.FLOAT32: "float_list"}
_EXAMPLE_FEATURES_TAG = b"\x0a"  # tf.train.Example.features: field 1, length-delimited.


@functools.lru_cache(maxsize=8)
def _encoding_plan(spec: spec_lib.FeatureSpec) -> tuple[frozenset[str], list[_Slot]]:
  slots = [_Slot(f.name, f.is_sequence, f.max_length, f.parse_default,
                 f.dtype is spec_lib.DType.STRING, _LIST_FIELDS[f.dtype])
           for f in spec]
  return frozenset(spec.names), slots


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
_SHORT = [bytes((n,)) for n in range(0x80)]  # Varints of one byte.


def _one_scalar(slot: _Slot, value: Any) -> bytes | None:
  """`_one_feature` of one scalar, its bytes written here: a value not cached is
  written once per example that has it (ids, timestamps), and protobuf's message
  objects cost twice as much. None for a value of another type or out of range,
  which protobuf then encodes (or refuses) itself."""
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
  values = b"\x0a" + _length_prefixed(payload)
  feature = _LIST_TAGS[slot.list_field] + _length_prefixed(values)
  entry = (b"\x0a" + _length_prefixed(slot.name.encode("utf-8")) + b"\x12"
           + _length_prefixed(feature))
  return b"\x0a" + _length_prefixed(entry)


def _length_prefixed(data: bytes) -> bytes:
  n = len(data)
  return (_SHORT[n] if n < 0x80 else _varint(n)) + data


def _varint(n: int) -> bytes:
  """Protobuf's base-128 varint (of a non-negative int)."""
  out = bytearray()
  while n > 0x7F:
    out.append((n & 0x7F) | 0x80)
    n >>= 7
  out.append(n)
  return bytes(out)


class ExampleSerializer:
  """Example dicts -> serialized tf.train.Example, every feature of the spec in each.

  The Beam job serializes every example, and building each one as a message cost
  ~80 us (25 features, ~2 upb calls each). Protobuf parses concatenated messages as
  their merge, and map entries merge by key, so an Example's `Features` is the
  concatenation of one-feature `Features` messages, each serialized by protobuf
  itself or, for one scalar, written here as protobuf writes it (`_one_scalar`).
  Most of those pieces repeat from example to example (a user's features
  across the user's impressions, an item's across its impressions, the behaviour
  sequences between two clicks), so each feature caches its pieces by value; a cache
  is emptied when it reaches `cache_size` values, which bounds memory and lets the
  values of the moment (the popular items, this user) come back in. The other framing
  written here is the Example's one field tag and length.
  """

  def __init__(self, spec: spec_lib.FeatureSpec, cache_size: int = 4096):
    if cache_size < 1:
      raise ValueError(f"cache_size must be >= 1, got {cache_size}.")
    self._names, slots = _encoding_plan(spec)
    self._cache_size = cache_size
    # (name, default or max length, its cache, slot): the loops below are the job's
    # hottest, and unpacking a tuple is cheaper than reading a NamedTuple's fields.
    # Scalars are written first, then sequences: the order of a map's entries does
    # not matter to a parser.
    self._scalars = [(slot.name, slot.default, {}, slot) for slot in slots
                     if not slot.is_sequence]
    self._sequences = [(slot.name, slot.max_length, {}, slot) for slot in slots
                       if slot.is_sequence]

  def __call__(self, values: Mapping[str, Any]) -> bytes:
    """Serializes `values` (feature name -> a scalar, or a list for sequences).

    Missing names take the feature's default (an empty list for sequences); unknown
    names are rejected so typos cannot vanish.
    """
    if not values.keys() <= self._names:
      raise ValueError(f"Values for features not in the spec: "
                       f"{sorted(values.keys() - self._names)}.")
    get = values.get
    pieces = []
    append = pieces.append
    for name, default, cache, slot in self._scalars:
      key = get(name)
      if key is None:
        key = default
      piece = cache.get(key)
      append(piece if piece is not None else self._new_piece(slot, cache, key))
    for name, max_length, cache, slot in self._sequences:
      key = get(name)
      key = tuple(key[:max_length]) if key else ()  # As written: truncated.
      piece = cache.get(key)
      append(piece if piece is not None else self._new_piece(slot, cache, key))
    features = b"".join(pieces)
    return _EXAMPLE_FEATURES_TAG + _varint(len(features)) + features

  def _new_piece(self, slot: _Slot, cache: dict[Hashable, bytes], key: Hashable
                 ) -> bytes:
    piece = _one_feature(slot, key)
    if len(cache) >= self._cache_size:
      cache.clear()
    cache[key] = piece
    return piece
