"""What the join would read of one key's sampled values, and the bounds and default a
proposal gives a number: the policy of dirty logs, stated once (`policy`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from features import spec as spec_lib
from features.inference.sampling import ValueStats, percent

# A bound is the power of ten at or above this multiple of the largest magnitude
# sampled: a value outside it dead-letters the whole impression, so it is there to
# catch garbage (a unit bug, an overflow), not what a sample of one period missed.
BOUNDS_HEADROOM = 10
# What the dtype stores: float32 tops out near 3.4e38, int64 near 9.2e18.
_DTYPE_CEILING = {spec_lib.DType.FLOAT32: 10 ** 38, spec_lib.DType.INT64: 10 ** 18}


def policy(min_share: float) -> list[str]:
  """The header's statement of the rules every entry follows."""
  return [
      f"Dirty logs: a field is proposed when the job reads at least {min_share:.1%} "
      "of its sampled values (of every sampled record for a top-level field, which "
      "the job requires on each line; of the lines of its event for a required "
      "event field); its comment counts the others, which the job sends to the dead "
      "letter (--min_well_typed_fraction).",
      f"Numeric bounds: [0, C], or [-C, C] when over {1 - min_share:.1%} of the "
      f"sampled numbers are negative; C is the power of ten at or above "
      f"{BOUNDS_HEADROOM} x the largest magnitude sampled. A value outside "
      "dead-letters the whole line, so bounds catch garbage (a unit bug, an "
      "overflow), not a position or a price the sample happened to miss. A numeric "
      "default is the sample's median, so a record lacking the value looks typical."]


@dataclasses.dataclass(frozen=True)
class Range:
  """The numbers of a key, summarised, with the bounds and default proposed."""
  low: float  # Of the finite sampled numbers.
  high: float
  median: float  # Of those within `bounds`.
  p999: float
  non_finite: int
  integral: bool  # No finite float among them.
  bounds: tuple[int | float, int | float]
  inside: int  # Finite numbers within `bounds`: what the job reads.
  outside: int  # Finite numbers outside `bounds`: dead letters.

  @classmethod
  def of(cls, stats: ValueStats, min_share: float) -> Range | None:
    numbers = np.frombuffer(stats.numbers, dtype=np.float64)
    finite = numbers[np.isfinite(numbers)]
    if not finite.size:
      return None
    non_finite = int(numbers.size - finite.size)
    integral = stats.floats <= non_finite
    bounds = _proposed_bounds(finite, integral, min_share)
    inside = finite[(finite >= bounds[0]) & (finite <= bounds[1])]
    median = float(np.median(inside if inside.size else finite))
    return cls(float(finite.min()), float(finite.max()), median,
               float(np.quantile(finite, 0.999)), non_finite, integral, bounds,
               int(inside.size), int(finite.size - inside.size))

  @property
  def dtype(self) -> spec_lib.DType:
    return spec_lib.DType.INT64 if self.integral else spec_lib.DType.FLOAT32

  @property
  def default(self) -> float | int:
    rounded = _round_sig(self.median, round)
    return int(rounded) if self.integral else rounded

  def describe(self) -> str:
    return (f"range [{_fmt(self.low)}, {_fmt(self.high)}], median {_fmt(self.median)}, "
            f"p99.9 {_fmt(self.p999)}")


def _proposed_bounds(finite: np.ndarray, integral: bool, min_share: float
                     ) -> tuple[int | float, int | float]:
  """The bounds policy, in one place (the header states it: `policy`).

  [0, C], or [-C, C] for a field whose sampled numbers are negative beyond the share
  that may be garbage; C is the power of ten at or above BOUNDS_HEADROOM x the
  largest magnitude within, at least BOUNDS_HEADROOM: no well-signed sampled value
  falls outside, and a later one an order of magnitude past the sample still fits.

  Args:
    finite: [n] float64, n > 0: the sample's finite numbers.
    integral: the bounds of an int64 field are integers.
    min_share: the share of values that must be read for a field to be proposed.
  """
  signed = np.count_nonzero(finite < 0) > (1 - min_share) * finite.size
  kept = finite if signed else finite[finite >= 0]
  magnitude = max(float(np.abs(kept).max()) if kept.size else 0.0, 1.0)
  dtype = spec_lib.DType.INT64 if integral else spec_lib.DType.FLOAT32
  ceiling = min(10 ** math.ceil(math.log10(BOUNDS_HEADROOM * magnitude)),
                _DTYPE_CEILING[dtype])
  ceiling = ceiling if integral else float(ceiling)
  return (-ceiling if signed else 0 if integral else 0.0, ceiling)


def _round_sig(x: float, rounding: Callable[[float], float], digits: int = 2) -> float:
  """x to `digits` significant digits, rounded by `rounding`: values people can read."""
  if x == 0:
    return 0.0
  exponent = math.floor(math.log10(abs(x))) - digits + 1
  # Through the decimal text, so that 1.3 is 1.3 and not 13 * 0.1.
  return float(f"{int(rounding(x / 10.0 ** exponent))}e{exponent}")


def _fmt(x: float) -> str:
  return f"{x:,.0f}" if abs(x) >= 1000 or float(x).is_integer() else f"{x:.4g}"



@dataclasses.dataclass(frozen=True)
class Reading:
  """What the job would make of one key's sampled values, read as one proposal.

  Attributes:
    read: Values the job reads as the feature.
    of: What the share is of: the sampled records (a top-level field), the records
      that carry the key (user / item keys: a record lacking it takes the default),
      the lines of an event (a required event field) or those that carry it.
    dead: What the others are -> how many; each is a dead letter at join time.
    what: "sampled records", "sampled records that carry it", "... lines".
  """
  read: int
  of: int
  dead: dict[str, int]
  what: str

  def enough(self, min_share: float) -> bool:
    return self.of > 0 and self.read >= min_share * self.of

  def comment(self) -> list[str]:
    """For an entry's comment: what the job dead-letters, if anything."""
    return [self.describe()] if any(self.dead.values()) else []

  def describe(self) -> str:
    text = f"Read on {percent(self.read, self.of)} {self.what}"
    dead = {what: n for what, n in self.dead.items() if n}
    if not dead:
      return text + "."
    parts = ", ".join(f"{n:,} {what}" for what, n in dead.items())
    n = sum(dead.values())
    verb = "is a dead letter" if n == 1 else "are dead letters"
    return f"{text}; the other {n:,} {verb} at join time ({parts})."


def categorical_dead(stats: ValueStats, numbers: Range | None) -> dict[str, int]:
  non_finite = numbers.non_finite if numbers else 0
  return {"numbers with a fraction": max(stats.floats - non_finite, 0),
          "non-finite numbers": non_finite,
          "objects or lists": stats.objects + stats.lists}


def numeric_dead(stats: ValueStats, numbers: Range) -> dict[str, int]:
  low, high = numbers.bounds
  return {"strings": stats.strings, "booleans": stats.bools,
          "objects or lists": stats.objects + stats.lists,
          "non-finite numbers": numbers.non_finite,
          f"outside [{low}, {high}]": numbers.outside}
