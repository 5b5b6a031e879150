"""The writer's statistics pool each list's columns: the same protos and token counts,
to the last bit, as the examples of each pool added at once."""

import random

from features import spec as spec_lib
from pipelines import statistics

SPEC = spec_lib.DEFAULT_SPEC
POOL = 50


def _example(rng: random.Random) -> dict:
  """Every kind of value: absent, None, str and bytes, ints, floats, sequences."""
  values = {}
  for feature in SPEC:
    roll = rng.random()
    if roll < 0.05:
      continue
    if roll < 0.1:
      values[feature.name] = None
    elif feature.is_sequence:
      values[feature.name] = [f"i{rng.randrange(9)}" for _ in range(rng.randrange(4))]
    elif feature.dtype is spec_lib.DType.STRING:
      value = f"{feature.name}{rng.randrange(5)}"
      values[feature.name] = value.encode("utf-8") if rng.random() < 0.2 else value
    elif feature.dtype is spec_lib.DType.INT64:
      values[feature.name] = rng.choice([0, 1, 7, 1_767_571_200_000 + rng.randrange(9)])
    else:
      values[feature.name] = rng.choice([0.0, 0.1, 2.5, 1e6 * rng.random()])
  return values


def test_pooled_columns_equal_the_pooled_examples_statistics():
  rng = random.Random(3)
  lists = [[_example(rng) for _ in range(rng.randrange(40))] for _ in range(30)]
  pooled = statistics._BatchAccumulateFn(SPEC)
  pooled.MIN_COLUMN_LENGTH = POOL
  accumulator = pooled.add_inputs(pooled.create_accumulator(), lists)
  got = pooled.extract_output(accumulator)

  # The same cuts by hand: a pool is added once it holds POOL examples.
  by_examples = statistics.FeatureStatsCombineFn(SPEC)
  expected, pool = by_examples.create_accumulator(), []
  for examples in lists:
    pool += examples
    if len(pool) >= POOL:
      by_examples.add_inputs(expected, pool)
      pool = []
  by_examples.add_inputs(expected, pool)

  assert (statistics.to_statistics(got, SPEC, "train")
          == statistics.to_statistics(expected, SPEC, "train"))
  for features in SPEC.vocabularies().values():
    owner = features[0].name
    assert statistics.token_counts(got, owner) == statistics.token_counts(
        expected, owner)
