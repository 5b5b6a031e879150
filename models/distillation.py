"""The teacher/student model: Privileged Features Distillation in one Keras model.

`call()` is the student alone and reads only the task's regular features: it is what
gets exported. The teacher exists only inside `train_step` / `test_step`.

Losses (per example, averaged over the GLOBAL batch so a distribution strategy gives
the same update as one device):
  teacher_loss = BCE(y, teacher)
  student_loss = (1 - lambda) * BCE(y, student) + lambda * L_d(teacher, student)

Gradient routing is explicit (`_route_gradients`): teacher-only weights learn from the
teacher loss only; student-only weights from the student loss; shared weights (the
embedding tables both use) from both, optionally without L_d. The teacher's logits
enter L_d through tf.stop_gradient, so the distillation term never reaches the teacher
(PFD section 4, after Rocket Launching), not even through a shared table.
"""

from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf

from features import spec as spec_lib
from models import embeddings
from models import heads
from models import losses
from models import metrics as metrics_lib
from models import towers
from models.config import LAMBDA_AUTO, Mode, ModelConfig


def _unique(variables) -> list[tf.Variable]:
  seen, result = set(), []
  for v in variables:
    if id(v) not in seen:
      seen.add(id(v))
      result.append(v)
  return result


class DistillationModel(tf.keras.Model):
  """Teacher and student trained on the same batches.

  Args:
    spec: The dataset's feature spec.
    data_dir: The dataset directory (its vocabularies become the lookup tables).
    config: Hyper-parameters; `config.mode` decides which heads exist.
  """

  def __init__(self, spec: spec_lib.FeatureSpec, data_dir: str, config: ModelConfig,
               **kwargs):
    super().__init__(**kwargs)
    self.spec = spec
    self.model_config = config
    task = config.task
    self.student_features = spec.regular(task)
    privileged = spec.privileged(task)
    teacher_features = {Mode.LUPI: privileged, Mode.MD: self.student_features}.get(
        config.mode, self.student_features + privileged)
    self.teacher_features = teacher_features if config.mode.has_teacher else []

    def vocabularies(features):
      return {f.vocabulary for f in features if f.vocabulary is not None}

    student_vocabs = (vocabularies(self.student_features) if config.mode.has_student
                      else set())
    teacher_vocabs = vocabularies(self.teacher_features)
    shared_names = (student_vocabs & teacher_vocabs) - config.unshared_vocabularies
    dim = config.embedding_dim
    hash_bins = dict(config.hash_bins)
    shared = embeddings.build_tables(data_dir, shared_names, dim, "shared", hash_bins)

    def head(name, features, vocabs, shared_encoder=None):
      tables = {**embeddings.build_tables(data_dir, vocabs - shared_names, dim, name,
                                          hash_bins), **shared}
      return heads.build_head(heads.HeadInputs(name, features, tables, spec, config,
                                               shared_encoder))

    if config.mode.has_student:
      self.student = head("student", self.student_features, student_vocabs)
    if config.mode.has_teacher and config.share_student_encoding:
      # The teacher encodes only X* and reads the student's encoding of X.
      self.teacher = head("teacher", privileged, vocabularies(privileged),
                          self.student.encoder)
    elif config.mode.has_teacher:
      self.teacher = head("teacher", self.teacher_features, teacher_vocabs)
    # Mode.TWO_STAGE trains the teacher alone (student frozen), then the student
    # against the frozen teacher. Changing these needs a new train function.
    self.teacher_frozen = False
    self.student_frozen = False
    self.distillation_loss = losses.get_distillation_loss(config.distillation_loss)
    # A ranking loss reads each example's request from the batch's features.
    self.request_feature = None
    if config.distillation_loss in losses.REQUEST_LOSSES:
      if spec.request_feature is None:
        raise ValueError(
            f"Distillation loss {config.distillation_loss!r} ranks within requests, "
            "but the spec names no request feature: add `request: <feature>` to its "
            "identity (WORKSPACE.md, 'The feature spec file').")
      self.request_feature = spec.request_feature
    if config.lambda_value == LAMBDA_AUTO:
      raise ValueError(f"lambda_value={LAMBDA_AUTO!r} is chosen by models.train on "
                       "validation; a model is built with a number (the chosen one is "
                       "metrics.json's model_config).")
    self.lambda_schedule = losses.LambdaSchedule(
        config.lambda_value if config.mode.distills else 0.0, config.swap_step,
        config.ramp_steps)
    # Hint transfer's projection of the student's hidden layer onto the teacher's: a
    # student-side weight, trained by the hint term alone, never exported.
    self.hint_projection = (tf.keras.layers.Dense(
        config.teacher_hidden[-1], name="hint_projection")
                            if config.hint_weight else None)
    self._trackers = {name: tf.keras.metrics.Mean(name=name) for name in (
        "student_loss", "teacher_loss", "distillation_loss", "lambda") + (
            ("hint_loss",) if config.hint_weight else ())}
    self._head_metrics = {}
    for head, present in (("student", config.mode.has_student),
                          ("teacher", config.mode.has_teacher)):
      if present:
        self._head_metrics[head] = metrics_lib.head_metrics(head)

  # --- Heads -------------------------------------------------------------------

  def call(self, features: Mapping[str, tf.Tensor], training: bool = False,
           lookups: towers.BatchLookups | None = None) -> tf.Tensor:
    """The student's logits `[batch]`, from the task's regular features only.

    `lookups` lets a training step reuse the embeddings the teacher already looked
    up in shared tables (keyed by table and feature, so only the student's own
    features are read from it).
    """
    if not self.model_config.mode.has_student:
      raise ValueError(f"Mode {self.model_config.mode.value!r} has no student.")
    return self.student(features, training=training, lookups=lookups)

  def teacher_logits(self, features: Mapping[str, tf.Tensor], training: bool = False,
                     lookups: towers.BatchLookups | None = None) -> tf.Tensor:
    return self.teacher(features, training=training, lookups=lookups)

  def build_from_batch(self, features: Mapping[str, tf.Tensor]) -> None:
    """Creates every variable by running both heads once (`call` alone may not run).

    Keras' BackupAndRestore and checkpoint restores need a built model before `fit`.
    """
    self.predict_step(features)
    if self.hint_projection is not None:  # Only the training step calls it.
      self.hint_projection.build([None, self.model_config.student_hidden[-1]])
    self.built = True

  def _encoders(self) -> list[towers.FeatureEncoder]:
    """Every present head's feature encoders."""
    heads = [getattr(self, head) for head in ("teacher", "student")
             if getattr(self.model_config.mode, f"has_{head}")]
    return [module for head in heads for module in head.submodules
            if isinstance(module, towers.FeatureEncoder)]

  # --- Variable groups ---------------------------------------------------------

  def _head_variables(self, head: str) -> list[tf.Variable]:
    present = getattr(self.model_config.mode, f"has_{head}")
    if not present:
      return []
    variables = getattr(self, head).trainable_variables
    if head == "student" and self.hint_projection is not None:
      variables = variables + self.hint_projection.trainable_variables
    return variables

  def variable_groups(self) -> dict[str, list[tf.Variable]]:
    """Trainable variables split into teacher_only / student_only / shared."""
    student, teacher = self._head_variables("student"), self._head_variables("teacher")
    teacher_ids = {id(v) for v in teacher}
    student_ids = {id(v) for v in student}
    return {
        "teacher_only": _unique(v for v in teacher if id(v) not in student_ids),
        "student_only": _unique(v for v in student if id(v) not in teacher_ids),
        "shared": _unique(v for v in student if id(v) in teacher_ids),
    }

  # --- Losses ------------------------------------------------------------------

  def compute_losses(self, features, labels, sample_weight, training: bool
                     ) -> dict[str, tf.Tensor]:
    """Scalar losses (global-batch averages) and the heads' logits."""
    config = self.model_config
    labels = tf.cast(labels, tf.float32)

    def average(per_example):
      return tf.nn.compute_average_loss(per_example, sample_weight=sample_weight)

    out = {"lambda": self.lambda_schedule(self.optimizer.iterations)
           if self.optimizer is not None else tf.constant(0.0)}
    zero = tf.constant(0.0)
    out["teacher_loss"] = out["distillation_loss"] = out["student_bce"] = zero
    # Shared tables are looked up once per batch for both heads, and their poolings
    # of a shared sequence run together.
    lookups = towers.BatchLookups(self._encoders())
    hints = bool(config.hint_weight)
    if config.mode.has_teacher:
      if hints:
        out["teacher_logits"], teacher_hidden = self.teacher(
            features, training=training, lookups=lookups, with_hidden=True)
      else:
        out["teacher_logits"] = self.teacher_logits(features, training=training,
                                                    lookups=lookups)
      out["teacher_loss"] = average(losses.binary_cross_entropy(
          labels, out["teacher_logits"]))
    if config.mode.has_student:
      if hints:
        out["student_logits"], student_hidden = self.student(
            features, training=training, lookups=lookups, with_hidden=True)
      else:
        out["student_logits"] = self(features, training=training, lookups=lookups)
      out["student_bce"] = average(losses.binary_cross_entropy(
          labels, out["student_logits"]))
      if config.mode.has_teacher:
        soft = out["teacher_logits"]
        if config.block_distillation_gradient:
          soft = tf.stop_gradient(soft)
        out["distillation_loss"] = average(self.distillation_loss(
            losses.DistillationInputs(teacher_logits=soft,
                                      student_logits=out["student_logits"],
                                      labels=labels, temperature=config.temperature,
                                      request_ids=(features[self.request_feature]
                                                   if self.request_feature else None),
                                      top_k=config.ranking_top_k)))
    lam = out["lambda"]
    transferred = out["distillation_loss"]
    if hints:
      # The teacher's side is blocked as the soft label is: the hint teaches the
      # student only.
      target = (tf.stop_gradient(teacher_hidden) if config.block_distillation_gradient
                else teacher_hidden)
      out["hint_loss"] = average(tf.reduce_mean(tf.math.squared_difference(
          self.hint_projection(student_hidden), target), axis=-1))
      transferred += config.hint_weight * out["hint_loss"]
    out["student_loss"] = (1.0 - lam) * out["student_bce"] + lam * transferred
    return out

  def objectives(self, out: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The loss each variable group learns from (call inside the tape: the sums here
    must be recorded for their gradients to exist)."""
    config = self.model_config
    zero = tf.constant(0.0)
    teacher_loss = zero if self.teacher_frozen else out["teacher_loss"]
    student_loss = zero if self.student_frozen else out["student_loss"]
    shared_student_loss = student_loss if config.distill_into_shared or (
        self.student_frozen) else (1.0 - out["lambda"]) * out["student_bce"]
    return {
        # With the block off, the distillation term reaches the teacher: that is the
        # failure PFD avoids, kept switchable so a test can show the difference.
        "teacher_only": teacher_loss if config.block_distillation_gradient
                        else teacher_loss + student_loss,
        "student_only": student_loss,
        "shared": teacher_loss + shared_student_loss,
    }

  def _route_gradients(self, tape: tf.GradientTape, objectives: Mapping[str, tf.Tensor]
                       ) -> list[tuple[tf.Tensor, tf.Variable]]:
    """Each variable group's gradient from its own objective only.

    In one backward pass whenever the shared objective is the sum of both heads'
    losses, i.e. unless `distill_into_shared` is off: every other group's objective
    equals that sum up to terms its variables cannot reach. The teacher loss reads no
    student-only variable; the student loss reaches teacher-only variables only
    through the tf.stop_gradient on the soft label (with the block off, their
    objective is the sum itself). A pass per group would backpropagate through each
    head two or three times (the shared tables' gradients cross both heads).
    """
    groups = self.variable_groups()
    if self.teacher_frozen:
      groups["teacher_only"] = []
    if self.student_frozen:
      groups["student_only"] = []
    if self.model_config.distill_into_shared or self.student_frozen:
      groups = {"shared": [v for variables in groups.values() for v in variables]}
    pairs = []
    for group, variables in groups.items():
      if variables:
        gradients = tape.gradient(objectives[group], variables)
        pairs.extend((g, v) for g, v in zip(gradients, variables) if g is not None)
    return pairs

  # --- Keras hooks -------------------------------------------------------------

  def train_step(self, data):
    features, labels, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
    with tf.GradientTape(persistent=True) as tape:
      out = self.compute_losses(features, labels, sample_weight, training=True)
      objectives = self.objectives(out)
    with tf.init_scope():
      # Slots for every variable, not just the ones this step updates: a frozen head
      # (two-stage training) must not leave the optimizer unbuilt for it.
      self.optimizer.build(self.trainable_variables)
    self.optimizer.apply_gradients(self._route_gradients(tape, objectives))
    del tape
    return self._update_metrics(out, labels, sample_weight)

  def test_step(self, data):
    features, labels, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
    out = self.compute_losses(features, labels, sample_weight, training=False)
    return self._update_metrics(out, labels, sample_weight)

  def predict_step(self, data):
    features, _, _ = tf.keras.utils.unpack_x_y_sample_weight(data)
    predictions = {}
    if self.model_config.mode.has_student:
      predictions["student"] = tf.sigmoid(self(features))
    if self.model_config.mode.has_teacher:
      predictions["teacher"] = tf.sigmoid(self.teacher_logits(features))
    return predictions

  def _update_metrics(self, out, labels, sample_weight) -> dict[str, tf.Tensor]:
    # compute_average_loss gives each replica its share of the global average; the
    # trackers average over replicas, so scale back to the global value.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    for name, tracker in self._trackers.items():
      scale = 1.0 if name == "lambda" else float(replicas)
      tracker.update_state(out[name] * scale)
    for head, head_metrics in self._head_metrics.items():
      probabilities = tf.sigmoid(out[f"{head}_logits"])
      for metric in head_metrics:
        metric.update_state(labels, probabilities, sample_weight=sample_weight)
    return {m.name: m.result() for m in self.metrics}

  @property
  def metrics(self):
    # Listed here so Keras resets them at each epoch and evaluation.
    return list(self._trackers.values()) + [
        m for head_metrics in self._head_metrics.values() for m in head_metrics]

  def get_config(self) -> dict[str, Any]:
    return {"model_config": self.model_config.to_dict()}
