"""Mode pfd_permuted's control: the teacher reads the privileged rows of other
examples of its batch, their marginals kept, their link to the example and its label
cut."""

from __future__ import annotations

from typing import Mapping, Sequence

import tensorflow as tf


def batch_rows(value: tf.Tensor | tf.RaggedTensor) -> tf.Tensor:
  """[] int32: the batch size of one feature."""
  if isinstance(value, tf.RaggedTensor):
    return value.nrows(out_type=tf.int32)
  return tf.shape(value)[0]


def shift_rows(features: Mapping[str, tf.Tensor | tf.RaggedTensor],
               names: Sequence[str], offset: tf.Tensor
               ) -> dict[str, tf.Tensor | tf.RaggedTensor]:
  """`features` with the rows of each of `names` taken `offset` rows further down the
  batch, cyclically: row i reads row (i + offset) mod batch_size.

  One offset for every named feature, so the rows move together: an example's
  privileged values stay one coherent vector (another example's), only their link
  to this example and its label is cut. An offset in [1, batch_size - 1] leaves no
  row its own value (a derangement), which a uniform permutation would not.

  Args:
    features: The batch, `[batch_size, ...]` tensors or `[batch_size, None]` ragged.
    names: The features to shift (others are passed through as they are).
    offset: [] int32.
  """
  if not names:
    return dict(features)
  rows = batch_rows(features[names[0]])
  index = tf.math.floormod(tf.range(rows) + offset, rows)
  return {name: tf.gather(value, index) if name in names else value
          for name, value in features.items()}


def derange_rows(features: Mapping[str, tf.Tensor | tf.RaggedTensor],
                 names: Sequence[str]) -> dict[str, tf.Tensor | tf.RaggedTensor]:
  """`shift_rows` by one random offset in [1, batch_size - 1], drawn per call: no row
  keeps its own values of `names` (but in a batch of one example, which cannot be
  deranged). `names` must not be empty."""
  rows = batch_rows(features[names[0]])
  offset = 1 + tf.random.uniform([], 0, tf.maximum(rows - 1, 1), dtype=tf.int32)
  return shift_rows(features, names, offset)
