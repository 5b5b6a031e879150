"""The job's Examples are protobuf's own bytes: the one-value pieces that
features/example_serializer.py writes by hand equal what protobuf writes."""

import random

import pytest
from tensorflow_datasets.proto import tf_feature_pb2

from features import example_serializer
from features import spec as spec_lib

RANDOM = random.Random(0)
VALUES = {
    "bytes_list": ["", "a", "é☃", "x" * 127, "x" * 128, "y" * 20_000, b"raw", b""],
    "int64_list": [0, 1, -1, 127, 128, 300, -300, 2**63 - 1, -2**63] + [
        RANDOM.randrange(-2**63, 2**63) for _ in range(100)],
    "float_list": [0.0, -0.0, 1.5, 1e-45, 3.4e38, 1e-300, 0, 7, -3] + [
        RANDOM.uniform(-1e6, 1e6) for _ in range(100)],
}


# pylint: disable=protected-access
one_scalar = example_serializer._one_scalar


def scalar_slot(name, list_field):
  return example_serializer._Slot(name, False, None, None, list_field == "bytes_list",
                                  list_field)
# pylint: enable=protected-access


def protobufs(name, list_field, value):
  features = tf_feature_pb2.Features()
  getattr(features.feature[name], list_field).value.extend(
      [value.encode("utf-8") if isinstance(value, str) else value])
  return features.SerializeToString()


@pytest.mark.parametrize("list_field", sorted(VALUES))
@pytest.mark.parametrize("name", ["x", "a_feature_name_longer_than_127_bytes_" * 4])
def test_a_scalar_written_by_hand_is_protobufs_encoding(list_field, name):
  slot = scalar_slot(name, list_field)
  for value in VALUES[list_field]:
    assert one_scalar(slot, value) == protobufs(name, list_field, value), value


@pytest.mark.parametrize("list_field, value", [
    ("float_list", 1e39), ("float_list", float("nan")), ("int64_list", 2**63),
    ("int64_list", True), ("int64_list", 1.0), ("bytes_list", 3)])
def test_other_values_are_left_to_protobuf(list_field, value):
  assert one_scalar(scalar_slot("x", list_field), value) is None


def test_a_whole_example_is_the_same_bytes_with_and_without_the_hand_path(monkeypatch):
  example = {"impression_id": "imp1", "ts_ms": 1_767_571_200_000, "price": 12.5,
             "position": 3, "click": 1, "hist_item_ids": ["i1", "i2"],
             "dwell_ms_total": 0}
  written = example_serializer.ExampleSerializer(spec_lib.DEFAULT_SPEC)(example)
  monkeypatch.setattr(example_serializer, "_one_scalar", lambda slot, value: None)
  assert example_serializer.ExampleSerializer(spec_lib.DEFAULT_SPEC)(
      example) == written
