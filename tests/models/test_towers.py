"""AttentionPooling: DIN-style pooling of a behaviour sequence against the target."""

import numpy as np
import tensorflow as tf

from models.heads import towers


def _reference(query, keys, kernel):
  """softmax over a row's items of <q, k W> / sqrt(d), then the weighted mean of k."""
  pooled = []
  for q, row in zip(query, keys):
    if not len(row):
      pooled.append(np.zeros_like(q))
      continue
    scores = (row @ kernel) @ q / np.sqrt(len(q))
    weights = np.exp(scores - scores.max())
    pooled.append((weights / weights.sum()) @ row)
  return np.stack(pooled)


def test_pooling_matches_projected_keys_and_ignores_padding():
  rng = np.random.default_rng(0)
  dim, lengths = 6, [3, 0, 5, 1]
  query = rng.normal(size=(len(lengths), dim)).astype(np.float32)
  keys = [rng.normal(size=(n, dim)).astype(np.float32) for n in lengths]
  pooling = towers.AttentionPooling(query.shape[-1])
  dense_keys, mask = towers.pad(tf.ragged.constant(keys, ragged_rank=1))
  pooled = pooling((tf.constant(query), dense_keys, mask))
  kernel = pooling.weights[0].numpy()
  np.testing.assert_allclose(pooled.numpy(), _reference(query, keys, kernel),
                             rtol=1e-5, atol=1e-6)
  assert not np.any(pooled.numpy()[1])  # An empty history pools to zeros.


def test_projection_kernel_gets_gradients():
  rng = np.random.default_rng(1)
  query = tf.constant(rng.normal(size=(2, 4)).astype(np.float32))
  keys = tf.ragged.constant(rng.normal(size=(2, 3, 4)).astype(np.float32).tolist(),
                            ragged_rank=1)
  pooling = towers.AttentionPooling(query.shape[-1])
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(pooling((query, *towers.pad(keys))) ** 2)
  (gradient,) = tape.gradient(loss, pooling.trainable_weights)
  assert gradient is not None and np.any(gradient.numpy())


def test_heads_pooled_together_equal_each_alone_and_reach_only_their_kernel():
  rng = np.random.default_rng(2)
  query = tf.constant(rng.normal(size=(3, 4)).astype(np.float32))
  keys = tf.ragged.constant([rng.normal(size=(n, 4)).astype(np.float32).tolist()
                             for n in (2, 0, 5)], ragged_rank=1)
  dense_keys, mask = towers.pad(keys)
  poolings = [towers.AttentionPooling(4), towers.AttentionPooling(4)]
  with tf.GradientTape(persistent=True) as tape:
    together = towers.attend(poolings, query, dense_keys, mask)
  for pooling, pooled, other in zip(poolings, together, poolings[::-1]):
    np.testing.assert_allclose(pooled.numpy(),
                               pooling((query, dense_keys, mask)).numpy(),
                               rtol=1e-5, atol=1e-6)
    assert np.any(tape.gradient(pooled, pooling.kernel).numpy())
    assert not np.any(tape.gradient(pooled, other.kernel).numpy())

