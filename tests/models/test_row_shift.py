"""Tests for models/row_shift.py: pfd_permuted's shift of privileged rows."""

import tensorflow as tf

from models import row_shift


def test_shift_rows_moves_ragged_rows_whole():
  ragged = tf.ragged.constant([[1], [2, 2], [], [4, 4, 4]])
  shifted = row_shift.shift_rows({"seq": ragged, "other": tf.range(4)}, ["seq"],
                                 tf.constant(3))
  assert shifted["seq"].to_list() == [[4, 4, 4], [1], [2, 2], []]
  assert shifted["other"].numpy().tolist() == [0, 1, 2, 3]


def test_a_derangement_leaves_no_row_its_own_values_and_moves_them_together():
  tf.random.set_seed(0)
  batch = {"a": tf.range(5), "b": tf.range(5) * 10, "kept": tf.range(5)}
  for _ in range(20):
    shifted = row_shift.derange_rows(batch, ["a", "b"])
    a, b = shifted["a"].numpy(), shifted["b"].numpy()
    assert all(a != range(5)) and list(b) == list(a * 10)
    assert sorted(a) == list(range(5))
    assert shifted["kept"] is batch["kept"]
  one = {"a": tf.constant([7])}  # A batch of one keeps its own.
  assert row_shift.derange_rows(one, ["a"])["a"].numpy().tolist() == [7]
