"""Tests for features/example_parser.py: Examples -> tensors, as the spec declares them.

The Examples are built message by message here (not by the serializer), so a fault in
the parser cannot hide behind the same fault in the writer.
"""

import numpy as np
import pytest
import tensorflow as tf

from features import example_parser
from features import spec as spec_lib

Feature, DType, Kind, Group = (spec_lib.Feature, spec_lib.DType, spec_lib.Kind,
                               spec_lib.Group)
# One feature of each parsing case: categorical (missing -> MISSING_TOKEN), int with a
# declared default, float (missing -> 0), and a sequence (ragged).
FEATURES = [
    Feature("item_id", DType.STRING, Kind.CATEGORICAL, Group.ITEM, "item.id",
            vocabulary="item_id"),
    Feature("age", DType.INT64, Kind.NUMERIC, Group.USER, "user.age", default=-1),
    Feature("price", DType.FLOAT32, Kind.NUMERIC, Group.ITEM, "item.price"),
    Feature("history", DType.STRING, Kind.SEQUENCE, Group.BEHAVIOUR, "user.history",
            vocabulary="item_id", max_length=5),
]
# A value's Python type picks its list, as a client building Examples by hand would:
# a mistyped value (an int for a float feature) is then written as given.
_LISTS = {str: "bytes_list", int: "int64_list", float: "float_list"}


def _serialize(**values) -> bytes:
  """An Example holding `values` (name -> list of values); an empty list is written as
  an empty bytes_list (FEATURES' one sequence holds strings)."""
  example = tf.train.Example()
  for name, value in values.items():
    field = _LISTS[type(value[0])] if value else "bytes_list"
    value = [v.encode() if isinstance(v, str) else v for v in value]
    getattr(example.features.feature[name], field).value.extend(value)
  return example.SerializeToString()


def _parse(*serialized, features=FEATURES):
  return example_parser.parse_batch(tf.constant(list(serialized), tf.string), features)


def test_scalars_are_dense_and_sequences_ragged_per_example():
  parsed = _parse(
      _serialize(item_id=["a"], age=[31], price=[2.5], history=["x", "y", "z"]),
      _serialize(item_id=["b"], age=[40], price=[0.25], history=[]),
      _serialize(item_id=["c"], age=[7], price=[9.0], history=["w"]))
  assert parsed["item_id"].numpy().tolist() == [b"a", b"b", b"c"]
  assert parsed["age"].numpy().tolist() == [31, 40, 7]
  np.testing.assert_array_equal(parsed["price"].numpy(), [2.5, 0.25, 9.0])
  assert isinstance(parsed["history"], tf.RaggedTensor)
  assert parsed["history"].to_list() == [[b"x", b"y", b"z"], [], [b"w"]]


def test_tensors_have_the_declared_dtypes():
  parsed = _parse(_serialize())
  assert {name: tensor.dtype for name, tensor in parsed.items()} == {
      "item_id": tf.string, "age": tf.int64, "price": tf.float32, "history": tf.string}
  assert parsed["history"].row_splits.dtype == tf.int64


def test_a_missing_scalar_takes_its_parse_default_and_a_missing_sequence_is_empty():
  parsed = _parse(_serialize())
  assert parsed["item_id"].numpy().tolist() == [spec_lib.MISSING_TOKEN.encode()]
  assert parsed["age"].numpy().tolist() == [-1]  # The declared default.
  assert parsed["price"].numpy().tolist() == [0.0]
  assert parsed["history"].to_list() == [[]]


def test_only_the_features_asked_for_are_parsed():
  # Serving parses a task's regular features; anything else in the Example (e.g. a
  # privileged feature a client still sends) is never read.
  parsed = _parse(_serialize(item_id=["a"], price=[1.0]), features=FEATURES[:1])
  assert list(parsed) == ["item_id"]


def test_an_empty_batch_parses_to_empty_tensors():
  parsed = _parse()
  assert all(parsed[name].shape[0] == 0 for name in ("item_id", "age", "price"))
  assert parsed["history"].to_list() == []


@pytest.mark.parametrize("values, message", [
    ({"price": [3]}, "Key: price.*Data types don't match"),
    ({"age": [1, 2]}, "Key: age.*Number of int64 values != expected"),
])
def test_a_value_of_the_wrong_type_or_shape_names_its_feature(values, message):
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    _parse(_serialize(item_id=["a"]), _serialize(**values))

