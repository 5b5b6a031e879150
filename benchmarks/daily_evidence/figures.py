"""The study's figures from its runs: next-day AUC per day and arm, its mean over the
days every arm ran, train seconds a day, and the gains between arms with DeLong."""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from benchmarks.attribution import figures as attribution
from benchmarks.daily_evidence import worlds


class DayRun(NamedTuple):
  """One model of one day: trained on day `day - 1` (and, in a window, the days
  before), tested on day `day`.

  Attributes:
    auc: The student's AUC on the test day.
    train_seconds: models.train's `train_seconds` (the fit, not the eval).
    train_examples: The examples it trained on, each epoch counted.
    labels, scores: [eval examples] the test day's labels and the student's
      scores, in the day's order (the same for every arm).
  """
  arm: str
  seed: int
  day: int
  auc: float
  train_seconds: float
  train_examples: int
  labels: np.ndarray
  scores: np.ndarray


def prefix(world: str) -> str:
  return f"quality.daily.{world}."


def compared_days(runs: Sequence[DayRun]) -> list[int]:
  """The test days every arm has a model for (the window arm's first is the first
  day with a whole window before it)."""
  arms = {run.arm for run in runs}
  return sorted(set.intersection(*({run.day for run in runs if run.arm == arm}
                                   for arm in arms)))


def _pooled(runs: Sequence[DayRun], arm: str, seed: int, days: Sequence[int]
            ) -> dict[str, np.ndarray]:
  """The arm's eval labels and student scores of one seed over `days`, end to end."""
  by_day = {run.day: run for run in runs if run.arm == arm and run.seed == seed}
  return {"labels": np.concatenate([by_day[day].labels for day in days]),
          "student": np.concatenate([by_day[day].scores for day in days])}


def figures(world: str, runs: Sequence[DayRun], *, window_days: int, epochs: int,
            num_days: int, examples_day: float) -> dict[str, float]:
  """The world's figures, `quality.daily.<world>.`-prefixed.

  Per arm: `auc_day<i>` (mean over seeds, every day it ran), `auc_mean`/`auc_std`
  (each seed's mean over the compared days, then their mean and std over seeds),
  `train_s_day` and `train_examples_day` (means over the compared days and seeds).
  Per pair of PAIRS: `<arm>_over_<reference>_gain_mean/_std` (paired by seed and
  day) and `_delong_p_max` (DeLong on the compared days' examples pooled, the
  largest p over seeds).

  Raises:
    ValueError: Two arms' labels differ on a seed's days: not the same examples.
  """
  days = compared_days(runs)
  seeds = sorted({run.seed for run in runs})
  arms = [arm.name for arm in worlds.ARMS if any(run.arm == arm.name for run in runs)]
  out = {"num_seeds": float(len(seeds)), "num_days": float(num_days),
         "window_days": float(window_days), "epochs": float(epochs),
         "compared_days": float(len(days)), "first_compared_day": float(days[0]),
         "examples_day": float(examples_day)}
  rows, scores = [], {}
  for arm in arms:
    mine = [run for run in runs if run.arm == arm]
    for day in sorted({run.day for run in mine}):
      out[f"{arm}.auc_day{day}"] = float(np.mean([r.auc for r in mine if r.day == day]))
    compared = [r for r in mine if r.day in days]
    per_seed = [float(np.mean([r.auc for r in compared if r.seed == seed]))
                for seed in seeds]
    out[f"{arm}.auc_mean"], out[f"{arm}.auc_std"] = (float(np.mean(per_seed)),
                                                     float(np.std(per_seed)))
    out[f"{arm}.train_s_day"] = float(np.mean([r.train_seconds for r in compared]))
    out[f"{arm}.train_examples_day"] = float(np.mean([r.train_examples
                                                      for r in compared]))
    rows += [{"mode": arm, "seed": seed, "student_auc": auc}
             for seed, auc in zip(seeds, per_seed)]
    scores[arm] = [_pooled(runs, arm, seed, days) for seed in seeds]
  for seed_scores in zip(*scores.values()):
    if any(not np.array_equal(s["labels"], seed_scores[0]["labels"])
           for s in seed_scores):
      raise ValueError(f"{world}: the arms' eval labels differ; their views must test "
                       "on the same days' examples, in the same order.")
  for arm, reference in worlds.PAIRS:
    if arm in scores and reference in scores:
      out.update(attribution.gain_figures(rows, scores, arm, f"{arm}_over_{reference}",
                                          reference))
  return {prefix(world) + key: value for key, value in out.items()}
