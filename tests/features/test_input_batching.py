"""Tests for features/input_batching.py: windows and requests shuffled, requests
batched whole; synthetic blocks, no dataset."""

import numpy as np
import tensorflow as tf

from features import input_batching


def _request_blocks(sizes, block=4):
  """Blocks `(records, request ids)` of whole requests, request r of `sizes[r]`
  records named b"r.i", about `block` records a block."""
  ids = np.repeat(np.arange(len(sizes)), sizes)
  records = np.array([f"{r}.{i}".encode() for r, n in enumerate(sizes)
                      for i in range(n)])
  cuts = [0]
  for end in np.flatnonzero(np.diff(ids)) + 1:
    if end - cuts[-1] >= block:
      cuts.append(int(end))
  cuts.append(len(ids))
  return tf.data.Dataset.from_generator(
      lambda: ((records[a:b], ids[a:b]) for a, b in zip(cuts, cuts[1:])),
      output_signature=(tf.TensorSpec([None], tf.string),
                        tf.TensorSpec([None], tf.int64)))


def test_windows_are_permutations_of_consecutive_records_redrawn_each_pass():
  blocks = tf.data.Dataset.range(1000).map(tf.strings.as_string).batch(64)

  def windows(dataset):
    return [[int(r) for r in window] for window in dataset.as_numpy_iterator()]

  shuffled = input_batching.shuffle_in_windows(blocks, 300, seed=5)
  first = windows(shuffled)
  assert [sorted(w) for w in first] == [list(range(s, min(s + 300, 1000)))
                                        for s in range(0, 1000, 300)]
  assert all(w != sorted(w) for w in first)
  assert windows(shuffled) != first  # A new pass (epoch) draws new permutations,
  assert windows(input_batching.shuffle_in_windows(blocks, 300, seed=5)) == first  # seeded.


def test_request_windows_permute_whole_requests_redrawn_each_pass():
  sizes = [3, 1, 2, 4, 1, 2, 3, 1] * 4
  shuffled = input_batching.shuffle_requests(_request_blocks(sizes), 10_000, seed=2)

  def order():
    records, ids = next(shuffled.as_numpy_iterator())
    # Each request's records together and in their order.
    assert [r.decode() for r in records] == [f"{i}.{k}" for i in
                                             dict.fromkeys(ids.tolist())
                                             for k in range(sizes[i])]
    return list(dict.fromkeys(ids.tolist()))

  first = order()
  assert sorted(first) == list(range(len(sizes))) and first != sorted(first)
  assert order() != first  # A new pass draws a new permutation.


def test_request_batches_hold_whole_requests_as_many_as_without_grouping():
  sizes = [3, 1, 2, 4, 1, 2, 3, 1, 2, 2]  # 21 records.
  batches = list(input_batching.batch_requests(_request_blocks(sizes), 5, 21)
                 .as_numpy_iterator())
  assert len(batches) == -(-21 // 5)  # What `fit` is told without grouping.
  requests = [{r.split(b".")[0] for r in batch} for batch in batches]
  assert sum(len(r) for r in requests) == len(sizes)  # Each in one batch.
  assert [r for batch in batches for r in batch] == [
      f"{i}.{k}".encode() for i, n in enumerate(sizes) for k in range(n)]
