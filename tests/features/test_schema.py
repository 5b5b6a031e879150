"""Tests for features/schema.py: the TFDV schema follows the spec, roles and all."""

import dataclasses

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

from features import schema as schema_lib
from features import spec as spec_lib

SPEC = spec_lib.DEFAULT_SPEC


def _by_name(schema: schema_pb2.Schema) -> dict[str, schema_pb2.Feature]:
  return {f.name: f for f in schema.feature}


def _serving_features(schema: schema_pb2.Schema, task_name: str) -> set[str]:
  """What TFDV keeps in an environment: features not excluded from it."""
  environment = schema_lib.serving_environment(task_name)
  return {f.name for f in schema.feature if environment not in f.not_in_environment}


def test_environments_are_training_and_one_serving_per_task():
  schema = schema_lib.build_schema(SPEC)
  assert list(schema.default_environment) == ["TRAINING", "SERVING_CTR", "SERVING_CVR",
                                              "SERVING_CTCVR"]


@pytest.mark.parametrize("task_name", sorted(SPEC.tasks))
def test_serving_environment_is_exactly_the_regular_features(task_name):
  schema = schema_lib.build_schema(SPEC)
  assert _serving_features(schema, task_name) == {f.name for f in SPEC.regular(task_name)}


@pytest.mark.parametrize("task_name", sorted(SPEC.tasks))
def test_privileged_and_excluded_features_are_tagged(task_name):
  features = _by_name(schema_lib.build_schema(SPEC))
  privileged = {f.name for f in SPEC.privileged(task_name)}
  excluded = {f.name for f in SPEC.with_role(task_name, spec_lib.Role.EXCLUDED)}
  assert privileged  # Every task has some in the default spec; CVR excludes none.
  for name, proto in features.items():
    assert (f"privileged:{task_name}" in proto.annotation.tag) == (name in privileged)
    assert (f"excluded:{task_name}" in proto.annotation.tag) == (name in excluded)


def test_labels_and_metadata_are_tagged_and_never_served():
  features = _by_name(schema_lib.build_schema(SPEC))
  assert "label" in features["click"].annotation.tag
  assert "label" in features["purchase"].annotation.tag
  assert "metadata" in features["impression_id"].annotation.tag
  for name in ("click", "purchase", "impression_id", "request_id", "ts_ms"):
    assert list(features[name].not_in_environment) == ["SERVING_CTR", "SERVING_CVR",
                                                       "SERVING_CTCVR"]
  assert list(features["item_id"].not_in_environment) == []
  assert list(features["item_id"].annotation.tag) == ["vocabulary:item_id"]


def test_types_shapes_presence_and_domains():
  features = _by_name(schema_lib.build_schema(SPEC))
  assert [f.name for f in schema_lib.build_schema(SPEC).feature] == SPEC.names
  assert features["user_id"].type == schema_pb2.BYTES
  assert features["position"].type == schema_pb2.INT
  assert features["price"].type == schema_pb2.FLOAT
  for proto in features.values():
    assert proto.presence.min_fraction == 1.0 and proto.presence.min_count == 1
  # Scalars: `shape {}` (set, no dims); sequences: 0 to max_length values.
  assert features["price"].HasField("shape") and not features["price"].shape.dim
  assert not features["price"].HasField("value_count")
  hist = features["hist_item_ids"]
  assert not hist.HasField("shape")
  assert (hist.value_count.min, hist.value_count.max) == (0, 50)
  assert (features["position"].int_domain.min, features["position"].int_domain.max) == (
      0, 9999)
  assert features["price"].float_domain.min == pytest.approx(1e-6)
  assert features["price"].float_domain.max == pytest.approx(1e7)
  assert list(features["dwell_ms_total"].annotation.comment) == [
      "Total detail-page dwell."]


def test_vocabulary_sizes_tag_every_feature_sharing_the_vocabulary():
  features = _by_name(schema_lib.build_schema(SPEC, {"item_id": 1000, "scene": 3}))
  for name in ("item_id", "hist_item_ids"):
    assert "vocabulary:item_id" in features[name].annotation.tag
    assert "vocabulary_size:1000" in features[name].annotation.tag
  assert "vocabulary_size:3" in features["scene"].annotation.tag
  assert list(features["shop_id"].annotation.tag) == ["vocabulary:shop_id"]


@pytest.mark.parametrize("sizes, message", [
    ({"no_such_vocab": 3}, "no_such_vocab"),
    ({"item_id": -1}, "item_id"),
])
def test_bad_vocabulary_sizes_are_rejected(sizes, message):
  with pytest.raises(ValueError, match=message):
    schema_lib.build_schema(SPEC, sizes)


def test_text_round_trip(tmp_path):
  schema = schema_lib.build_schema(SPEC, {"item_id": 7})
  path = str(tmp_path / "nested" / "schema.pbtxt")
  schema_lib.write_schema(schema, path)
  assert schema_lib.read_schema(path) == schema


def test_changed_spec_changes_the_schema():
  # Make the behaviour sequence privileged for CTR: it leaves CTR serving only.
  changed = SPEC.with_features(
      dataclasses.replace(f, privileged_in=f.privileged_in | {"ctr"})
      if f.name == "hist_item_ids" else f for f in SPEC)
  before = _by_name(schema_lib.build_schema(SPEC))["hist_item_ids"]
  after = _by_name(schema_lib.build_schema(changed))["hist_item_ids"]
  assert "privileged:ctr" not in before.annotation.tag
  assert "privileged:ctr" in after.annotation.tag
  assert list(after.not_in_environment) == ["SERVING_CTR"]
  assert "hist_item_ids" not in _serving_features(
      schema_lib.build_schema(changed), "ctr")
  assert "hist_item_ids" in _serving_features(schema_lib.build_schema(changed), "cvr")
