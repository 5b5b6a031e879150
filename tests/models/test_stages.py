"""Tests for models/training/stages.py: a mode's stages as data, and their walk."""

import numpy as np
import pytest
import tensorflow as tf

from models.config import HeadRole, Mode
from models.training import run_directory
from models.training import stages
from synthetic import build_ctr_model, make_batch

TEACHER, STUDENT = frozenset({HeadRole.TEACHER}), frozenset({HeadRole.STUDENT})


def _teacher_weights(model):
  return [v.numpy() for v in model.variable_groups()["teacher_only"]]


def test_a_mode_trains_its_heads_in_one_stage_unless_it_declares_two():
  for mode in Mode:
    if not mode.spec.two_stages:
      assert stages.plan(mode, 3, 2) == (
          stages.Stage("joint", frozenset(mode.roles()), 3),)
  assert stages.plan(Mode.TWO_STAGE, 3, 2) == (
      stages.Stage("stage1", TEACHER, 2, run_directory.STAGE1_DIR),
      stages.Stage("stage2", STUDENT, 3))
  assert stages.plan(Mode.TWO_STAGE, 3)[0].epochs == 3  # The teacher's by default.


def test_a_model_trains_the_heads_of_its_mode_and_no_other(data_dir):
  model = build_ctr_model(data_dir, mode="student")
  assert model.trained_heads == STUDENT
  with pytest.raises(ValueError, match=r"\['teacher'\] must be heads of mode 'student'"):
    model.train_heads(TEACHER)
  with pytest.raises(ValueError, match="must be heads of mode"):
    model.train_heads(frozenset())


def test_a_finished_stage_is_loaded_not_fit_again(data_dir, tmp_path):
  data = tf.data.Dataset.from_tensors(make_batch(0)).concatenate(
      tf.data.Dataset.from_tensors(make_batch(1)))

  def walk(model):
    def restream(stage):
      raise AssertionError(f"A finite input is not drawn again (stage {stage}).")
    return stages.fit_stages(model, stages.plan(Mode.TWO_STAGE, 1), str(tmp_path),
                             data, restream, None, None, 0, lambda path: path)

  first = build_ctr_model(data_dir, mode="two_stage")
  _, record = walk(first)
  assert record == {"stage1": {}}  # Without validation, an empty record per stage.
  assert first.trained_heads == STUDENT
  # Another initialisation, the same directory: the teacher is stage 1's, loaded,
  # and the student's stage leaves it as it is.
  second = build_ctr_model(data_dir, seed=1, mode="two_stage")
  _, record = walk(second)
  assert record == {}
  for a, b in zip(_teacher_weights(first), _teacher_weights(second)):
    np.testing.assert_array_equal(a, b)
