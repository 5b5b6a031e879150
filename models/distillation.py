"""The teacher/student model: Privileged Features Distillation in one Keras model.

`call()` is the student alone and reads only the task's regular features: it is what
gets exported. The teacher exists only inside `train_step` / `test_step`.

The model builds the heads (`heads.build_head`), runs them once per batch into
`tasks.HeadOutputs`, and routes gradients; its `tasks.DistillationTask` turns those
outputs into the losses and keeps the metrics.

Gradient routing is explicit (`_route_gradients`): teacher-only weights learn from the
teacher loss only; student-only weights from the student loss; shared weights (the
embedding tables both use) from both, optionally without L_d. The teacher's logits
enter L_d through tf.stop_gradient, so the distillation term never reaches the teacher
(PFD section 4, after Rocket Launching), not even through a shared table.

Mode pfd_permuted (a control) hands the teacher the batch with its privileged rows
shifted to other examples (`teacher_inputs`, `row_shift`); the student and the routing
are PFD's.
"""

from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf

from features import spec as spec_lib
from models import embeddings
from models import heads
from models import row_shift
from models import tasks
from models.heads import towers
from models.config import HeadRole, ModelConfig, TeacherReads


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
    unknown = config.teacher_dropped_features - {f.name for f in privileged}
    if unknown:
      raise ValueError(f"teacher_dropped_features {sorted(unknown)} are not privileged "
                       f"features of task {task!r}: {[f.name for f in privileged]}.")
    privileged = [f for f in privileged
                  if f.name not in config.teacher_dropped_features]
    teacher_features = {TeacherReads.PRIVILEGED: privileged,
                        TeacherReads.REGULAR: self.student_features}.get(
        config.mode.spec.teacher_reads, self.student_features + privileged)
    self.teacher_features = teacher_features if config.mode.has_teacher else []
    # Mode pfd_permuted: what `teacher_inputs` shifts across the batch.
    self.permuted_features = ([f.name for f in privileged]
                              if config.mode.permutes_privileged else [])

    def vocabularies(features):
      return {f.vocabulary for f in features if f.vocabulary is not None}

    student_vocabs = (vocabularies(self.student_features) if config.mode.has_student
                      else set())
    teacher_vocabs = vocabularies(self.teacher_features)
    shared_names = (student_vocabs & teacher_vocabs) - config.unshared_vocabularies
    dim = config.embedding_dim
    hash_bins = dict(config.hash_bins)
    shared = embeddings.build_tables(data_dir, shared_names, dim, "shared", hash_bins)

    def head(role, features, vocabs, shared_encoder=None):
      tables = {**embeddings.build_tables(data_dir, vocabs - shared_names, dim,
                                          role.value, hash_bins), **shared}
      return heads.build_head(heads.HeadInputs(role, config.head(role), task,
                                               features, tables, spec, shared_encoder))

    if config.mode.has_student:
      self.student = head(HeadRole.STUDENT, self.student_features, student_vocabs)
    if config.mode.has_teacher and config.share_student_encoding:
      # The teacher encodes only X* and reads the student's encoding of X.
      self.teacher = head(HeadRole.TEACHER, privileged, vocabularies(privileged),
                          self.student.encoder)
    elif config.mode.has_teacher:
      self.teacher = head(HeadRole.TEACHER, self.teacher_features, teacher_vocabs)
    # Every head of the mode trains unless a stage says otherwise (`train_heads`).
    self._trained_heads = frozenset(config.mode.roles())
    self.task = tasks.DistillationTask.from_config(config, {
        role: heads.auxiliary_labels(self.head(role)) for role in config.mode.roles()})
    # A ranking loss reads each example's request from the batch's features.
    self.request_feature = None
    if self.task.reads_requests:
      if spec.request_feature is None:
        raise ValueError(
            f"Distillation loss {config.distillation_loss!r} ranks within requests, "
            "but the spec names no request feature: add `request: <feature>` to its "
            "identity (WORKSPACE.md, 'The feature spec file').")
      self.request_feature = spec.request_feature
    # Hint transfer's projection of the student's hidden layer onto the teacher's: a
    # student-side weight, trained by the hint term alone, never exported. A model
    # variable, not the task's, so that the routing sees every trainable weight.
    self.hint_projection = (tf.keras.layers.Dense(
        config.teacher.hidden[-1], name="hint_projection")
                            if config.hint_weight else None)
    # The auxiliary logit the student distils through (ModelConfig.distillation_head):
    # a student-side weight like the projection, never exported.
    self.distillation_head = (tf.keras.layers.Dense(1, name="distillation_head")
                              if config.distillation_head else None)

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

  def teacher_inputs(self, features: Mapping[str, tf.Tensor]
                     ) -> Mapping[str, tf.Tensor]:
    """The batch as the teacher reads it: as it is, or in mode pfd_permuted with
    every privileged feature's rows shifted by one random offset per batch
    (`row_shift.derange_rows`): the same values per batch, none at its own example
    (but in a batch of one, at most the last of an epoch). The student never reads
    them."""
    if not self.permuted_features:
      return features
    return row_shift.derange_rows(features, self.permuted_features)

  def teacher_logits(self, features: Mapping[str, tf.Tensor], training: bool = False,
                     lookups: towers.BatchLookups | None = None,
                     with_hidden: bool = False
                     ) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
    """The teacher's logits `[batch]`; with `with_hidden`, (logits, its last hidden
    layer `[batch, config.teacher.hidden[-1]]`), what hint transfer matches.

    The one way to the teacher's outputs (the distillation term, the hint term and
    `predict_step` all read them here), so a subclass that replaces the teacher
    (benchmarks/teacher_ceiling.py's oracle) replaces it for every term, or refuses
    `with_hidden` when it has no hidden layer.
    """
    if with_hidden:  # MLP/DCN heads only (ModelConfig checks hint_weight's heads).
      return self.teacher(features, training=training, lookups=lookups,
                          with_hidden=True)
    return self.teacher(features, training=training, lookups=lookups)

  def build_from_batch(self, features: Mapping[str, tf.Tensor]) -> None:
    """Creates every variable by running both heads once (`call` alone may not run).

    Keras' BackupAndRestore and checkpoint restores need a built model before `fit`.
    """
    self.predict_step(features)
    for layer in (self.hint_projection, self.distillation_head):
      if layer is not None:  # Only the training step calls them.
        layer.build([None, self.model_config.student.hidden[-1]])
    self.built = True

  def head(self, role: HeadRole) -> heads.Head:
    """The head of `role` (the mode must have it)."""
    return self.student if role is HeadRole.STUDENT else self.teacher

  @property
  def trained_heads(self) -> frozenset[HeadRole]:
    """The heads the next `fit` trains (the others keep their weights)."""
    return self._trained_heads

  def train_heads(self, roles: frozenset[HeadRole]) -> None:
    """Trains `roles` from now on (a stage of `models.training.stages`): a head of the
    mode left out is frozen, its loss and weights out of every update.

    Raises:
      ValueError: `roles` is empty or names a head the mode lacks.
    """
    roles = frozenset(roles)
    present = frozenset(self.model_config.mode.roles())
    if not roles or not roles <= present:
      raise ValueError(f"train_heads: {sorted(r.value for r in roles)} must be heads of "
                       f"mode {self.model_config.mode.value!r}: "
                       f"{sorted(r.value for r in present)}.")
    self._trained_heads = roles
    self.train_function = None  # Which heads learn is traced into the step.

  def _frozen(self, role: HeadRole) -> bool:
    """Whether `role` is a head of the mode that is not trained now."""
    return self.model_config.mode.has(role) and role not in self._trained_heads

  def _encoders(self) -> list[towers.FeatureEncoder]:
    """Every present head's feature encoders, the teacher's first."""
    present = [self.head(role) for role in reversed(self.model_config.mode.roles())]
    return [module for head in present for module in head.submodules
            if isinstance(module, towers.FeatureEncoder)]

  # --- Variable groups ---------------------------------------------------------

  def _head_variables(self, role: HeadRole) -> list[tf.Variable]:
    if not self.model_config.mode.has(role):
      return []
    variables = self.head(role).trainable_variables
    if role is HeadRole.STUDENT:
      variables = variables + [v for layer in (self.hint_projection,
                                               self.distillation_head)
                               if layer is not None for v in layer.trainable_variables]
    return variables

  def variable_groups(self) -> dict[str, list[tf.Variable]]:
    """Trainable variables split into teacher_only / student_only / shared."""
    student, teacher = (self._head_variables(HeadRole.STUDENT),
                        self._head_variables(HeadRole.TEACHER))
    teacher_ids = {id(v) for v in teacher}
    student_ids = {id(v) for v in student}
    return {
        "teacher_only": _unique(v for v in teacher if id(v) not in student_ids),
        "student_only": _unique(v for v in student if id(v) not in teacher_ids),
        "shared": _unique(v for v in student if id(v) in teacher_ids),
    }

  # --- Losses ------------------------------------------------------------------

  def head_outputs(self, features: Mapping[str, tf.Tensor], labels: tf.Tensor,
                   sample_weight: tf.Tensor | None, training: bool
                   ) -> tasks.HeadOutputs:
    """Every present head run once on the batch: what the task's losses read.

    Args:
      features: The batch's features (auxiliary labels and request ids included).
      labels: [batch_size] 0/1 labels of the task.
      sample_weight: None or [batch_size] weights.
      training: Passed to the heads.
    """
    config = self.model_config
    # Shared tables are looked up once per batch for both heads, and their poolings
    # of a shared sequence run together.
    lookups = towers.BatchLookups(self._encoders())
    outputs, auxiliary_labels = {}, {}
    # The teacher through `teacher_logits`, which a subclass may override. A
    # permuted privileged feature is read by the teacher alone, so its lookups,
    # kept per table and feature, are never the student's.
    inputs = {HeadRole.TEACHER: self.teacher_inputs(features)
              if config.mode.has_teacher else features, HeadRole.STUDENT: features}
    for head, logits_of in ((HeadRole.TEACHER, self.teacher_logits),
                            (HeadRole.STUDENT, self)):
      if not config.mode.has(head):
        continue
      module, hint, distilled = self.head(head), None, None
      student_hidden = head is HeadRole.STUDENT and self.distillation_head is not None
      if config.hint_weight or student_hidden:
        # MLP/DCN heads only (ModelConfig): no auxiliary outputs. The teacher's hint
        # and logits from the same `teacher_logits` as without hints: a replaced
        # teacher is the one both transfer terms read.
        logits, hidden = (self.teacher_logits if head is HeadRole.TEACHER else module)(
            inputs[head], training=training, lookups=lookups, with_hidden=True)
        if config.hint_weight:
          hint = self.hint_projection(hidden) if head is HeadRole.STUDENT else hidden
        if student_hidden:
          distilled = tf.squeeze(self.distillation_head(hidden), axis=-1)
      else:
        logits = logits_of(inputs[head], training=training, lookups=lookups)
      auxiliary = heads.auxiliary_logits(module, inputs[head], training=training,
                                         lookups=lookups)
      for label in auxiliary:
        if label not in features:
          raise ValueError(
              f"The {head.value} learns the auxiliary label {label!r}, which the batch's "
              f"features lack ({sorted(features)}): make_dataset delivers the task's "
              "auxiliary_labels there.")
        auxiliary_labels[label] = features[label]
      outputs[head.value] = tasks.HeadOutput(logits, auxiliary, hint, distilled)
    return tasks.HeadOutputs(
        labels=tf.cast(labels, tf.float32), **outputs,
        auxiliary_labels=auxiliary_labels,
        request_ids=features[self.request_feature] if self.request_feature else None,
        sample_weight=sample_weight)

  def compute_losses(self, features: Mapping[str, tf.Tensor], labels: tf.Tensor,
                     sample_weight: tf.Tensor | None, training: bool
                     ) -> dict[str, tf.Tensor]:
    """The task's scalar losses of the batch (`tasks.DistillationTask.call`, which
    also updates the metrics)."""
    step = self.optimizer.iterations if self.optimizer is not None else None
    return self.task(self.head_outputs(features, labels, sample_weight, training),
                     step=step)

  def objectives(self, out: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The loss each variable group learns from (call inside the tape: the sums here
    must be recorded for their gradients to exist)."""
    config = self.model_config
    zero = tf.constant(0.0)
    student_frozen = self._frozen(HeadRole.STUDENT)
    teacher_loss = zero if self._frozen(HeadRole.TEACHER) else out["teacher_loss"]
    student_loss = zero if student_frozen else out["student_loss"]
    shared_student_loss = student_loss if config.distill_into_shared or (
        student_frozen) else (1.0 - out["lambda"]) * out["student_bce"]
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
    if self._frozen(HeadRole.TEACHER):
      groups["teacher_only"] = []
    if self._frozen(HeadRole.STUDENT):
      groups["student_only"] = []
    if self.model_config.distill_into_shared or self._frozen(HeadRole.STUDENT):
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
      # (a stage that trains the other) must not leave the optimizer unbuilt for it.
      self.optimizer.build(self.trainable_variables)
    self.optimizer.apply_gradients(self._route_gradients(tape, objectives))
    del tape
    return self._results()

  def test_step(self, data):
    features, labels, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
    self.compute_losses(features, labels, sample_weight, training=False)
    return self._results()

  def predict_step(self, data):
    features, _, _ = tf.keras.utils.unpack_x_y_sample_weight(data)
    predictions = {}
    if self.model_config.mode.has_student:
      predictions[HeadRole.STUDENT.value] = tf.sigmoid(self(features))
    if self.model_config.mode.has_teacher:
      predictions[HeadRole.TEACHER.value] = tf.sigmoid(self.teacher_logits(
          self.teacher_inputs(features)))
    return predictions

  def _results(self) -> dict[str, tf.Tensor]:
    return {m.name: m.result() for m in self.metrics}

  @property
  def metrics(self):
    # The task's: listed here so Keras resets them at each epoch and evaluation.
    return self.task.metrics

  def get_config(self) -> dict[str, Any]:
    return {"model_config": self.model_config.to_dict()}
