"""Reading the flat figures back: a figure, whether a gain meets the goal, a sweep's
points and shape. What the findings and the report share."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


# The goal of a "beats the baseline" claim (RQ1): a paired gain beyond this
# many standard deviations over seeds, and DeLong's p below DELONG_P on every seed.
GAIN_STDS = 2.0


DELONG_P = 0.01


def figure(out: Mapping[str, float], task: str, name: str) -> float | None:
  return out.get(f"quality.{task}.{name}")


def holds(out: Mapping[str, float], task: str, gain: str) -> bool | None:
  """Whether `gain` meets the goal (GAIN_STDS, DELONG_P); None where not measured."""
  mean, std = figure(out, task, f"{gain}_mean"), figure(out, task, f"{gain}_std")
  p_max = figure(out, task, f"{gain.removesuffix('_gain')}_delong_p_max")
  if mean is None or p_max is None:
    return None
  return mean > GAIN_STDS * std and p_max < DELONG_P


def p_text(p: float) -> str:
  """A p-value for the prose; 0 is one too small for a double, not a certainty."""
  return f"{p:.2g}" if p > 0 else "0 (below a double's range)"


def says(verdict: bool | None, yes: str, no: str) -> str:
  return "" if verdict is None else (yes if verdict else no)


def sweep_points(out: Mapping[str, float], task: str, name: str
                  ) -> list[tuple[float, float, float]]:
  """(value, gain mean, std) of one sweep's figures, in value order."""
  prefix = f"quality.{task}.{name}."
  # Not the oracle rows beside a world sweep's (`<sweep>.<row>.<value>`).
  return sorted((float(key[len(prefix):]), out[key], out[f"{key}_std"])
                for key in out if key.startswith(prefix) and not key.endswith("_std")
                and key[len(prefix):].replace(".", "", 1).isdigit())


def sweep_shape(points: Sequence[tuple[float, float, float]]
                ) -> tuple[float, float, str]:
  """(spread of the means, largest std, shape) of a sweep's (value, mean, std):
  flat within noise, rising, falling, or rising then falling (a peak inside)."""
  means = [mean for _, mean, _ in points]
  spread, noise = max(means) - min(means), max(std for _, _, std in points)
  peak = int(np.argmax(means))
  shape = ("flat within noise" if spread <= GAIN_STDS * noise else
           f"rising, then falling (peak at {points[peak][0]:g})"
           if 0 < peak < len(means) - 1 else
           "falling" if means[-1] < means[0] else "rising")
  return spread, noise, shape
