"""PFD's training contract: gradient routing, lambda schedule, student independence."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from features import spec as spec_lib
from models import distillation
from models import losses
from models.config import HeadRole, ModelConfig

from synthetic import SPEC, assert_distillation_misses_the_teacher, make_batch

ALL_VOCABS = frozenset(SPEC.vocabularies())
SMALL = dict(task="cvr", embedding_dim=4, student_hidden=(8,), teacher_hidden=(8,))


def build(data_dir, seed=0, **overrides):
  tf.keras.utils.set_random_seed(seed)
  config = ModelConfig(**{**SMALL, **overrides})
  model = distillation.DistillationModel(SPEC, data_dir, config)
  # SGD, not Adam: Adam's first steps follow the sign of the gradient only, which
  # would hide a change of its size.
  model.compile(optimizer=tf.keras.optimizers.SGD(0.1))
  model.build_from_batch(make_batch(99)[0])
  assert model.built  # What BackupAndRestore needs before fit.
  return model


def train(model, batches):
  return [{k: v.numpy() for k, v in model.train_step(b).items()} for b in batches]


def teacher_weights(model):
  return [v.numpy() for v in model.variable_groups()["teacher_only"]]


def test_distillation_loss_has_no_gradient_to_any_teacher_variable(data_dir):
  assert_distillation_misses_the_teacher(build(data_dir, task="cvr", mode="pfd"))


def test_teacher_is_bitwise_identical_for_lambda_0_and_half_without_sharing(
    data_dir, batches):
  tf.config.experimental.enable_op_determinism()
  runs = []
  for lam in (0.0, 0.5):
    model = build(data_dir, lambda_value=lam, unshared_vocabularies=ALL_VOCABS)
    assert not model.variable_groups()["shared"]
    train(model, batches)
    runs.append(teacher_weights(model))
  for a, b in zip(*runs):
    np.testing.assert_array_equal(a, b)


def test_without_the_block_the_teacher_changes_with_lambda(data_dir, batches):
  tf.config.experimental.enable_op_determinism()
  runs = []
  for lam in (0.0, 0.5):
    model = build(data_dir, lambda_value=lam, unshared_vocabularies=ALL_VOCABS,
                  block_distillation_gradient=False)
    train(model, batches)
    runs.append(teacher_weights(model))
  assert max(float(np.max(np.abs(a - b))) for a, b in zip(*runs)) > 1e-6


def test_shared_embeddings_receive_student_gradients(data_dir):
  model = build(data_dir, mode="pfd")
  shared = model.variable_groups()["shared"]
  assert any("shared_item_id" in v.name for v in shared)
  features, labels = make_batch(2)
  with tf.GradientTape() as tape:
    out = model.compute_losses(features, labels, None, training=True)
  grads = tape.gradient(out["student_loss"], shared)
  assert all(g is not None for g in grads)
  assert any(float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) > 0 for g in grads)


def test_one_step_moves_every_group_by_its_own_objective(data_dir):
  model = build(data_dir, mode="pfd", unshared_vocabularies={"user_id"})
  groups = model.variable_groups()
  assert all(groups[g] for g in ("teacher_only", "student_only", "shared"))
  before = {g: [v.numpy() for v in vs] for g, vs in groups.items()}
  train(model, [make_batch(5)])
  for group, variables in groups.items():
    changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before[group],
                                                                 variables)]
    assert any(changed), group


@pytest.mark.parametrize("overrides", [
    {}, {"distill_into_shared": False}, {"block_distillation_gradient": False},
    {"share_student_encoding": True}])
def test_routed_gradients_are_each_groups_own_objectives(data_dir, overrides):
  """The routing may share backward passes between groups, never their objectives."""
  model = build(data_dir, mode="pfd", unshared_vocabularies={"user_id"}, **overrides)
  features, labels = make_batch(4)
  with tf.GradientTape(persistent=True) as tape:
    objectives = model.objectives(model.compute_losses(features, labels, None,
                                                       training=True))
  routed = {id(v): g for g, v in model._route_gradients(tape, objectives)}  # pylint: disable=protected-access
  compared = 0
  for group, variables in model.variable_groups().items():
    for variable, expected in zip(variables, tape.gradient(objectives[group],
                                                           variables)):
      if expected is None:
        assert id(variable) not in routed, variable.name
        continue
      np.testing.assert_allclose(tf.convert_to_tensor(routed[id(variable)]),
                                 tf.convert_to_tensor(expected), rtol=1e-5,
                                 atol=1e-7, err_msg=f"{group}: {variable.name}")
      compared += 1
  assert compared == len(routed) > 0


def _batched_products(model, features, labels):
  graph = tf.function(lambda: model.compute_losses(
      features, labels, None, training=True)).get_concrete_function().graph
  return sum(op.type.startswith("BatchMatMul") for op in graph.get_operations())


def test_shared_tables_pool_both_heads_in_one_product_per_sequence(data_dir):
  features, labels = make_batch(0)
  attended = [f for f in SPEC.regular("cvr") if f.is_sequence]
  shared = build(data_dir, task="cvr", mode="pfd")
  unshared = build(data_dir, task="cvr", mode="pfd", unshared_vocabularies=ALL_VOCABS)
  # Scores and pooling: two products per sequence for both heads, or per head.
  assert _batched_products(shared, features, labels) == 2 * len(attended)
  assert _batched_products(unshared, features, labels) == 4 * len(attended)


def test_lambda_is_exactly_zero_before_the_swap_step(data_dir):
  model = build(data_dir, lambda_value=0.5, swap_step=3)
  logs = train(model, [make_batch(s) for s in range(5)])
  assert [float(l["lambda"]) for l in logs[:3]] == [0.0, 0.0, 0.0]
  assert float(logs[-1]["lambda"]) > 0  # Mean over steps 0..4 includes 0.5s.


@pytest.mark.parametrize("share_student_encoding", [False, True])
def test_student_output_ignores_every_privileged_input(data_dir,
                                                       share_student_encoding):
  model = build(data_dir, task="cvr", mode="pfd",
                share_student_encoding=share_student_encoding)
  features, _ = make_batch(3)
  other, _ = make_batch(4)
  privileged = [f.name for f in SPEC.privileged("cvr")]
  assert privileged
  swapped = dict(features, **{name: other[name] for name in privileged})
  np.testing.assert_array_equal(model(features).numpy(), model(swapped).numpy())
  # The teacher does read them (so the test above could fail).
  assert not np.array_equal(model.teacher_logits(features).numpy(),
                            model.teacher_logits(swapped).numpy())


def test_a_teacher_on_the_students_encoding_shares_it_but_not_the_distillation(
    data_dir):
  model = build(data_dir, task="cvr", mode="pfd", share_student_encoding=True)
  groups = model.variable_groups()
  shared = {id(v) for v in groups["shared"]}
  assert all(id(v) in shared for v in model.student.encoder.trainable_variables)
  assert not model.teacher.encoder.trainable_variables  # X*: numbers only, no table.
  assert_distillation_misses_the_teacher(model)
  # The teacher reads the regular features through the student's encoding.
  features, _ = make_batch(3)
  other, _ = make_batch(4)
  swapped = dict(features, item_id=other["item_id"])
  assert not np.array_equal(model.teacher_logits(features).numpy(),
                            model.teacher_logits(swapped).numpy())


def test_sharing_the_students_encoding_needs_a_teacher_of_regular_features():
  with pytest.raises(ValueError, match="share_student_encoding"):
    ModelConfig(task="cvr", mode="lupi", share_student_encoding=True)


def test_lupi_teacher_reads_privileged_features_only(data_dir):
  model = build(data_dir, mode="lupi")
  assert {f.name for f in model.teacher_features} == {
      f.name for f in SPEC.privileged("cvr")}


def test_md_teacher_reads_the_students_features_and_is_blocked(data_dir):
  model = build(data_dir, mode="md", teacher_hidden=(16, 8))
  assert [f.name for f in model.teacher_features] == [
      f.name for f in model.student_features]
  assert not {f.name for f in SPEC.privileged("cvr")} & {
      f.name for f in model.teacher_features}
  assert float(model.task.lambda_schedule(0)) == 0.5  # MD distils like PFD.
  assert_distillation_misses_the_teacher(model)


def test_two_stage_freezes_one_head_at_a_time(data_dir, batches):
  model = build(data_dir, mode="two_stage", unshared_vocabularies=ALL_VOCABS)
  for frozen, moving in (("student", "teacher"), ("teacher", "student")):
    model.train_heads(frozenset({HeadRole(moving)}))
    groups = model.variable_groups()
    before = {g: [v.numpy() for v in groups[f"{g}_only"]] for g in (frozen, moving)}
    train(model, batches)
    for a, v in zip(before[frozen], groups[f"{frozen}_only"]):
      np.testing.assert_array_equal(a, v.numpy())
    assert any(not np.array_equal(a, v.numpy())
               for a, v in zip(before[moving], groups[f"{moving}_only"]))


def test_student_mode_has_no_teacher_and_teacher_mode_no_student(data_dir):
  assert not build(data_dir, mode="student").variable_groups()["teacher_only"]
  teacher_only = build(data_dir, mode="teacher")
  assert not teacher_only.variable_groups()["student_only"]
  with pytest.raises(ValueError, match="no student"):
    teacher_only(make_batch(0)[0])


MIRRORED_SCRIPT = r"""
import sys
sys.path[:0] = [{root!r}, {tests!r}]
import legacy_keras
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from synthetic import SPEC, make_batch
from models import distillation
from models.config import HeadRole, ModelConfig

def weights(strategy):
  with strategy.scope():
    tf.keras.utils.set_random_seed(0)
    model = distillation.DistillationModel(SPEC, {data_dir!r}, ModelConfig(
        task="cvr", embedding_dim=4, student_hidden=(8,), teacher_hidden=(8,)))
    model.compile(optimizer=tf.keras.optimizers.SGD(0.5))
    features, labels = make_batch(7, batch_size=16)
    model.predict_step((features, labels))  # Builds the variables in the scope.
  dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(16)
  before = [v.numpy() for v in model.trainable_variables]
  model.fit(dataset, epochs=1, verbose=0)
  return before, [v.numpy() for v in model.trainable_variables]

init, one = weights(tf.distribute.OneDeviceStrategy("/cpu:0"))
_, two = weights(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
assert len(one) == len(two)
worst = max(float(np.max(np.abs(a - b))) for a, b in zip(one, two))
moved = max(float(np.max(np.abs(a - b))) for a, b in zip(one, init))
print("MAX_DIFF", worst, "MOVED", moved)
"""


def test_one_mirrored_step_on_two_devices_equals_one_device(data_dir):
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  script = MIRRORED_SCRIPT.format(root=root, tests=os.path.dirname(__file__),
                                  data_dir=data_dir)
  result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, check=False, cwd=root)
  assert result.returncode == 0, result.stderr[-3000:]
  diff = float(result.stdout.split("MAX_DIFF")[1].split()[0])
  moved = float(result.stdout.split("MOVED")[1].split()[0])
  assert moved > 1e-3  # The step changed the weights...
  assert diff < 1e-5  # ...identically on one device and on two replicas.


def test_hashed_vocabulary_uses_its_own_number_of_rows(data_dir):
  model = build(data_dir, hash_bins={"user_id": 97})
  tables = [v for v in model.variable_groups()["shared"] if "shared_user_id" in v.name]
  assert [t.shape[0] for t in tables] == [97]
  features, _ = make_batch(8)
  unseen = dict(features, user_id=tf.constant(["never-seen"] * 16))
  assert model(unseen).shape == [16]  # Any id hashes to a row; no OOV needed.


def test_a_model_over_a_spec_without_its_task_is_refused(data_dir):
  with pytest.raises(ValueError, match=r"Unknown task 'ltr'; this spec's tasks"):
    distillation.DistillationModel(SPEC, data_dir, ModelConfig(task="ltr"))


def test_hint_loss_is_the_projected_students_squared_error_to_the_teachers(data_dir):
  model = build(data_dir, mode="pfd", hint_weight=0.5)
  features, labels = make_batch(3)
  out = model.compute_losses(features, labels, None, training=True)
  _, student_hidden = model.student(features, with_hidden=True)
  _, teacher_hidden = model.teacher(features, with_hidden=True)
  expected = np.mean((model.hint_projection(student_hidden).numpy()
                      - teacher_hidden.numpy()) ** 2)
  assert float(out["hint_loss"]) == pytest.approx(expected, rel=1e-5)
  lam = float(out["lambda"])
  assert float(out["student_loss"]) == pytest.approx(
      (1 - lam) * float(out["student_bce"])
      + lam * (float(out["distillation_loss"]) + 0.5 * expected), rel=1e-5)


def test_the_hint_reaches_the_student_and_its_projection_never_the_teacher(data_dir):
  model = build(data_dir, mode="pfd", hint_weight=1.0, unshared_vocabularies=ALL_VOCABS)
  features, labels = make_batch(4)
  with tf.GradientTape(persistent=True) as tape:
    out = model.compute_losses(features, labels, None, training=True)
  groups = model.variable_groups()
  projection = model.hint_projection.trainable_variables
  assert {id(v) for v in projection} <= {id(v) for v in groups["student_only"]}
  assert all(g is None or not np.any(tf.convert_to_tensor(g))
             for g in tape.gradient(out["hint_loss"], groups["teacher_only"]))
  assert all(np.any(tf.convert_to_tensor(g))
             for g in tape.gradient(out["hint_loss"], projection))
  # One step moves the projection; the teacher-only weights move by their loss alone.
  before = [v.numpy() for v in projection]
  train(model, [make_batch(5)])
  assert any(not np.array_equal(a, v.numpy()) for a, v in zip(before, projection))


def test_without_hints_there_is_no_projection_and_no_hint_figure(data_dir):
  model = build(data_dir, mode="pfd")
  assert model.hint_projection is None
  assert "hint_loss" not in train(model, [make_batch(6)])[0]


@pytest.mark.parametrize("overrides", [
    dict(mode="student", hint_weight=1.0), dict(hint_weight=-1.0),
    dict(hint_weight=1.0, student_architecture="two_tower")])
def test_a_hint_needs_two_mlp_or_dcn_heads(overrides):
  with pytest.raises(ValueError, match="hint_weight"):
    ModelConfig(**{**SMALL, **overrides})


@pytest.mark.parametrize("loss", ["bpr", "listwise", "rcr"])
def test_a_ranking_loss_trains_and_never_reaches_the_teacher(data_dir, loss):
  # make_batch's request ids repeat within its 16 examples: the batch has pairs.
  model = build(data_dir, mode="pfd", distillation_loss=loss)
  assert_distillation_misses_the_teacher(model)
  (logs,) = train(model, [make_batch(0)])
  assert np.isfinite(logs["distillation_loss"]) and logs["distillation_loss"] > 0


def test_a_ranking_loss_needs_a_spec_that_names_requests(data_dir):
  identity = {k: v for k, v in SPEC.identity.items() if k != "request"}
  spec = spec_lib.FeatureSpec(SPEC.features, SPEC.tasks.values(), SPEC.events.values(),
                              identity, SPEC.slices)
  with pytest.raises(ValueError, match="'bpr' ranks within requests.*identity"):
    distillation.DistillationModel(spec, data_dir,
                                   ModelConfig(**SMALL, distillation_loss="bpr"))


def test_a_model_needs_a_concrete_lambda(data_dir):
  with pytest.raises(ValueError, match="chosen by models.train on validation"):
    distillation.DistillationModel(SPEC, data_dir, ModelConfig(task="cvr",
                                                                lambda_value="auto"))


class _Recording(distillation.DistillationModel):
  """Records the features each head is called with."""

  def teacher_logits(self, features, training=False, lookups=None):
    self.seen["teacher"] = features
    return super().teacher_logits(features, training=training, lookups=lookups)

  def call(self, features, training=False, lookups=None):
    self.seen["student"] = features
    return super().call(features, training=training, lookups=lookups)


@pytest.mark.parametrize("share_student_encoding", [False, True])
def test_a_permuted_teacher_reads_a_derangement_of_the_privileged_rows(
    data_dir, share_student_encoding):
  tf.keras.utils.set_random_seed(0)
  model = _Recording(SPEC, data_dir, ModelConfig(
      **SMALL, mode="pfd_permuted", share_student_encoding=share_student_encoding))
  model.seen = {}
  features, labels = make_batch(3)
  privileged = [f.name for f in SPEC.privileged("cvr")]
  # Distinct values per column, so a row's value names the row.
  features.update({name: tf.cast(tf.range(16) + 100 * k, features[name].dtype)
                   for k, name in enumerate(privileged)})
  for _ in range(5):  # A new offset per batch.
    model.compute_losses(features, labels, None, training=True)
    teacher, student = model.seen["teacher"], model.seen["student"]
    # The student's batch, untouched.
    assert all(student[name] is features[name] for name in features)
    rows = None
    for k, name in enumerate(privileged):
      seen = teacher[name].numpy().astype(int) - 100 * k
      assert sorted(seen) == list(range(16))  # The batch's values...
      assert not np.any(seen == np.arange(16))  # ...none at its own example...
      assert rows is None or np.array_equal(seen, rows)  # ...moving together.
      rows = seen
    for name in set(features) - set(privileged):
      assert teacher[name] is features[name]
  assert_distillation_misses_the_teacher(model)


def test_label_smoothing_trains_a_student_without_a_teacher(data_dir):
  model = build(data_dir, mode="smooth", smoothing_base_rate=0.1)
  assert not model.variable_groups()["teacher_only"] and model.teacher_features == []
  (logs,) = train(model, [make_batch(5)])
  assert logs["distillation_loss"] > 0 and logs["lambda"] == 0.5
  assert logs["teacher_loss"] == 0.0


def test_a_permuted_teachers_step_is_its_own_loss_on_the_shifted_batch(data_dir,
                                                                        batches):
  """The block holds (the teacher moves the same for lambda 0 and 1/2, each run
  drawing the same offsets), and it learns from the shifted batch, not PFD's."""
  tf.config.experimental.enable_op_determinism()
  runs = {}
  for mode, lam in (("pfd_permuted", 0.0), ("pfd_permuted", 0.5), ("pfd", 0.5)):
    model = build(data_dir, mode=mode, lambda_value=lam,
                  unshared_vocabularies=ALL_VOCABS)
    train(model, batches)
    runs[mode, lam] = teacher_weights(model)
  for a, b in zip(runs["pfd_permuted", 0.0], runs["pfd_permuted", 0.5]):
    np.testing.assert_array_equal(a, b)
  assert max(float(np.max(np.abs(a - b))) for a, b in zip(
      runs["pfd_permuted", 0.5], runs["pfd", 0.5])) > 1e-6


class _ShiftedTeacher(distillation.DistillationModel):
  """A replaced teacher, as benchmarks/teacher_ceiling.py's oracle: the learnt
  teacher's logits plus 5."""

  def teacher_logits(self, features, training=False, lookups=None, **kwargs):
    out = super().teacher_logits(features, training=training, lookups=lookups,
                                 **kwargs)
    return (out[0] + 5.0, out[1]) if kwargs.get("with_hidden") else out + 5.0


def test_with_hints_every_loss_reads_the_teacher_through_teacher_logits(data_dir):
  # With hint_weight > 0 too, a replaced teacher (the oracle) is the one L_d and
  # the teacher's loss read, not the learnt head behind it.
  tf.keras.utils.set_random_seed(0)
  model = _ShiftedTeacher(SPEC, data_dir, ModelConfig(**SMALL, mode="pfd",
                                                      hint_weight=0.5))
  model.compile(optimizer=tf.keras.optimizers.SGD(0.1))
  model.build_from_batch(make_batch(99)[0])
  features, labels = make_batch(3)
  out = model.compute_losses(features, labels, None, training=False)
  teacher, student = model.teacher_logits(features), model(features)
  inputs = losses.DistillationInputs(teacher_logits=teacher, student_logits=student,
                                     labels=labels,
                                     temperature=model.model_config.temperature)
  distillation_loss = losses.get_distillation_loss(
      model.model_config.distillation_loss)
  assert float(out["distillation_loss"]) == pytest.approx(
      float(tf.reduce_mean(distillation_loss(inputs))), rel=1e-5)
  assert float(out["teacher_loss"]) == pytest.approx(float(tf.reduce_mean(
      losses.binary_cross_entropy(labels, teacher))), rel=1e-5)


def test_a_teacher_without_dropped_privileged_features_reads_the_rest(data_dir):
  privileged = [f.name for f in SPEC.privileged("cvr")]
  model = build(data_dir, mode="pfd", teacher_dropped_features={privileged[0]})
  read = {f.name for f in model.teacher_features}
  assert privileged[0] not in read and set(privileged[1:]) <= read
  assert {f.name for f in model.student_features} <= read
  with pytest.raises(ValueError, match=r"\['item_id'\] are not privileged"):
    build(data_dir, mode="pfd", teacher_dropped_features={"item_id"})


def test_a_distillation_head_distils_in_place_of_the_served_logit(data_dir):
  model = build(data_dir, mode="pfd", distillation_head=True,
                unshared_vocabularies=ALL_VOCABS)
  features, labels = make_batch(7)
  with tf.GradientTape(persistent=True) as tape:
    out = model.compute_losses(features, labels, None, training=True)
  logits, hidden = model.student(features, with_hidden=True)
  auxiliary = tf.squeeze(model.distillation_head(hidden), -1)
  cross_entropy = losses.get_distillation_loss("cross_entropy")
  expected = np.mean(cross_entropy(losses.DistillationInputs(
      model.teacher(features), auxiliary, labels, 1.0)).numpy())
  assert float(out["distillation_loss"]) == pytest.approx(expected, rel=1e-5)
  # The served logit is the head's own (no auxiliary unit in it), and the auxiliary
  # layer is a student-only weight that the distillation term alone trains.
  np.testing.assert_allclose(model(features).numpy(), logits.numpy(), rtol=1e-6)
  head = model.distillation_head.trainable_variables
  assert {id(v) for v in head} <= {id(v) for v in model.variable_groups()["student_only"]}
  assert all(g is None for g in tape.gradient(out["student_bce"], head))
  assert all(np.any(tf.convert_to_tensor(g))
             for g in tape.gradient(out["distillation_loss"], head))
  assert_distillation_misses_the_teacher(model)


@pytest.mark.parametrize("overrides", [
    dict(mode="student", distillation_head=True),
    dict(mode="pfd", distillation_head=True, student_architecture="two_tower"),
    dict(mode="smooth", distillation_head=True)])
def test_a_distillation_head_needs_a_distilling_mlp_student(overrides):
  with pytest.raises(ValueError, match="distillation_head"):
    ModelConfig(**{**SMALL, **overrides})
