"""Tests for models/training/fit.py: what a fit and a resumed fit read."""

import types

import tensorflow as tf

from models.config import HeadRole
from models.training import fit


def _shuffled():
  return tf.data.Dataset.range(20).shuffle(20, seed=7, reshuffle_each_iteration=True)


def _order(dataset):
  return [int(x) for x in dataset]


def test_an_endless_stream_repeats_and_a_pass_does_not():
  assert fit.repeats(tf.data.Dataset.range(3).repeat())
  assert not fit.repeats(tf.data.Dataset.range(3))
  assert not fit.repeats(lambda context: None)  # A DatasetCreator's function.


def test_a_resumed_fit_reads_the_passes_the_killed_one_had_not():
  passes = [_order(dataset) for dataset in [_shuffled()] for _ in range(3)]
  assert passes[0] != passes[2]
  assert _order(fit.resumed_input(_shuffled(), 2, None)) == passes[2]


def test_a_resumed_stream_skips_the_batches_of_the_finished_epochs():
  stream = tf.data.Dataset.range(1000).repeat()
  resumed = fit.resumed_input(stream, 3, 5)
  assert [int(x) for x in resumed.take(2)] == [15, 16]


def test_a_fit_follows_the_validation_auc_of_the_head_it_ships():
  model = types.SimpleNamespace(trained_heads=frozenset(HeadRole))
  assert fit._monitor(model) == "val_student_auc"
  model.trained_heads = frozenset({HeadRole.TEACHER})  # A teacher's stage.
  assert fit._monitor(model) == "val_teacher_auc"
