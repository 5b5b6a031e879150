"""The oracle-teacher diagnostic: its teacher is the oracle, its statistic exact."""

import os

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import teacher_ceiling
from features import spec as spec_lib
from models.config import ModelConfig

ORACLE = {
    "impression_id": np.array(["a", "b", "c"]),
    "p_purchase_full": np.array([0.5, 0.1, np.nan]),  # c: not clicked, no purchase p.
    "p_purchase_regular": np.array([0.3, 0.3, np.nan]),
}


def _oracle_teacher(data_dir, config):
  os.makedirs(data_dir / "vocab")
  for name in spec_lib.DEFAULT_SPEC.vocabularies():
    (data_dir / "vocab" / f"{name}.txt").write_text("")
  return teacher_ceiling.OracleTeacherModel(
      spec_lib.DEFAULT_SPEC, str(data_dir), config,
      table=teacher_ceiling.oracle_logits(ORACLE, "p_purchase_full"))


def test_the_teacher_is_the_oracles_logit_by_impression_id(tmp_path):
  model = _oracle_teacher(tmp_path, ModelConfig(task="cvr", mode="pfd"))
  logits = model.teacher_logits({"impression_id": tf.constant(["b", "a", "c"])})
  np.testing.assert_allclose(logits.numpy(), [np.log(0.1 / 0.9), 0.0, 0.0], atol=1e-6)


def test_soft_label_noise_kept_is_the_exact_variance_ratio():
  # Bernoulli noise: 0.5*0.5 and 0.1*0.9; teacher-vs-regular gaps: 0.2^2 and 0.2^2.
  kept = 0.04
  assert teacher_ceiling.soft_label_noise_kept(ORACLE) == pytest.approx(
      kept / ((0.25 + 0.09) / 2 + kept))


def test_hint_transfer_from_the_oracle_is_refused_naming_hint_weight(tmp_path):
  # An oracle has no hidden layer: with hints the learnt teacher's would be matched.
  with pytest.raises(ValueError, match=r"hint_weight=0\.5: the oracle teacher.*"
                     r"no hidden layer"):
    _oracle_teacher(tmp_path, ModelConfig(task="cvr", mode="pfd", hint_weight=0.5))
