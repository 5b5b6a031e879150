"""Example dicts for the writer's tests, and what protobuf holds of their values."""

import random
from typing import Any, Callable

from features import spec as spec_lib


def random_example(rng: random.Random, spec: spec_lib.FeatureSpec,
                   draw: Callable[[spec_lib.Feature], Any]) -> dict:
  """One example keyed in spec order: each feature absent (5%), None (5%) or
  `draw(feature)`."""
  values = {}
  for feature in spec:
    roll = rng.random()
    if roll < 0.05:
      continue
    values[feature.name] = None if roll < 0.1 else draw(feature)
  return values


def proto_values(feature: spec_lib.Feature, value: Any) -> list:
  """The values a tf.train.Feature holds for `value`: a sequence cut at its
  max_length, a missing scalar as its default, strings as UTF-8."""
  if feature.is_sequence:
    values = list(value or [])[:feature.max_length]
  else:
    values = [feature.parse_default if value is None else value]
  if feature.dtype is spec_lib.DType.STRING:
    values = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
  return values
