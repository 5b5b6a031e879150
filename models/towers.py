"""Layers the teacher and student are built from: encoders, attention pooling, MLPs.

`FeatureEncoder` turns the raw feature dict of the input pipeline into one dense vector
per example, reading only the features it was given: the student's encoder is given the
task's regular features and so cannot see a privileged input, whatever the batch holds.
Embedding tables are passed in, which is how the teacher and student share them.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf
import tensorflow_recommenders as tfrs

from features import spec as spec_lib
from models import embeddings


class AttentionPooling(tf.keras.layers.Layer):
  """Pools a behaviour sequence against the target item (DIN-style, dot product).

  A user's recent clicks matter in proportion to their similarity with the item being
  scored; a mean over the sequence would blur that.
  """

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self._project = None

  def build(self, input_shape):
    query_dim = input_shape[0][-1]
    self._project = tf.keras.layers.Dense(query_dim, use_bias=False,
                                          name="key_projection")
    self._project.build([None, query_dim])

  def call(self, inputs):
    """Args: (query [batch, d], keys [batch, max_len, d], mask [batch, max_len] bool,
    as `pad` gives them) -> [batch, d]."""
    query, dense_keys, mask = inputs
    # score = <q, k W> = <q W^T, k>: projecting the one query instead of every key
    # costs 1/max_len of the FLOPs (the sequence is 50 long), same weights, same scores.
    query = tf.linalg.matmul(query, self._project.kernel, transpose_b=True)
    # Matrix-vector products: einsum (and broadcast products and sums) over these
    # small per-example matrices cost 1.5-2x as much on a CPU, forward and backward.
    scores = tf.linalg.matvec(dense_keys, query)
    scores /= tf.sqrt(tf.cast(tf.shape(query)[-1], scores.dtype))
    scores = tf.where(mask, scores, tf.fill(tf.shape(scores), scores.dtype.min))
    weights = tf.nn.softmax(scores) * tf.cast(mask, scores.dtype)  # Empty rows: 0.
    return tf.linalg.matvec(dense_keys, weights, transpose_a=True)


def pad(keys: tf.RaggedTensor) -> tuple[tf.Tensor, tf.Tensor]:
  """A ragged `[batch, None, d]` sequence as `[batch, max_len, d]` zeros-padded keys
  and their `[batch, max_len]` mask."""
  dense_keys = keys.to_tensor()
  return dense_keys, tf.sequence_mask(keys.row_lengths(), tf.shape(dense_keys)[1])


def signed_log1p(x: tf.Tensor) -> tf.Tensor:
  """Counts, dwell times and prices are heavy-tailed: compress them."""
  x = tf.cast(x, tf.float32)
  return tf.sign(x) * tf.math.log1p(tf.abs(x))


class FeatureEncoder(tf.keras.layers.Layer):
  """Raw features -> `[batch, width]`: embeddings, transformed numbers, pooled sequences.

  Args:
    features: The spec features this encoder may read (nothing else is touched).
    tables: Vocabulary name -> EmbeddingTable, for every vocabulary they use.
    spec: The full spec (to find a sequence's target feature).
  """

  def __init__(self, features: Sequence[spec_lib.Feature],
               tables: Mapping[str, embeddings.EmbeddingTable],
               spec: spec_lib.FeatureSpec, **kwargs):
    super().__init__(**kwargs)
    self.feature_names = [f.name for f in features]
    self._features = list(features)
    # Only the tables these features read: a layer tracks what it holds.
    self._tables = {f.vocabulary: tables[f.vocabulary] for f in features
                    if f.vocabulary is not None}
    self._spec = spec
    self._pooling = {}
    for f in self._features:
      if f.is_sequence and self._target(f) is not None:
        self._pooling[f.name] = AttentionPooling(name=f"attend_{f.name}")

  def _target(self, sequence: spec_lib.Feature) -> str | None:
    """The scalar feature a sequence is attended against: its vocabulary's owner."""
    owner = self._spec.vocabulary_settings(sequence.vocabulary).name
    return owner if owner in self.feature_names else None

  @staticmethod
  def _once(lookups: dict | None, key: tuple, compute: Callable[[], Any]) -> Any:
    """`compute()`, once per batch for every head when `lookups` is shared."""
    if lookups is None:
      return compute()
    if key not in lookups:
      lookups[key] = compute()
    return lookups[key]

  def _lookup(self, f: spec_lib.Feature, inputs, lookups: dict | None):
    """One feature's embeddings (a shared table read by both heads: one lookup)."""
    table = self._tables[f.vocabulary]
    return self._once(lookups, (table.name, f.name), lambda: table(inputs[f.name]))

  def _padded(self, f: spec_lib.Feature, inputs, lookups: dict | None):
    """A sequence's embeddings as padded keys and mask (`pad`), once per batch."""
    table = self._tables[f.vocabulary]
    return self._once(lookups, ("padded", table.name, f.name),
                      lambda: pad(self._lookup(f, inputs, lookups)))

  def call(self, inputs: Mapping[str, tf.Tensor], lookups: dict | None = None
           ) -> tf.Tensor:
    """Args: inputs, the batch; lookups, a per-batch cache both heads may share (an
    encoder read by both heads also encodes once per batch)."""
    return self._once(lookups, ("encoding", id(self)),
                      lambda: self._encode(inputs, lookups))

  def _encode(self, inputs: Mapping[str, tf.Tensor], lookups: dict | None
              ) -> tf.Tensor:
    parts, embedded = [], {}
    for f in self._features:
      if f.kind is spec_lib.Kind.CATEGORICAL:
        embedded[f.name] = self._lookup(f, inputs, lookups)
        parts.append(embedded[f.name])
      elif f.kind is spec_lib.Kind.NUMERIC:
        parts.append(signed_log1p(inputs[f.name])[:, tf.newaxis])
    for f in self._features:
      if f.is_sequence:
        target = self._target(f)
        if target is None:  # Mean pooling; an empty history gives zeros.
          keys = self._lookup(f, inputs, lookups)  # Ragged [b, None, d].
          lengths = tf.cast(keys.row_lengths(), tf.float32)[:, tf.newaxis]
          parts.append(tf.math.divide_no_nan(tf.reduce_sum(keys, axis=1), lengths))
        else:
          parts.append(self._pooling[f.name](
              (embedded[target], *self._padded(f, inputs, lookups))))
    return tf.concat(parts, axis=-1)


def relu_layers(hidden: Sequence[int]) -> list[tf.keras.layers.Layer]:
  """The hidden part of every MLP here: one ReLU Dense layer per width."""
  return [tf.keras.layers.Dense(width, activation="relu") for width in hidden]


class LogitTower(tf.keras.layers.Layer):
  """Optional DCN-v2 cross layers, then an MLP ending in one logit per example:
  `[batch, width]` -> `[batch]`.

  Cross layers (tensorflow-recommenders' `Cross`, stacked before the MLP as in DCN-v2)
  multiply features explicitly, which an MLP only approximates: a stronger teacher,
  for PFD+MD.
  """

  def __init__(self, hidden: Sequence[int], cross_layers: int = 0, **kwargs):
    super().__init__(**kwargs)
    self._crosses = [tfrs.layers.dcn.Cross(kernel_initializer="glorot_uniform",
                                           name=f"cross_{k}")
                     for k in range(cross_layers)]
    self._layers = relu_layers(hidden)
    self._logit = tf.keras.layers.Dense(1, name="logit")

  def call(self, x: tf.Tensor) -> tf.Tensor:
    x0 = x
    for cross in self._crosses:
      x = cross(x0, x)
    for layer in self._layers:
      x = layer(x)
    return tf.squeeze(self._logit(x), axis=-1)


class MlpHead(tf.keras.layers.Layer):
  """One head of the model (teacher or student): features -> encoder -> MLP -> logit.

  Args:
    features: The spec features this head may read.
    tables: Vocabulary name -> EmbeddingTable (shared tables are the same objects in
      both heads).
    spec: The full spec.
    hidden: MLP widths.
    cross_layers: DCN cross layers before the MLP (0: a plain MLP).
    shared_encoder: Another head's encoder whose encoding this head also reads (a
      teacher over the student's encoding of the regular features, `features` then
      being the privileged ones only): the teacher costs little more than its MLP.
  """

  def __init__(self, features: Sequence[spec_lib.Feature],
               tables: Mapping[str, embeddings.EmbeddingTable],
               spec: spec_lib.FeatureSpec, hidden: Sequence[int],
               cross_layers: int = 0, shared_encoder: FeatureEncoder | None = None,
               **kwargs):
    super().__init__(**kwargs)
    self.feature_names = [f.name for f in features] + (
        shared_encoder.feature_names if shared_encoder is not None else [])
    self.encoder = FeatureEncoder(features, tables, spec, name="encoder")
    self.shared_encoder = shared_encoder
    self.tower = LogitTower(hidden, cross_layers, name="tower")

  def call(self, inputs: Mapping[str, tf.Tensor], training: bool = False,
           lookups: dict | None = None) -> tf.Tensor:
    """`[batch]` logits; `lookups` is the per-batch embedding cache both heads share."""
    encoded = self.encoder(inputs, lookups=lookups)
    if self.shared_encoder is not None:
      encoded = tf.concat([self.shared_encoder(inputs, lookups=lookups), encoded], -1)
    return self.tower(encoded, training=training)
