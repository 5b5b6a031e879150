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


def _tf_feature(feature: spec_lib.Feature, values: Sequence[Any]) -> tf.train.Feature:
  if feature.dtype is spec_lib.DType.STRING:
    return tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[v.encode("utf-8") if isinstance(v, str) else v for v in values]))
  if feature.dtype is spec_lib.DType.INT64:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
  return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def encode(values: Mapping[str, Any], spec: spec_lib.FeatureSpec) -> tf.train.Example:
  """Builds an Example holding every feature of `spec`.

  Args:
    values: Feature name -> a scalar, or a list for sequence features. Missing names
      take the feature's default (an empty list for sequences).
    spec: The feature spec.

  Returns:
    The Example; unknown keys of `values` are rejected so typos cannot vanish.
  """
  unknown = set(values) - set(spec.names)
  if unknown:
    raise ValueError(f"Values for features not in the spec: {sorted(unknown)}.")
  features = {}
  for feature in spec:
    value = values.get(feature.name)
    if feature.is_sequence:
      value = list(value or ())[:feature.max_length]
    else:
      value = [feature.parse_default if value is None else value]
    features[feature.name] = _tf_feature(feature, value)
  return tf.train.Example(features=tf.train.Features(feature=features))


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
