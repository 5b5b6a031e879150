"""Tests for features/example_serializer.py: serialized Examples hold what was given
(and TensorFlow parses them back with features/example_parser.py)."""

import random

import pytest
import tensorflow as tf

import example_values

from features import example_parser
from features import example_serializer
from features import spec as spec_lib

SPEC = spec_lib.DEFAULT_SPEC


def _library_example(values: dict) -> tf.train.Example:
  """The same example built message by message: the reference the bytes must match."""
  example = tf.train.Example()
  for feature in SPEC:
    field = example_serializer._LIST_FIELDS[feature.dtype]
    getattr(example.features.feature[feature.name], field).value.extend(
        example_values.proto_values(feature, values.get(feature.name)))
  return example


def _random_values(rng: random.Random) -> dict:
  """Few distinct values (so pieces repeat), missing features, over-long sequences,
  bytes and str strings."""
  values = {}
  for feature in SPEC:
    if rng.random() < 0.1:
      continue  # Missing: written as the default.
    if feature.is_sequence:
      length = rng.choice([0, 1, 3, feature.max_length + 7])
      values[feature.name] = [f"v{rng.randrange(3)}" for _ in range(length)]
    elif feature.dtype is spec_lib.DType.STRING:
      value = f"{feature.name}-é{rng.randrange(4)}"
      values[feature.name] = value.encode("utf-8") if rng.random() < 0.3 else value
    elif feature.dtype is spec_lib.DType.INT64:
      values[feature.name] = rng.choice([0, 1, 2**40 + rng.randrange(3), -5])
    else:
      values[feature.name] = rng.choice([0.0, 0.25, 1e6, -3.5])
  return values


@pytest.mark.parametrize("cache_size", [1, 3, 4096])
def test_serialized_examples_equal_the_library_built_ones(cache_size):
  rng = random.Random(7)
  serialize = example_serializer.ExampleSerializer(SPEC, cache_size=cache_size)
  for _ in range(300):
    values = _random_values(rng)
    serialized = serialize(values)
    assert tf.train.Example.FromString(serialized) == _library_example(values)


def test_tensorflow_parses_every_feature_back():
  rng = random.Random(3)
  serialize = example_serializer.ExampleSerializer(SPEC)
  examples = [_random_values(rng) for _ in range(20)]
  parsed = example_parser.parse_batch(tf.constant([serialize(v) for v in examples]),
                                     list(SPEC))
  for i, values in enumerate(examples):
    reference = _library_example(values).features.feature
    for feature in SPEC:
      field = example_serializer._LIST_FIELDS[feature.dtype]
      expected = list(getattr(reference[feature.name], field).value)
      got = parsed[feature.name][i]
      got = got.numpy().tolist() if feature.is_sequence else [got.numpy()]
      assert got == pytest.approx(expected), feature.name


def test_unknown_feature_is_named():
  serialize = example_serializer.ExampleSerializer(SPEC)
  with pytest.raises(ValueError, match="item_idd"):
    serialize({"item_idd": "x"})


def test_mistyped_value_raises_even_after_other_values_are_cached():
  serialize = example_serializer.ExampleSerializer(SPEC)
  serialize({"position": 3})
  with pytest.raises(TypeError):
    serialize({"position": "three"})
