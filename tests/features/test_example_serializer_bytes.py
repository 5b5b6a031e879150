"""Column-wise serialization writes, byte for byte, the Examples that protobuf writes
one feature at a time: scalars first then sequences, each in spec order (the layout
the job's datasets have always had)."""

import itertools
import random

import pytest
from tensorflow_datasets.proto import tf_feature_pb2

import example_values
from features import example_serializer
from features import spec as spec_lib

SPEC = spec_lib.DEFAULT_SPEC
FIELDS = {spec_lib.DType.STRING: "bytes_list", spec_lib.DType.INT64: "int64_list",
          spec_lib.DType.FLOAT32: "float_list"}
# Per dtype, values protobuf takes: multi-byte lengths and varints, negative and
# extreme numbers, non-finite floats, and values of another Python type (bytes for
# a string, an int for a float), which are encoded one by one. Not -0.0: pieces are
# cached by value, and -0.0 == 0.0, so it is written as whichever came first.
SCALARS = {
    spec_lib.DType.STRING: ["", "a", "é☃", "x" * 127, "y" * 300, b"raw", b""],
    spec_lib.DType.INT64: [0, 1, -1, 127, 128, 300, 2**62, 2**63 - 1, -2**63],
    spec_lib.DType.FLOAT32: [0.0, 1.5, -2.25, 1e-45, 3.4e38, 1e39, float("inf"),
                             float("nan"), 7, -3],
}
OWN_TYPES = {spec_lib.DType.STRING: str, spec_lib.DType.INT64: int,
             spec_lib.DType.FLOAT32: float}


def _reference(values: dict) -> bytes:
  """One example as protobuf writes each feature, the pieces concatenated."""
  ordered = sorted(SPEC, key=lambda f: f.is_sequence)
  pieces = []
  for feature in ordered:
    features = tf_feature_pb2.Features()
    getattr(features.feature[feature.name], FIELDS[feature.dtype]).value.extend(
        example_values.proto_values(feature, values.get(feature.name)))
    pieces.append(features.SerializeToString())
  # An Example's one field, length-delimited: the bytes of a one-value BytesList.
  return tf_feature_pb2.BytesList(value=[b"".join(pieces)]).SerializeToString()


def _world(rng: random.Random, n: int, other_types: bool) -> list[dict]:
  """Examples keyed in spec order (as the join's), some keys absent or None, few
  distinct values (so pieces repeat) and sequences shared between examples; values
  of another Python type than the dtype's only with `other_types`."""
  shared = [[f"i{k}" for k in range(length)] for length in (0, 1, 3, 60)]

  def draw(feature):
    if feature.is_sequence:
      return (rng.choice(shared) if rng.random() < 0.7 else
              tuple(f"v{rng.randrange(3)}" for _ in range(rng.randrange(5))))
    if feature.kind is spec_lib.Kind.METADATA and rng.random() < 0.5:
      return (rng.randrange(2**40) if feature.dtype is spec_lib.DType.INT64
              else f"id{rng.randrange(10**9)}")
    return rng.choice([v for v in SCALARS[feature.dtype]
                       if other_types or type(v) is OWN_TYPES[feature.dtype]])

  return [example_values.random_example(rng, SPEC, draw) for _ in range(n)]


@pytest.mark.parametrize("cache_size", [1, 3, 4096])
def test_batches_are_protobufs_bytes(cache_size):
  rng = random.Random(11)
  serializer = example_serializer.ExampleSerializer(SPEC, cache_size=cache_size)
  for size in itertools.islice(itertools.cycle([1, 2, 7, 64, 300]), 30):
    batch = _world(rng, size, other_types=rng.random() < 0.5)
    assert serializer.serialize_batch(batch) == [_reference(v) for v in batch]


def test_one_example_is_the_same_bytes_as_in_a_batch():
  batch = _world(random.Random(5), 50, other_types=True)
  serializer = example_serializer.ExampleSerializer(SPEC)
  assert [serializer(v) for v in batch] == serializer.serialize_batch(batch)


def test_a_column_of_one_type_that_protobuf_refuses_raises_its_error():
  serializer = example_serializer.ExampleSerializer(SPEC)
  with pytest.raises(ValueError, match="out of range"):
    serializer.serialize_batch([{"position": 3}, {"position": 2**63}])
