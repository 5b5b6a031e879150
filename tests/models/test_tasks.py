"""Tests for models/tasks.py: the task's losses on hand-made head outputs, its lambda
schedule and metrics, and a new registered loss training with no other edit."""

import math

import numpy as np
import pytest
import tensorflow as tf

from models import distillation
from models import losses
from models import tasks
from models.config import ModelConfig
from models.losses import registry

from synthetic import SPEC, assert_distillation_misses_the_teacher, make_batch

LN2, LN3 = math.log(2.0), math.log(3.0)


def head(logits, **kwargs):
  return tasks.HeadOutput(tf.constant(logits, tf.float32), **kwargs)


def test_pointwise_losses_by_hand():
  task = tasks.DistillationTask.from_config(
      ModelConfig(task="cvr", distillation_loss="kl", lambda_value=0.25),
      {"teacher": ("click",)})
  outputs = tasks.HeadOutputs(
      labels=tf.constant([1.0, 0.0]), student=head([0.0, 0.0]),
      teacher=head([LN3, -LN3], auxiliary_logits={"click": tf.constant([0.0, 0.0])}),
      auxiliary_labels={"click": tf.constant([1.0, 0.0])})
  out = {k: float(v) for k, v in task(outputs, step=0).items()}
  # sigmoid(+-ln 3) = 3/4 or 1/4, each right: BCE ln(4/3); the click logits 0: ln 2.
  assert out["teacher_loss"] == pytest.approx(math.log(4 / 3) + LN2, rel=1e-6)
  assert out["student_bce"] == pytest.approx(LN2, rel=1e-6)
  # KL(3/4 || 1/2) = ln 2 - H(3/4) = 3/4 ln 3 - ln 2, and the same for 1/4.
  kl = 0.75 * LN3 - LN2
  assert out["distillation_loss"] == pytest.approx(kl, rel=1e-5)
  assert out["lambda"] == 0.25
  assert out["student_loss"] == pytest.approx(0.75 * LN2 + 0.25 * kl, rel=1e-5)
  assert "hint_loss" not in out


def test_a_request_loss_by_hand():
  task = tasks.DistillationTask.from_config(
      ModelConfig(task="cvr", distillation_loss="bpr"))
  assert task.reads_requests
  outputs = tasks.HeadOutputs(
      labels=tf.constant([1.0, 0.0, 0.0, 1.0]), student=head([0.0, LN3, 0.0, 0.0]),
      teacher=head([2.0, 0.0, 1.0, 1.0]), request_ids=tf.constant([7, 7, 9, 9]))
  out = task(outputs, step=0)
  # Request 7's one pair (the teacher ranks 0 over 1): softplus(-(0 - ln 3)) = ln 4,
  # the mean loss of both its examples; request 9's tie makes no pair. Batch: ln 2.
  assert float(out["distillation_loss"]) == pytest.approx(LN2, rel=1e-6)
  # BCE: ln 2 at logit 0, softplus(ln 3) = ln 4 for the negative at ln 3.
  assert float(out["student_bce"]) == pytest.approx(5 / 4 * LN2, rel=1e-6)
  assert float(out["student_loss"]) == pytest.approx(0.5 * 5 / 4 * LN2 + 0.5 * LN2,
                                                     rel=1e-6)
  with pytest.raises(ValueError, match="'bpr' ranks within requests"):
    task(tasks.HeadOutputs(labels=outputs.labels, student=outputs.student,
                           teacher=outputs.teacher), step=0)


def test_lambda_is_zero_before_the_swap_step_and_the_student_learns_labels_only():
  task = tasks.DistillationTask.from_config(
      ModelConfig(task="cvr", lambda_value=0.5, swap_step=3))
  outputs = tasks.HeadOutputs(labels=tf.constant([1.0, 0.0]), student=head([1.0, 2.0]),
                              teacher=head([-1.0, 0.5]))
  for step, lam in ((None, 0.0), (0, 0.0), (2, 0.0), (3, 0.5)):
    out = task(outputs, step=step)
    assert float(out["lambda"]) == lam, step
    assert float(out["student_loss"]) == pytest.approx(
        (1 - lam) * float(out["student_bce"]) + lam * float(out["distillation_loss"]))
  assert float(task(outputs, step=2)["student_loss"]) == float(
      task(outputs, step=2)["student_bce"])


def test_metrics_follow_the_losses_and_reset():
  task = tasks.DistillationTask.from_config(
      ModelConfig(task="cvr"), {"student": ("click",)})
  assert [m.name for m in task.metrics] == [
      "student_loss", "teacher_loss", "distillation_loss", "lambda",
      *(f"{prefix}_{name}" for prefix in ("student", "student_click", "teacher")
        for name in ("auc", "logloss", "calibration"))]
  outputs = tasks.HeadOutputs(
      labels=tf.constant([1.0, 0.0]),
      student=head([2.0, -2.0], auxiliary_logits={"click": tf.constant([-1.0, 1.0])}),
      teacher=head([0.0, 1.0]), auxiliary_labels={"click": tf.constant([1.0, 0.0])})
  out = task(outputs, step=5)
  results = {m.name: float(m.result()) for m in task.metrics}
  assert results["teacher_loss"] == pytest.approx(float(out["teacher_loss"]))
  assert results["student_auc"] == 1.0 and results["student_click_auc"] == 0.0
  for metric in task.metrics:
    metric.reset_state()
  assert all(float(m.result()) == 0.0 for m in task.metrics)


def test_outputs_of_other_heads_than_the_modes_are_refused():
  task = tasks.DistillationTask.from_config(ModelConfig(task="cvr", mode="student"))
  with pytest.raises(ValueError, match=r"scores the heads \('student',\); "
                     r"the outputs hold \('student', 'teacher'\)"):
    task(tasks.HeadOutputs(labels=tf.constant([1.0]), student=head([0.0]),
                           teacher=head([0.0])))


def test_a_registered_loss_trains_with_no_edit_of_the_model_or_the_task(
    data_dir, monkeypatch):
  monkeypatch.setattr(registry, "DISTILLATION_LOSSES",
                      dict(registry.DISTILLATION_LOSSES))

  @losses.register_distillation_loss("absolute_logits")
  def absolute(inputs):
    return tf.abs(inputs.student_logits - inputs.teacher_logits)

  tf.keras.utils.set_random_seed(0)
  model = distillation.DistillationModel(SPEC, data_dir, ModelConfig(
      task="cvr", embedding_dim=4, student_hidden=(8,), teacher_hidden=(8,),
      distillation_loss="absolute_logits"))
  model.compile(optimizer=tf.keras.optimizers.SGD(0.1))
  model.build_from_batch(make_batch(99)[0])
  assert_distillation_misses_the_teacher(model)
  features, labels = make_batch(0)
  expected = np.mean(np.abs(model(features) - model.teacher_logits(features)))
  model.reset_metrics()
  logs = model.train_step((features, labels))
  assert float(logs["distillation_loss"]) == pytest.approx(expected, rel=1e-5)


def test_a_checkpoint_of_the_heads_alone_restores_the_whole_model(data_dir, tmp_path):
  # Metric states restart each epoch: none is in a checkpoint, so runs saved before
  # the task held the metrics (under the model) restore as well.
  model = distillation.DistillationModel(SPEC, data_dir, ModelConfig(
      task="cvr", embedding_dim=4, student_hidden=(8,), teacher_hidden=(8,)))
  model.build_from_batch(make_batch(99)[0])
  path = tf.train.Checkpoint(student=model.student, teacher=model.teacher).write(
      str(tmp_path / "heads"))
  model.load_weights(path).assert_existing_objects_matched()


def test_label_smoothing_is_the_cross_entropy_to_targets_mixed_with_the_base_rate():
  task = tasks.DistillationTask.from_config(
      ModelConfig(task="cvr", mode="smooth", lambda_value=0.25,
                  smoothing_base_rate=0.2))
  outputs = tasks.HeadOutputs(labels=tf.constant([1.0, 0.0]), student=head([0.0, LN3]))
  out = {k: float(v) for k, v in task(outputs, step=0).items()}
  # p = 1/2, 3/4. Hard BCE: ln 2 (y = 1) and ln 4 (y = 0): mean 3/2 ln 2.
  assert out["student_bce"] == pytest.approx(1.5 * LN2, rel=1e-6)
  # BCE(0.2, p): ln 2 at p = 1/2; -(0.2 ln 3/4 + 0.8 ln 1/4) = 2 ln 2 - 0.2 ln 3.
  assert out["distillation_loss"] == pytest.approx(1.5 * LN2 - 0.1 * LN3, rel=1e-6)
  # Targets (1 - 1/4) y + 1/4 * 0.2 = 0.8 and 0.05: BCE ln 2 and 2 ln 2 - 0.05 ln 3,
  # mean 3/2 ln 2 - 0.025 ln 3 = 3/4 * hard + 1/4 * smoothing.
  targets = 0.75 * np.array([1.0, 0.0]) + 0.25 * 0.2
  np.testing.assert_allclose(targets, [0.8, 0.05])
  assert out["student_loss"] == pytest.approx(1.5 * LN2 - 0.025 * LN3, rel=1e-6)
  assert out["student_loss"] == pytest.approx(float(tf.reduce_mean(
      tf.nn.sigmoid_cross_entropy_with_logits(tf.constant(targets, tf.float32),
                                              tf.constant([0.0, LN3])))), rel=1e-6)
  assert (out["lambda"], out["teacher_loss"]) == (0.25, 0.0)


def test_label_smoothing_needs_a_base_rate_and_only_there():
  with pytest.raises(ValueError, match="set smoothing_base_rate"):
    tasks.DistillationTask.from_config(ModelConfig(task="cvr", mode="smooth"))
  with pytest.raises(ValueError, match=r"smoothing_base_rate=0.1 needs mode 'smooth' "
                     r"\(got 'pfd'\)"):
    ModelConfig(task="cvr", smoothing_base_rate=0.1)
  with pytest.raises(ValueError, match="smoothing_base_rate=1.0 needs"):
    ModelConfig(task="cvr", mode="smooth", smoothing_base_rate=1.0)
  config = ModelConfig(task="cvr", mode="smooth", lambda_value="auto")
  assert not config.mode.has_teacher and config.mode.weighs_lambda
