"""The tensorflow-metadata Schema of the training examples, derived from the feature spec.

TFDV validates data against a `schema_pb2.Schema`, and Facets and TFX components read
one; writing it from the spec (rather than inferring it from data) keeps it in step with
`features/spec.py`. TFDV itself is not a dependency: the proto is built directly.

Privileged features are expressed the TFDV way, as environments: the schema's default
environments are `TRAINING` and one `SERVING_<TASK>` per task, and every feature the
student of a task must not see (privileged, excluded, label, metadata) is
`not_in_environment` that task's serving environment. The role is also written as an
annotation tag (`privileged:<task>`, `excluded:<task>`, `label`, `metadata`) for people
and for tools that do not know environments.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

from apache_beam.io.filesystems import FileSystems
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from features import spec as spec_lib

TRAINING_ENVIRONMENT = "TRAINING"

_TYPES = {
    spec_lib.DType.STRING: schema_pb2.BYTES,
    spec_lib.DType.INT64: schema_pb2.INT,
    spec_lib.DType.FLOAT32: schema_pb2.FLOAT,
}

_ROLE_TAGS = {
    spec_lib.Role.PRIVILEGED: "privileged",
    spec_lib.Role.EXCLUDED: "excluded",
}


def serving_environment(task_name: str) -> str:
  """The TFDV environment of `task_name`'s serving signature, e.g. `SERVING_CTR`."""
  return f"SERVING_{task_name.upper()}"


def build_schema(spec: spec_lib.FeatureSpec,
                 vocabulary_sizes: Mapping[str, int] | None = None
                ) -> schema_pb2.Schema:
  """Builds the Schema of examples written by `features.example_serializer`.

  Args:
    spec: The feature spec.
    vocabulary_sizes: Vocabulary name -> its size (as built by the Beam job), recorded
      as a `vocabulary_size:<n>` tag on every feature that looks up in it. Optional, so
      a schema can be written before the vocabularies exist.

  Returns:
    One Feature per spec feature, in spec order: every feature is required in every
    example (the codec writes defaults), scalars have the scalar shape `shape {}`,
    sequences hold 0 to `max_length` values.
  """
  vocabulary_sizes = dict(vocabulary_sizes or {})
  unknown = set(vocabulary_sizes) - set(spec.vocabularies())
  if unknown:
    raise ValueError(f"Sizes given for vocabularies not in the spec: {sorted(unknown)}; "
                     f"known: {sorted(spec.vocabularies())}.")
  for name, size in vocabulary_sizes.items():
    if not isinstance(size, int) or size < 0:
      raise ValueError(f"Vocabulary {name!r} has size {size!r}; expected an int >= 0.")

  schema = schema_pb2.Schema()
  schema.default_environment.append(TRAINING_ENVIRONMENT)
  schema.default_environment.extend(serving_environment(t) for t in spec.tasks)
  schema.annotation.tag.append(f"spec_fingerprint:{spec.fingerprint()}")
  for feature in spec:
    _add_feature(schema.feature.add(), feature, spec.tasks, vocabulary_sizes)
  return schema


def _add_feature(proto: schema_pb2.Feature, feature: spec_lib.Feature,
                 tasks: Iterable[str], vocabulary_sizes: Mapping[str, int]) -> None:
  proto.name = feature.name
  proto.type = _TYPES[feature.dtype]
  proto.presence.min_fraction = 1.0
  proto.presence.min_count = 1
  if feature.is_sequence:
    proto.value_count.min = 0
    proto.value_count.max = feature.max_length
  else:
    proto.shape.SetInParent()  # No dims: a scalar.
  if feature.description:
    proto.annotation.comment.append(feature.description)
  if feature.bounds is not None:
    _set_domain(proto, feature)
  if feature.vocabulary is not None:
    proto.annotation.tag.append(f"vocabulary:{feature.vocabulary}")
    if feature.vocabulary in vocabulary_sizes:
      proto.annotation.tag.append(
          f"vocabulary_size:{vocabulary_sizes[feature.vocabulary]}")
  if feature.kind is spec_lib.Kind.LABEL:
    proto.annotation.tag.append("label")
  elif feature.kind is spec_lib.Kind.METADATA:
    proto.annotation.tag.append("metadata")
  for task_name in tasks:
    role = feature.role(task_name)
    if role in _ROLE_TAGS:
      proto.annotation.tag.append(f"{_ROLE_TAGS[role]}:{task_name}")
    if role is not spec_lib.Role.REGULAR:
      proto.not_in_environment.append(serving_environment(task_name))


def _set_domain(proto: schema_pb2.Feature, feature: spec_lib.Feature) -> None:
  low, high = feature.bounds
  if feature.dtype is spec_lib.DType.INT64:
    # The integers in the closed range [low, high].
    proto.int_domain.min = math.ceil(low)
    proto.int_domain.max = math.floor(high)
  elif feature.dtype is spec_lib.DType.FLOAT32:
    proto.float_domain.min = low
    proto.float_domain.max = high
  else:
    raise ValueError(f"Feature {feature.name!r} has bounds {feature.bounds} but dtype "
                     f"{feature.dtype.value}; bounds are for numeric features.")


def write_schema(schema: schema_pb2.Schema, path: str) -> None:
  """Writes `schema` as text (e.g. `.../schema.pbtxt`).

  Through Beam's FileSystems (local directories are created), because the join job
  writes it and the job never imports TensorFlow.
  """
  with FileSystems.create(path) as f:
    f.write(text_format.MessageToString(schema).encode("utf-8"))


def read_schema(path: str) -> schema_pb2.Schema:
  """Reads a schema written by `write_schema`."""
  with FileSystems.open(path) as f:
    return text_format.Parse(f.read().decode("utf-8"), schema_pb2.Schema())
