"""Layers the teacher and student are built from: encoders, attention pooling, MLPs.

`FeatureEncoder` turns the raw feature dict of the input pipeline into one dense vector
per example, reading only the features it was given: the student's encoder is given the
task's regular features and so cannot see a privileged input, whatever the batch holds.
Embedding tables are passed in, which is how the teacher and student share them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf
import tensorflow_recommenders as tfrs

from features import spec as spec_lib
from models import embeddings


class AttentionPooling(tf.keras.layers.Layer):
  """Pools a behaviour sequence against the target item (DIN-style, dot product).

  A user's recent clicks matter in proportion to their similarity with the item being
  scored; a mean over the sequence would blur that. The layer owns its head's key
  projection; `attend` runs it, alone or beside other heads' poolings of the same
  sequence.

  Args:
    dim: Width of the query and of the keys.
  """

  def __init__(self, dim: int, **kwargs):
    super().__init__(**kwargs)
    self.kernel = self.add_weight("key_projection", shape=[dim, dim],
                                  initializer="glorot_uniform")

  def call(self, inputs):
    """Args: (query [batch, d], keys [batch, max_len, d], mask [batch, max_len] bool,
    as `pad` gives them) -> [batch, d]."""
    return attend([self], *inputs)[0]


def attend(poolings: Sequence[AttentionPooling], query: tf.Tensor,
           dense_keys: tf.Tensor, mask: tf.Tensor) -> list[tf.Tensor]:
  """Each pooling's `[batch, d]` output for one query and one padded sequence.

  Heads that read the same tables pool the same keys against the same target and
  differ only in their projection: one batched product over the keys serves them
  all (a second head's pooling then costs a fraction of the first's), and each
  output depends on its own kernel alone.

  Score = <q, k W> / sqrt(d) = <q W^T, k> / sqrt(d): projecting the one query
  instead of every key costs 1/max_len of the FLOPs, same weights, same scores.
  """
  heads, dim = len(poolings), query.shape[-1]
  kernels = tf.concat([pooling.kernel for pooling in poolings], axis=0)
  queries = tf.matmul(query, kernels, transpose_b=True) / tf.sqrt(float(dim))
  queries = tf.reshape(queries, [-1, heads, dim])
  scores = tf.matmul(queries, dense_keys, transpose_b=True)  # [batch, heads, len]
  mask = mask[:, tf.newaxis, :]
  scores = tf.where(mask, scores, tf.fill(tf.shape(scores), scores.dtype.min))
  weights = tf.nn.softmax(scores) * tf.cast(mask, scores.dtype)  # Empty rows: 0.
  return tf.unstack(tf.matmul(weights, dense_keys), num=heads, axis=1)


def pad(keys: tf.RaggedTensor) -> tuple[tf.Tensor, tf.Tensor]:
  """A ragged `[batch, None, d]` sequence as `[batch, max_len, d]` zeros-padded keys
  and their `[batch, max_len]` mask."""
  dense_keys = keys.to_tensor()
  return dense_keys, tf.sequence_mask(keys.row_lengths(), tf.shape(dense_keys)[1])


def signed_log1p(x: tf.Tensor) -> tf.Tensor:
  """Counts, dwell times and prices are heavy-tailed: compress them."""
  x = tf.cast(x, tf.float32)
  return tf.sign(x) * tf.math.log1p(tf.abs(x))


AttentionKey = tuple[str, str, str, str]


class BatchLookups:
  """What the heads of one model compute once per batch, shared between them.

  Embeddings of a shared table, padded sequences, a shared encoder's output: each is
  computed by the first head that needs it (`once`). Attention poolings of the same
  sequence against the same target (`pooled`) run for every head at once (`attend`).

  Args:
    encoders: The encoders of every head that reads this batch (to pair up their
      poolings); none: each pooling runs alone.
  """

  def __init__(self, encoders: Sequence[FeatureEncoder] = ()):
    self._values: dict[tuple, Any] = {}
    self._poolings: dict[AttentionKey, list[AttentionPooling]] = {}
    for encoder in encoders:
      for key, pooling in encoder.poolings().items():
        group = self._poolings.setdefault(key, [])
        if not any(pooling is other for other in group):
          group.append(pooling)

  def once(self, key: tuple, compute: Callable[[], Any]) -> Any:
    if key not in self._values:
      self._values[key] = compute()
    return self._values[key]

  def pooled(self, key: AttentionKey, pooling: AttentionPooling, query: tf.Tensor,
             dense_keys: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """`pooling`'s output, computed with its partners' on first use."""
    group = self._poolings.get(key, [])
    if not any(pooling is other for other in group):
      group = [pooling]
    outputs = self.once(("pooled", key, tuple(id(p) for p in group)),
                        lambda: attend(group, query, dense_keys, mask))
    return next(out for p, out in zip(group, outputs) if p is pooling)


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
        dim = self._tables[f.vocabulary].embedding.output_dim
        self._pooling[f.name] = AttentionPooling(dim, name=f"attend_{f.name}")

  def _target(self, sequence: spec_lib.Feature) -> str | None:
    """The scalar feature a sequence is attended against: its vocabulary's owner."""
    owner = self._spec.vocabulary_settings(sequence.vocabulary).name
    return owner if owner in self.feature_names else None

  def _attention_key(self, sequence: spec_lib.Feature) -> AttentionKey:
    """Poolings with equal keys attend over the same keys with the same query (tables
    are told apart by name, as the lookups are)."""
    target = self._spec[self._target(sequence)]
    return (self._tables[sequence.vocabulary].name, sequence.name,
            self._tables[target.vocabulary].name, target.name)

  def poolings(self) -> dict[AttentionKey, AttentionPooling]:
    """This encoder's attention poolings, by what they attend over (BatchLookups)."""
    return {self._attention_key(f): self._pooling[f.name] for f in self._features
            if f.name in self._pooling}

  def _lookup(self, f: spec_lib.Feature, inputs, lookups: BatchLookups):
    """One feature's embeddings (a shared table read by both heads: one lookup)."""
    table = self._tables[f.vocabulary]
    return lookups.once((table.name, f.name), lambda: table(inputs[f.name]))

  def _padded(self, f: spec_lib.Feature, inputs, lookups: BatchLookups):
    """A sequence's embeddings as padded keys and mask (`pad`), once per batch."""
    table = self._tables[f.vocabulary]
    return lookups.once(("padded", table.name, f.name),
                        lambda: pad(self._lookup(f, inputs, lookups)))

  def call(self, inputs: Mapping[str, tf.Tensor], lookups: BatchLookups | None = None
           ) -> tf.Tensor:
    """Args: inputs, the batch; lookups, what the model's heads share of this batch
    (an encoder read by both heads also encodes once per batch); None: this call's
    own."""
    lookups = BatchLookups() if lookups is None else lookups
    return lookups.once(("encoding", id(self)),
                        lambda: self._encode(inputs, lookups))

  def _encode(self, inputs: Mapping[str, tf.Tensor], lookups: BatchLookups
              ) -> tf.Tensor:
    parts, embedded, numeric = [], {}, []
    for f in self._features:
      if f.kind is spec_lib.Kind.CATEGORICAL:
        embedded[f.name] = self._lookup(f, inputs, lookups)
        parts.append(embedded[f.name])
      elif f.kind is spec_lib.Kind.NUMERIC:
        numeric.append(tf.cast(inputs[f.name], tf.float32))
    if numeric:  # One transform of all of them: a head has a dozen numbers.
      parts.append(signed_log1p(tf.stack(numeric, axis=-1)))
    for f in self._features:
      if f.is_sequence:
        target = self._target(f)
        if target is None:  # Mean pooling; an empty history gives zeros.
          keys = self._lookup(f, inputs, lookups)  # Ragged [b, None, d].
          lengths = tf.cast(keys.row_lengths(), tf.float32)[:, tf.newaxis]
          parts.append(tf.math.divide_no_nan(tf.reduce_sum(keys, axis=1), lengths))
        else:
          parts.append(lookups.pooled(self._attention_key(f), self._pooling[f.name],
                                      embedded[target],
                                      *self._padded(f, inputs, lookups)))
    return tf.concat(parts, axis=-1)


def relu_layers(hidden: Sequence[int]) -> list[tf.keras.layers.Layer]:
  """The hidden part of every MLP here: one ReLU Dense layer per width."""
  return [tf.keras.layers.Dense(width, activation="relu") for width in hidden]


@dataclasses.dataclass(frozen=True)
class DcnSettings:
  """A dcn head's own knob (an mlp head is one without crosses).

  Attributes:
    cross_layers: DCN-v2 cross layers before the MLP.
  """
  cross_layers: int

  def __post_init__(self):
    if self.cross_layers < 0:
      raise ValueError(f"cross_layers must be >= 0, got {self.cross_layers}.")


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

  def call(self, x: tf.Tensor, with_hidden: bool = False):
    """`[batch]` logits; with `with_hidden`, also the last hidden layer `[batch, w]`."""
    x0 = x
    for cross in self._crosses:
      x = cross(x0, x)
    for layer in self._layers:
      x = layer(x)
    logits = tf.squeeze(self._logit(x), axis=-1)
    return (logits, x) if with_hidden else logits


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
           lookups: BatchLookups | None = None, with_hidden: bool = False):
    """`[batch]` logits (with `with_hidden`, and the tower's last hidden layer);
    `lookups` is the per-batch embedding cache both heads share."""
    encoded = self.encoder(inputs, lookups=lookups)
    if self.shared_encoder is not None:
      encoded = tf.concat([self.shared_encoder(inputs, lookups=lookups), encoded], -1)
    return self.tower(encoded, training=training, with_hidden=with_hidden)
