"""The two-tower head: each tower reads its own side only, the score is their inner
product, and PFD's training contract holds with a two-tower student and a DCN teacher."""

import numpy as np
import pytest
import tensorflow as tf

from features import spec as spec_lib
from models.heads import two_tower
from models.config import ModelConfig

from synthetic import (SPEC, assert_distillation_misses_the_teacher, build_ctr_model,
                       make_batch)

ITEM_SIDE = {f.name for f in SPEC if f.group is spec_lib.Group.ITEM}
CROSS = {f.name for f in SPEC if f.group is spec_lib.Group.CROSS}


def input_signature(names):
  """TensorSpecs for the named features, as make_batch gives them."""
  features, _ = make_batch(0)
  return {n: tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1)
          if isinstance(features[n], tf.RaggedTensor)
          else tf.TensorSpec([None], features[n].dtype) for n in names}


@pytest.mark.parametrize("head", ["student", "teacher"])
def test_each_tower_traces_from_its_own_side_alone(data_dir, head):
  model = build_ctr_model(data_dir, teacher_architecture="two_tower")
  tower = getattr(model, head)
  assert not set(tower.user_feature_names) & ITEM_SIDE
  assert set(tower.item_feature_names) <= ITEM_SIDE
  assert not set(tower.item_feature_names) & CROSS
  # Traced with nothing but one side's inputs: reading any other feature would fail.
  user_fn = tf.function(lambda x: tower.user_vectors(x)).get_concrete_function(
      input_signature(tower.user_feature_names))
  item_fn = tf.function(lambda x: tower.item_vectors(x)).get_concrete_function(
      input_signature(tower.item_feature_names))
  features, _ = make_batch(3)
  for fn, names in ((user_fn, tower.user_feature_names),
                    (item_fn, tower.item_feature_names)):
    assert fn({n: features[n] for n in names}).shape == [16, tower.vector_dim]


def test_student_towers_see_no_cross_feature_and_teacher_puts_them_user_side(data_dir):
  model = build_ctr_model(data_dir, teacher_architecture="two_tower")
  assert set(model.student.user_feature_names) == {
      f.name for f in SPEC.regular("ctr") if f.name not in ITEM_SIDE}
  assert CROSS | {"position"} <= set(model.teacher.user_feature_names)


@pytest.mark.parametrize("overrides", [
    {}, {"inner_product_scale": 5.0}, {"item_bias": False}])
def test_score_is_the_inner_product_of_separately_computed_vectors(data_dir,
                                                                    overrides):
  model = build_ctr_model(data_dir, **overrides)
  model.train_step(make_batch(1))  # Non-trivial weights (bias, scale moved).
  features, _ = make_batch(2)
  head = model.student
  users = head.user_vectors({n: features[n] for n in head.user_feature_names})
  items = head.item_vectors({n: features[n] for n in head.item_feature_names})
  assert users.shape[-1] == head.vector_dim == 6 + int(overrides.get("item_bias",
                                                                      True))
  np.testing.assert_allclose(model(features).numpy(),
                             np.sum(users.numpy() * items.numpy(), axis=-1),
                             atol=1e-5)


def test_learnt_scale_starts_at_five_and_trains(data_dir):
  model = build_ctr_model(data_dir)
  assert float(model.student.scale) == 5.0
  model.train_step(make_batch(1))
  assert float(model.student.scale) != 5.0
  fixed = build_ctr_model(data_dir, inner_product_scale=3.0)
  assert not any("scale" in v.name for v in fixed.student.trainable_variables)


def test_ctr_defaults_share_embeddings_except_user_id(data_dir):
  config = ModelConfig.for_task(SPEC, "ctr")
  assert (config.student.architecture, config.teacher.architecture) == (
      "two_tower", "dcn")
  shared = [v.name for v in build_ctr_model(data_dir).variable_groups()["shared"]]
  assert any("shared_item_id" in n for n in shared)
  assert not any("user_id" in n for n in shared)
  assert ModelConfig.for_task(SPEC, "cvr") == ModelConfig(task="cvr")


@pytest.mark.parametrize("teacher", ["dcn", "two_tower", "mlp"])
def test_distillation_reaches_no_teacher_variable(data_dir, teacher):
  assert_distillation_misses_the_teacher(
      build_ctr_model(data_dir, teacher_architecture=teacher))


def test_teacher_is_bitwise_identical_for_lambda_0_and_half_without_sharing(
    data_dir, batches):
  tf.config.experimental.enable_op_determinism()
  runs = []
  for lam in (0.0, 0.5):
    model = build_ctr_model(data_dir, lambda_value=lam,
                            unshared_vocabularies=frozenset(SPEC.vocabularies()))
    for batch in batches:
      model.train_step(batch)
    runs.append([v.numpy() for v in model.variable_groups()["teacher_only"]])
  for a, b in zip(*runs):
    np.testing.assert_array_equal(a, b)


def test_dcn_teacher_has_cross_layers_that_train(data_dir):
  model = build_ctr_model(data_dir, cross_layers=2)
  crosses = [v for v in model.teacher.trainable_variables if "cross" in v.name]
  before = [v.numpy() for v in crosses]
  model.train_step(make_batch(4))
  assert crosses and all(not np.array_equal(b, v.numpy())
                         for b, v in zip(before, crosses))


def test_a_head_with_no_item_feature_is_refused(data_dir):
  with pytest.raises(ValueError, match="both sides"):
    build_ctr_model(data_dir, mode="lupi", teacher_architecture="two_tower")


def test_split_sides_puts_only_item_features_on_the_item_side():
  user, item = two_tower.split_sides(SPEC.regular("ctr") + SPEC.privileged("ctr"))
  assert {f.name for f in item} == ITEM_SIDE
  assert {f.group for f in user} == {spec_lib.Group.USER, spec_lib.Group.CONTEXT,
                                     spec_lib.Group.BEHAVIOUR, spec_lib.Group.CROSS}
