"""tf.train.Example encoding and parsing, both driven by the feature spec.

The Beam job encodes with `encode`; training, evaluation and serving parse with
`parse_batch`, so a feature's storage is decided in exactly one place. Every feature is
written in every example (scalars with their default when absent), which is also what
tensorflow-datasets' readers expect.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Mapping, NamedTuple

import tensorflow as tf

from features import spec as spec_lib

_TF_DTYPES = {
    spec_lib.DType.STRING: tf.string,
    spec_lib.DType.INT64: tf.int64,
    spec_lib.DType.FLOAT32: tf.float32,
}


def tf_dtype(feature: spec_lib.Feature) -> tf.dtypes.DType:
  return _TF_DTYPES[feature.dtype]


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


@functools.lru_cache(maxsize=8)
def _encoding_plan(spec: spec_lib.FeatureSpec) -> tuple[frozenset[str], list[_Slot]]:
  slots = [_Slot(f.name, f.is_sequence, f.max_length, f.parse_default,
                 f.dtype is spec_lib.DType.STRING, _LIST_FIELDS[f.dtype])
           for f in spec]
  return frozenset(spec.names), slots


def encode(values: Mapping[str, Any], spec: spec_lib.FeatureSpec) -> tf.train.Example:
  """Builds an Example holding every feature of `spec`.

  Args:
    values: Feature name -> a scalar, or a list for sequence features. Missing names
      take the feature's default (an empty list for sequences).
    spec: The feature spec.

  Returns:
    The Example; unknown keys of `values` are rejected so typos cannot vanish.
  """
  names, slots = _encoding_plan(spec)
  unknown = values.keys() - names
  if unknown:
    raise ValueError(f"Values for features not in the spec: {sorted(unknown)}.")
  example = tf.train.Example()
  feature_map = example.features.feature
  for slot in slots:
    value = values.get(slot.name)
    if slot.is_sequence:
      value = list(value or ())[:slot.max_length]
    else:
      value = [slot.default if value is None else value]
    if slot.is_string:
      value = [v.encode("utf-8") if isinstance(v, str) else v for v in value]
    # Appending into the message in place is faster than building Feature messages
    # and copying them in (the job encodes every example: this is its hot loop).
    getattr(feature_map[slot.name], slot.list_field).value.extend(value)
  return example


def parsing_spec(features: Iterable[spec_lib.Feature]) -> dict[str, Any]:
  """The `tf.io.parse_example` spec: scalars dense with defaults, sequences ragged."""
  parsing = {}
  for feature in features:
    if feature.is_sequence:
      parsing[feature.name] = tf.io.RaggedFeature(dtype=tf_dtype(feature),
                                                  row_splits_dtype=tf.int64)
    else:
      parsing[feature.name] = tf.io.FixedLenFeature(
          shape=[], dtype=tf_dtype(feature), default_value=feature.parse_default)
  return parsing


def parse_batch(serialized: tf.Tensor,
                features: Iterable[spec_lib.Feature]) -> dict[str, tf.Tensor]:
  """Parses a batch of serialized Examples.

  Args:
    serialized: `[batch_size]` tf.string.
    features: The features to read (e.g. a task's regular ones at serving time).

  Returns:
    Feature name -> `[batch_size]` dense tensor, or `[batch_size, None]` RaggedTensor
    for sequence features.
  """
  return tf.io.parse_example(serialized, parsing_spec(features))
