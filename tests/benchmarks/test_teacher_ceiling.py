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


def test_the_teacher_is_the_oracles_logit_by_impression_id(tmp_path):
  os.makedirs(tmp_path / "vocab")
  for name in spec_lib.DEFAULT_SPEC.vocabularies():
    (tmp_path / "vocab" / f"{name}.txt").write_text("")
  model = teacher_ceiling.OracleTeacherModel(
      spec_lib.DEFAULT_SPEC, str(tmp_path), ModelConfig(task="cvr", mode="pfd"),
      table=teacher_ceiling.oracle_logits(ORACLE, "p_purchase_full"))
  logits = model.teacher_logits({"impression_id": tf.constant(["b", "a", "c"])})
  np.testing.assert_allclose(logits.numpy(), [np.log(0.1 / 0.9), 0.0, 0.0], atol=1e-6)


def test_soft_label_noise_kept_is_the_exact_variance_ratio():
  # Bernoulli noise: 0.5*0.5 and 0.1*0.9; teacher-vs-regular gaps: 0.2^2 and 0.2^2.
  kept = 0.04
  assert teacher_ceiling.soft_label_noise_kept(ORACLE) == pytest.approx(
      kept / ((0.25 + 0.09) / 2 + kept))
