"""tf.train.Example encoding and parsing, both driven by the feature spec.

The Beam job encodes with `encode`; training, evaluation and serving parse with
`parse_batch`, so a feature's storage is decided in exactly one place. Every feature is
written in every example (scalars with their default when absent), which is also what
tensorflow-datasets' readers expect.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import tensorflow as tf

from features import spec as spec_lib

_TF_DTYPES = {
    spec_lib.DType.STRING: tf.string,
    spec_lib.DType.INT64: tf.int64,
    spec_lib.DType.FLOAT32: tf.float32,
}


def tf_dtype(feature: spec_lib.Feature) -> tf.dtypes.DType:
  return _TF_DTYPES[feature.dtype]


def _value_list(example: tf.train.Example, feature: spec_lib.Feature):
  """The Example's repeated field that holds `feature`'s values."""
  slot = example.features.feature[feature.name]
  if feature.dtype is spec_lib.DType.STRING:
    return slot.bytes_list.value
  if feature.dtype is spec_lib.DType.INT64:
    return slot.int64_list.value
  return slot.float_list.value


def encode(values: Mapping[str, Any], spec: spec_lib.FeatureSpec) -> tf.train.Example:
  """Builds an Example holding every feature of `spec`.

  Args:
    values: Feature name -> a scalar, or a list for sequence features. Missing names
      take the feature's default (an empty list for sequences).
    spec: The feature spec.

  Returns:
    The Example; unknown keys of `values` are rejected so typos cannot vanish.
  """
  unknown = values.keys() - set(spec.names)
  if unknown:
    raise ValueError(f"Values for features not in the spec: {sorted(unknown)}.")
  example = tf.train.Example()
  for feature in spec:
    value = values.get(feature.name)
    if feature.is_sequence:
      value = list(value or ())[:feature.max_length]
    else:
      value = [feature.parse_default if value is None else value]
    if feature.dtype is spec_lib.DType.STRING:
      value = [v.encode("utf-8") if isinstance(v, str) else v for v in value]
    # Appending into the message in place is several times faster than building
    # Feature messages and copying them in.
    _value_list(example, feature).extend(value)
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
