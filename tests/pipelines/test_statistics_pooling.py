"""The writer's statistics pool each list's columns: the same protos and token counts,
to the last bit, as the examples of each pool added at once."""

import random

import example_values
from features import spec as spec_lib
from pipelines import statistics

SPEC = spec_lib.DEFAULT_SPEC
POOL = 50


def _example(rng: random.Random) -> dict:
  """Every kind of value: absent, None, str and bytes, ints, floats, sequences."""

  def draw(feature):
    if feature.is_sequence:
      return [f"i{rng.randrange(9)}" for _ in range(rng.randrange(4))]
    if feature.dtype is spec_lib.DType.STRING:
      value = f"{feature.name}{rng.randrange(5)}"
      return value.encode("utf-8") if rng.random() < 0.2 else value
    if feature.dtype is spec_lib.DType.INT64:
      return rng.choice([0, 1, 7, 1_767_571_200_000 + rng.randrange(9)])
    return rng.choice([0.0, 0.1, 2.5, 1e6 * rng.random()])

  return example_values.random_example(rng, SPEC, draw)


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
