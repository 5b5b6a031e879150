"""features.inference.readings: proposed bounds, defaults and dead letters, by hand."""

import pytest

from features import spec as spec_lib
from features.inference import readings
from features.inference.sampling import ValueStats


def _range(values, min_share=0.99):
  stats = ValueStats()
  stats.absorb(values)
  return readings.Range.of(stats, min_share)


def test_bounds_are_zero_to_the_power_of_ten_above_ten_times_the_largest():
  numbers = _range([2, 6, 2002, 4])
  # 10 x 2002 = 20,020 -> 10^5; integers: int64, integer bounds.
  assert numbers.bounds == (0, 100_000) and numbers.dtype is spec_lib.DType.INT64
  assert (numbers.low, numbers.high, numbers.inside, numbers.outside) == (
      2, 2002, 4, 0)
  assert numbers.median == 5.0 and numbers.default == 5  # Of 2 4 6 2002.
  # p99.9, linear: 6 + 0.997 x (2002 - 6) = 1,996.01.
  assert numbers.describe() == "range [2, 2,002], median 5, p99.9 1,996"


def test_negatives_beyond_the_garbage_share_make_the_bounds_signed():
  numbers = _range([-2.5, 3.0, -1.0, 0.5])
  # 2 of 4 negative, over 1%: [-C, C], C from 10 x 3 = 30 -> 100; floats.
  assert numbers.bounds == (-100.0, 100.0)
  assert numbers.dtype is spec_lib.DType.FLOAT32 and numbers.outside == 0


def test_a_negative_within_the_garbage_share_falls_outside():
  numbers = _range([-5] + [10] * 199)
  # 1 of 200 negative: not over 1% (2): [0, 100], and the -5 is a dead letter.
  assert numbers.bounds == (0, 100)
  assert (numbers.inside, numbers.outside) == (199, 1)


@pytest.mark.parametrize("values,bounds", [
    ([0.001], (0.0, 10.0)),  # At least BOUNDS_HEADROOM.
    ([1e38], (0.0, 1e38)),  # 1e39 is past what float32 stores.
    ([10 ** 18], (0, 10 ** 18)),  # 10^19 is past what int64 stores.
])
def test_bounds_stay_within_the_headroom_floor_and_the_dtype(values, bounds):
  assert _range(values).bounds == bounds


def test_non_finite_floats_are_counted_and_do_not_make_integers_floats():
  numbers = _range([7, float("inf"), float("nan")])
  assert numbers.non_finite == 2
  assert numbers.integral and numbers.dtype is spec_lib.DType.INT64
  assert (numbers.low, numbers.high, numbers.inside) == (7, 7, 1)
  assert _range([float("nan")]) is None  # No finite number: no range.


@pytest.mark.parametrize("values,default", [
    ([1234, 1234], 1200),  # Two significant digits, an integer for int64.
    ([0.012345], 0.012),
    ([0, 0], 0),
])
def test_the_default_is_the_median_to_two_significant_digits(values, default):
  assert _range(values).default == default
  assert type(_range(values).default) is type(default)


def test_a_reading_says_how_many_are_dead_letters_and_why():
  reading = readings.Reading(997, 1000, {"lack it": 2, "strings": 1, "lists": 0},
                             "sampled records")
  assert reading.describe() == (
      "Read on 997 of 1,000 (99.7%) sampled records; the other 3 are dead letters at "
      "join time (2 lack it, 1 strings).")
  assert reading.comment() == [reading.describe()]
  assert reading.enough(0.99) and not reading.enough(0.999)
  one = readings.Reading(4, 5, {"strings": 1}, "lines")
  assert one.describe().endswith("the other 1 is a dead letter at join time "
                                 "(1 strings).")


def test_a_clean_reading_has_no_comment_and_nothing_to_read_is_not_enough():
  clean = readings.Reading(5, 5, {"strings": 0}, "lines")
  assert clean.describe() == "Read on 5 of 5 (100.0%) lines." and clean.comment() == []
  assert not readings.Reading(0, 0, {}, "lines").enough(0.5)


def test_dead_letters_as_a_category_and_as_a_number():
  stats = ValueStats()
  stats.absorb(["a", True, 2.5, float("inf"), {"k": 1}, [1], 200])
  numbers = readings.Range.of(stats, 0.99)
  # 2.5 and 200 are finite: 10 x 200 -> [0, 10000.0], both inside.
  assert readings.categorical_dead(stats, numbers) == {
      "numbers with a fraction": 1, "non-finite numbers": 1, "objects or lists": 2}
  assert readings.numeric_dead(stats, numbers) == {
      "strings": 1, "booleans": 1, "objects or lists": 2, "non-finite numbers": 1,
      "outside [0.0, 10000.0]": 0}


def test_the_policy_states_the_share_and_the_headroom():
  lines = readings.policy(0.99)
  assert "at least 99.0% of its sampled values" in lines[0]
  assert "when over 1.0% of the sampled numbers are negative" in lines[1]
  assert f"{readings.BOUNDS_HEADROOM} x the largest magnitude" in lines[1]
