"""Shuffling and request batching of record blocks, vectorised: whole windows are
permuted at once, and batches of whole requests are cut from the block stream."""

from __future__ import annotations

import tensorflow as tf

from features.input_records import READ_BLOCK, run_starts, whole_runs


def shuffle_in_windows(blocks: tf.data.Dataset, window: int, seed: int | None
                       ) -> tf.data.Dataset:
  """Blocks of serialized records -> windows of `window` records, each permuted.

  Shuffles the way a `shuffle(window)` buffer mixes records, at a fraction of its
  cost: one vectorised permutation per window instead of a buffer step per record
  (a record-level buffer costs about as much as reading the record).
  Each window is a uniform permutation of `window` consecutive records of the
  interleaved shards (the last one may be shorter); a new pass over the dataset (an
  epoch) draws new permutations, which `seed` fixes. A window and its permuted copy
  are held at once: about twice the memory of a shuffle buffer of that size.
  """
  windows = blocks.rebatch(window)
  seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
  return tf.data.Dataset.zip(windows, seeds).map(
      lambda records, pair: tf.random.experimental.stateless_shuffle(records, pair))


def shuffle_requests(blocks: tf.data.Dataset, window: int, seed: int | None
                     ) -> tf.data.Dataset:
  """Blocks `(records, request ids)` of whole requests -> windows of whole blocks,
  about `window` records each, their requests permuted.

  `shuffle_in_windows` for requests: a window's requests come in a uniform random
  order, each request's records together and in their order; a new pass (an epoch)
  draws new permutations, which `seed` fixes.
  """
  windows = blocks.ragged_batch(max(1, window // READ_BLOCK)).map(
      lambda records, ids: (records.flat_values, ids.flat_values))
  seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

  def permute(window_records, pair):
    records, ids = window_records
    requests, request_of = tf.unique(ids)
    rank = tf.random.experimental.stateless_shuffle(tf.range(tf.size(requests)), pair)
    order = tf.argsort(tf.gather(rank, request_of), stable=True)
    return tf.gather(records, order), tf.gather(ids, order)

  return tf.data.Dataset.zip(windows, seeds).map(permute)


def batch_requests(blocks: tf.data.Dataset, batch_size: int, examples_per_pass: int
                   ) -> tf.data.Dataset:
  """Blocks `(records, request ids)` of whole requests -> batches of whole requests.

  With n = ceil(examples_per_pass / batch_size), the number of batches a pass has
  without request grouping (what `fit` is told), a request goes to batch
  floor(o * n / examples_per_pass), o the position of its first record in the
  stream: batches of about examples_per_pass / n <= batch_size records (within one
  request's size), exactly n per pass unless a request is larger than that.
  """
  batches_per_pass = -(-examples_per_pass // batch_size)

  def number(position, block):
    records, ids = block
    starts = run_starts(ids)
    first = tf.gather(tf.where(starts)[:, 0], tf.cumsum(tf.cast(starts, tf.int64)) - 1)
    batch = (position + first) * batches_per_pass // examples_per_pass
    return position + tf.size(ids, tf.int64), (records, batch)

  def split(records, batch):
    _, row = tf.unique(batch)
    return tf.data.Dataset.from_tensor_slices(
        tf.RaggedTensor.from_value_rowids(records, tf.cast(row, tf.int64)))

  numbered = blocks.scan(tf.constant(0, tf.int64), number)
  return whole_runs(numbered).flat_map(split)
