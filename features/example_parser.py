"""Serialized tf.train.Example -> tensors, driven by the feature spec.

Training, evaluation and serving parse with `parse_batch` what the Beam job wrote with
`features.example_serializer.ExampleSerializer`: scalars are dense (every example
holds them), sequences ragged.
"""

from __future__ import annotations

from typing import Any, Iterable

import tensorflow as tf

from features import spec as spec_lib

_TF_DTYPES = {
    spec_lib.DType.STRING: tf.string,
    spec_lib.DType.INT64: tf.int64,
    spec_lib.DType.FLOAT32: tf.float32,
}


def tf_dtype(feature: spec_lib.Feature) -> tf.dtypes.DType:
  return _TF_DTYPES[feature.dtype]


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
