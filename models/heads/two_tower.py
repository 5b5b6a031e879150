"""The two-tower head: a user tower and an item tower that meet in an inner product.

A pre-ranker scores tens of thousands of candidates per request, so item vectors are
computed offline (models/item_vectors.py) and only the user tower runs per request.
That works only if the score is a pure inner product of two vectors, each computed
from its own side's features alone:

    logit = <user_vector(user side), item_vector(item side)>
    user_vector = [scale * u, 1],  item_vector = [v, b]   (u, v unit vectors)

so `scale * <u, v> + b` is a plain dot product and retrieval is a maximum inner
product search. Item features (group ITEM) go to the item tower; everything else
(user, context, behaviour; for a plain-PFD teacher also the cross features and
position) goes to the user tower. The behaviour sequence is therefore mean-pooled:
attention against the target item would need the item on the user side.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import tensorflow as tf

from features import spec as spec_lib
from models import embeddings
from models.heads import towers

ITEM_GROUPS = frozenset({spec_lib.Group.ITEM})
INNER_PRODUCT_SCALE_INIT = 5.0  # The paper's scale.


@dataclasses.dataclass(frozen=True)
class TwoTowerSettings:
  """A two-tower head's own knobs.

  Attributes:
    tower_dim: Width of the normalised user and item vectors.
    inner_product_scale: logit = scale * <u, v> of unit vectors; None learns it from
      INNER_PRODUCT_SCALE_INIT. Unit vectors alone bound the logit to [-1, 1], far
      too narrow for a click rate of a few percent.
    item_bias: A per-item bias, folded into the vectors (an extra item coordinate
      against a constant 1 on the user side) so the score stays a pure inner product
      of the exported vectors.
  """
  tower_dim: int
  inner_product_scale: float | None
  item_bias: bool

  def __post_init__(self):
    if self.tower_dim < 1:
      raise ValueError(f"tower_dim must be >= 1, got {self.tower_dim}.")
    if self.inner_product_scale is not None and self.inner_product_scale <= 0:
      raise ValueError(f"inner_product_scale must be > 0 or None (learnt), got "
                       f"{self.inner_product_scale}.")

  @property
  def vector_dim(self) -> int:
    """Width of the exported user and item vectors (the bias's coordinate included)."""
    return self.tower_dim + int(self.item_bias)


def split_sides(features: Sequence[spec_lib.Feature]
                ) -> tuple[list[spec_lib.Feature], list[spec_lib.Feature]]:
  """(user side, item side): item-group features and all the others."""
  item = [f for f in features if f.group in ITEM_GROUPS]
  user = [f for f in features if f.group not in ITEM_GROUPS]
  return user, item


class VectorTower(tf.keras.layers.Layer):
  """One side: features -> encoder -> MLP -> unit vectors `[batch, dim]`.

  Args:
    features: The spec features this side may read.
    tables: Vocabulary name -> EmbeddingTable (the encoder keeps only this side's,
      so a tower carries no table of the other side).
    spec: The full spec.
    hidden: MLP widths before the output layer.
    dim: Width of the vectors.
  """

  def __init__(self, features: Sequence[spec_lib.Feature],
               tables: Mapping[str, embeddings.EmbeddingTable],
               spec: spec_lib.FeatureSpec, hidden: Sequence[int], dim: int,
               **kwargs):
    super().__init__(**kwargs)
    self.feature_names = [f.name for f in features]
    self.encoder = towers.FeatureEncoder(features, tables, spec, name="encoder")
    self._layers = towers.relu_layers(hidden)
    self._output = tf.keras.layers.Dense(dim, name="vector")

  def call(self, inputs: Mapping[str, tf.Tensor],
           lookups: towers.BatchLookups | None = None
           ) -> tuple[tf.Tensor, tf.Tensor]:
    """Returns (unit vectors `[batch, dim]`, the encoding `[batch, width]`)."""
    encoded = x = self.encoder(inputs, lookups=lookups)
    for layer in self._layers:
      x = layer(x)
    return tf.math.l2_normalize(self._output(x), axis=-1), encoded


class TwoTowerHead(tf.keras.layers.Layer):
  """A head whose logit is the inner product of a user and an item vector.

  Args:
    features: The spec features this head may read; split by `split_sides`.
    tables: Vocabulary name -> EmbeddingTable (shared tables are the same objects in
      both heads).
    spec: The full spec.
    hidden: Each tower's MLP widths.
    settings: The vectors' width, the scale of their product and the item bias.

  Raises:
    ValueError: One side has no feature.
  """

  def __init__(self, features: Sequence[spec_lib.Feature],
               tables: Mapping[str, embeddings.EmbeddingTable],
               spec: spec_lib.FeatureSpec, hidden: Sequence[int],
               settings: TwoTowerSettings, **kwargs):
    super().__init__(**kwargs)
    user, item = split_sides(features)
    if not user or not item:
      raise ValueError(
          f"A two-tower head needs features on both sides; got user side "
          f"{[f.name for f in user]}, item side {[f.name for f in item]} (item "
          f"side: groups {sorted(g.value for g in ITEM_GROUPS)}). A teacher of "
          "privileged features only (mode lupi) cannot be a two-tower head.")
    self.feature_names = [f.name for f in features]
    dim = settings.tower_dim
    self.user_tower = VectorTower(user, tables, spec, hidden, dim, name="user_tower")
    self.item_tower = VectorTower(item, tables, spec, hidden, dim, name="item_tower")
    self.user_feature_names = self.user_tower.feature_names
    self.item_feature_names = self.item_tower.feature_names
    self.vector_dim = settings.vector_dim
    self._bias = (tf.keras.layers.Dense(1, name="item_bias") if settings.item_bias
                  else None)
    if settings.inner_product_scale is None:
      self.scale = self.add_weight(
          name="inner_product_scale", shape=(),
          initializer=tf.keras.initializers.Constant(INNER_PRODUCT_SCALE_INIT))
    else:
      self.scale = tf.constant(settings.inner_product_scale, tf.float32)

  def user_vectors(self, inputs: Mapping[str, tf.Tensor],
                   lookups: towers.BatchLookups | None = None) -> tf.Tensor:
    """`[batch, vector_dim]` from the user side's features only."""
    u, _ = self.user_tower(inputs, lookups=lookups)
    u = self.scale * u
    if self._bias is not None:
      u = tf.concat([u, tf.ones_like(u[:, :1])], axis=-1)
    return u

  def item_vectors(self, inputs: Mapping[str, tf.Tensor],
                   lookups: towers.BatchLookups | None = None) -> tf.Tensor:
    """`[batch, vector_dim]` from the item side's features only."""
    v, encoded = self.item_tower(inputs, lookups=lookups)
    if self._bias is not None:
      v = tf.concat([v, self._bias(encoded)], axis=-1)
    return v

  def call(self, inputs: Mapping[str, tf.Tensor], training: bool = False,
           lookups: towers.BatchLookups | None = None) -> tf.Tensor:
    """`[batch]` logits: each example's user vector . its item vector."""
    del training  # No layer behaves differently in training.
    return tf.reduce_sum(self.user_vectors(inputs, lookups) *
                         self.item_vectors(inputs, lookups), axis=-1)
