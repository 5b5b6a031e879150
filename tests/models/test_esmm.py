"""The ESMM head over MMoE experts (DMTL's teacher): CTCVR = CTR x CVR, gates that
sum to 1, its hard-label loss, and no distillation gradient into it."""

import math

import numpy as np
import pytest
import tensorflow as tf

from models import distillation
from models.heads import esmm
from models import heads
from models import losses
from models.config import Architecture, Mode, ModelConfig

from synthetic import SPEC, assert_distillation_misses_the_teacher, make_batch

SMALL = dict(embedding_dim=4, student_hidden=(8,), teacher_hidden=(8,), tower_dim=6,
             mmoe_experts=3, expert_hidden=(8,))


def build(data_dir, **overrides):
  """A ctcvr model: the task's defaults (ESMM teacher, two-tower student)."""
  tf.keras.utils.set_random_seed(0)
  model = distillation.DistillationModel(
      SPEC, data_dir, ModelConfig.for_task(SPEC, "ctcvr", **{**SMALL, **overrides}))
  model.compile(optimizer=tf.keras.optimizers.SGD(0.1))
  model.build_from_batch(make_batch(99)[0])
  return model


def test_ctcvr_is_ctr_times_cvr_and_finite_for_any_logits():
  ctr = tf.constant([0.0, 2.0, -3.0, 40.0, -40.0, 200.0, 200.0, -200.0])
  cvr = tf.constant([0.0, -1.0, 0.5, 40.0, 3.0, 200.0, -200.0, -200.0])
  with tf.GradientTape() as tape:
    tape.watch([ctr, cvr])
    logits = esmm.ctcvr_logits(ctr, cvr)
  np.testing.assert_allclose(tf.sigmoid(logits), tf.sigmoid(ctr) * tf.sigmoid(cvr),
                             rtol=1e-6, atol=1e-30)
  assert math.isclose(float(logits[0]), math.log(1 / 3), rel_tol=1e-6)  # p = 1/4.
  assert np.isfinite(logits).all()
  assert all(np.isfinite(g).all() for g in tape.gradient(logits, [ctr, cvr]))


def test_the_head_scores_ctr_times_cvr_and_its_gates_sum_to_one(data_dir):
  model = build(data_dir)
  teacher = model.teacher
  assert isinstance(teacher, esmm.EsmmHead) and isinstance(teacher, heads.MultiTaskHead)
  features, _ = make_batch(3)
  ctr, cvr = teacher.task_logits(features)
  np.testing.assert_allclose(tf.sigmoid(teacher(features)),
                             tf.sigmoid(ctr) * tf.sigmoid(cvr), rtol=1e-5)
  np.testing.assert_array_equal(teacher.auxiliary_logits(features)["click"], ctr)
  _, gates = teacher.experts(teacher.encoder(features), with_gates=True)
  assert len(gates) == 2
  for gate in gates:
    assert gate.shape == (16, 3) and (gate.numpy() > 0).all()
    np.testing.assert_allclose(tf.reduce_sum(gate, axis=-1), np.ones(16), rtol=1e-6)


def test_esmm_loss_is_both_bces_by_hand_with_their_gradients():
  # At a = b = 0: pCTR = 1/2, pCTCVR = 1/4. At a = ln 3, b = 0: pCTR = 3/4, 3/8.
  ctr = tf.constant([0.0, 0.0, math.log(3.0)])
  cvr = tf.constant([0.0, 0.0, 0.0])
  click, purchase = tf.constant([1.0, 0.0, 1.0]), tf.constant([1.0, 0.0, 0.0])
  with tf.GradientTape() as tape:
    tape.watch([ctr, cvr])
    loss = (losses.binary_cross_entropy(purchase, esmm.ctcvr_logits(ctr, cvr))
            + losses.binary_cross_entropy(click, ctr))
  np.testing.assert_allclose(loss, [math.log(4) + math.log(2),
                                    math.log(4 / 3) + math.log(2),
                                    math.log(8 / 5) + math.log(4 / 3)], rtol=1e-6)
  # d/da = (1 - s_a)(p - y)/(1 - p) + s_a - c; d/db = (1 - s_b)(p - y)/(1 - p).
  d_ctr, d_cvr = tape.gradient(loss, [ctr, cvr])
  np.testing.assert_allclose(d_ctr, [-1 / 2 - 1 / 2, 1 / 6 + 1 / 2, 0.15 - 0.25],
                             rtol=1e-5)
  np.testing.assert_allclose(d_cvr, [-1 / 2, 1 / 6, 0.3], rtol=1e-5)


def test_the_teacher_loss_is_the_esmm_loss_of_its_towers(data_dir):
  model = build(data_dir, mode=Mode.TEACHER)
  features, labels = make_batch(1)
  out = model.compute_losses(features, labels, None, training=False)
  ctr, cvr = model.teacher.task_logits(features)
  p_ctr = tf.sigmoid(ctr).numpy()
  p_ctcvr = p_ctr * tf.sigmoid(cvr).numpy()
  y, click = labels.numpy(), features["click"].numpy()
  expected = -np.mean(y * np.log(p_ctcvr) + (1 - y) * np.log(1 - p_ctcvr)
                      + click * np.log(p_ctr) + (1 - click) * np.log(1 - p_ctr))
  assert math.isclose(float(out["teacher_loss"]), expected, rel_tol=1e-5)
  # Its click metrics score pCTR against the click label (the only batch they saw).
  logs = {m.name: float(m.result()) for m in model.metrics}
  assert math.isclose(logs["teacher_click_logloss"],
                      -np.mean(click * np.log(p_ctr) + (1 - click) * np.log(1 - p_ctr)),
                      rel_tol=1e-5)


def test_the_ctcvr_distillation_term_never_reaches_the_esmm_teacher(data_dir):
  model = build(data_dir)
  names = [v.name for v in model.variable_groups()["teacher_only"]]
  assert any("gate_" in n for n in names) and any("ctr_tower" in n for n in names)
  assert_distillation_misses_the_teacher(model)


def test_a_multi_task_student_learns_both_labels_and_reports_each(data_dir):
  model = build(data_dir, student_architecture=Architecture.ESMM)
  features, labels = make_batch(1)
  out = model.compute_losses(features, labels, None, training=False)
  ctr = model.student.auxiliary_logits(features)["click"]
  expected = np.mean(losses.binary_cross_entropy(labels, model(features))
                     + losses.binary_cross_entropy(features["click"], ctr))
  assert math.isclose(float(out["student_bce"]), expected, rel_tol=1e-5)
  logs = model.train_step(make_batch(2))
  assert {"student_click_auc", "teacher_click_auc", "student_auc"} <= set(logs)


def test_an_esmm_head_needs_a_task_over_all_impressions_with_one_auxiliary_label(
    data_dir):
  with pytest.raises(ValueError, match=r"task 'cvr' has examples 'clicked'"):
    distillation.DistillationModel(SPEC, data_dir, ModelConfig(
        task="cvr", teacher_architecture=Architecture.ESMM, **SMALL))
  with pytest.raises(ValueError, match=r"hint_weight=0.5 needs"):
    ModelConfig(task="ctcvr", teacher_architecture=Architecture.ESMM, hint_weight=0.5)
