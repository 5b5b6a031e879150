"""The daily study's EVIDENCE.md section and plots, every number read from the
figures."""

from __future__ import annotations

import os
import re
from typing import Mapping

import tensorflow as tf

from benchmarks.attribution import report as attribution
from benchmarks.daily_evidence import figures
from benchmarks.daily_evidence import worlds

HEADING = "## Day after day: next-day AUC"

_ARM_TEXT = {
    worlds.PFD_WARM: "PFD, warm-started day after day on the day alone",
    worlds.PFD_WINDOW: "PFD from scratch on the last {window} days",
    worlds.STUDENT_WARM: "the student alone (baseline), warm-started day after day",
}


def worlds_in(out: Mapping[str, float]) -> list[worlds.World]:
  """The worlds with figures in `out`, in WORLDS' order."""
  return [world for name, world in worlds.WORLDS.items()
          if figures.prefix(name) + "num_seeds" in out]


def _arms(out: Mapping[str, float], world: str) -> list[str]:
  return [arm.name for arm in worlds.ARMS
          if f"{figures.prefix(world)}{arm.name}.auc_mean" in out]


def _days(out: Mapping[str, float], world: str, arm: str) -> list[int]:
  pattern = re.compile(re.escape(f"{figures.prefix(world)}{arm}.auc_day") + r"(\d+)$")
  return sorted(int(m.group(1)) for m in map(pattern.match, out) if m)


def svg_name(world: str) -> str:
  return f"evidence-daily-{world}.svg"


def plot(out: Mapping[str, float], world: str, path: str) -> None:
  """Each arm's next-day AUC (mean over seeds) against the test day, as an SVG."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  prefix = figures.prefix(world)
  figure, axis = pyplot.subplots(figsize=(7, 3.5))
  for arm in _arms(out, world):
    days = _days(out, world, arm)
    axis.plot(days, [out[f"{prefix}{arm}.auc_day{day}"] for day in days], marker="o",
              label=f"{arm} ({out[f'{prefix}{arm}.train_s_day']:.1f} s/day)")
  axis.axvline(out[prefix + "first_compared_day"] - 0.5, color="gray",
               linestyle="--", linewidth=1)
  axis.set_xlabel("test day (the model trained up to the day before)")
  axis.set_ylabel("next-day student AUC")
  axis.set_title(f"{world}: next-day AUC, mean of {out[prefix + 'num_seeds']:.0f} "
                 "seeds (compared right of the line)")
  axis.legend(fontsize=8)
  figure.tight_layout()
  with tf.io.gfile.GFile(path, "wb") as f:
    figure.savefig(f, format="svg")
  pyplot.close(figure)


def _gain(out: Mapping[str, float], prefix: str, arm: str, reference: str
          ) -> tuple[float, float, float]:
  """(mean, std, DeLong p max) of `arm` over `reference`, from whichever way round
  the figures hold the pair."""
  for a, b, sign in ((arm, reference, 1.0), (reference, arm, -1.0)):
    key = f"{prefix}{a}_over_{b}"
    if f"{key}_gain_mean" in out:
      return (sign * out[f"{key}_gain_mean"], out[f"{key}_gain_std"],
              out[f"{key}_delong_p_max"])
  raise KeyError(f"No gain figures of {arm} against {reference} under {prefix}.")


def _verdict(mean: float, std: float, p: float) -> str:
  """Attribution's bar for a share, applied to a gain either way round."""
  significant = (abs(mean) > attribution.SHARE_STDS * std
                 and p < attribution.SIGNIFICANT_P)
  return "significant" if significant else "**not significant**"


def section(out: Mapping[str, float], world: worlds.World) -> str:
  """A world's markdown, every number read from the figures."""
  prefix = figures.prefix(world.name)

  def f(key: str) -> float:
    return out[prefix + key]

  window = int(f("window_days"))
  arms = _arms(out, world.name)
  first, last = int(f("first_compared_day")), int(f("first_compared_day") +
                                                  f("compared_days") - 1)
  lines = [f"### {world.name}, {world.task}", "",
           f"{world.legend} {f('num_days'):.0f} days, {f('examples_day'):,.0f} "
           f"examples a day on average; {f('num_seeds'):.0f} seeds; every model trains "
           f"{f('epochs'):.0f} epoch(s) over its days. Each day's model is tested on "
           f"the next day's examples; the arms are compared on test days {first} to "
           f"{last} (the first with a whole {window}-day window before it, and every "
           "later one), paired by seed and day.", "",
           "| arm | what | mean next-day AUC | train s/day | examples trained/day |",
           "| --- | --- | --- | --- | --- |"]
  for arm in arms:
    lines.append(f"| {arm} | {_ARM_TEXT[arm].format(window=window)} | "
                 f"{f(arm + '.auc_mean'):.4f} ± {f(arm + '.auc_std'):.4f} | "
                 f"{f(arm + '.train_s_day'):.1f} | "
                 f"{f(arm + '.train_examples_day'):,.0f} |")
  lines += ["", "Per test day (mean over seeds): " + "; ".join(
      f"{arm} " + ", ".join(f"{day}: {f(f'{arm}.auc_day{day}'):.4f}"
                            for day in _days(out, world.name, arm)) for arm in arms)
      + ".", ""]
  best = max(arms, key=lambda arm: f(arm + ".auc_mean"))
  for arm, reference in worlds.PAIRS:
    if arm in arms and reference in arms:
      mean, std, p = _gain(out, prefix, arm, reference)
      lines.append(f"- {arm} over {reference}: {mean:+.4f} ± {std:.4f} next-day AUC, "
                   f"DeLong p ≤ {p:.2g} over seeds (on the compared days' examples "
                   f"pooled): {_verdict(mean, std, p)}.")

  def against(arm: str) -> str:
    mean, std, p = _gain(out, prefix, best, arm)
    ratio = {cost: f(f"{best}.{cost}") / f(f"{arm}.{cost}")
             for cost in ("train_s_day", "train_examples_day")}
    return (f"{mean:+.4f} over {arm} ({_verdict(mean, std, p)}) at "
            f"{ratio['train_s_day']:.2f} times its train seconds and "
            f"{ratio['train_examples_day']:.2f} times its examples a day")
  lines.append(f"- Winner (the highest mean next-day AUC): {best}, "
               + "; ".join(against(arm) for arm in arms if arm != best)
               + f". Significant: a gain beyond {attribution.SHARE_STDS:g} std over "
               f"seeds with DeLong p < {attribution.SIGNIFICANT_P:g} on every seed.")
  lines += ["", f"![Next-day AUC by day]({svg_name(world.name)})", ""]
  return "\n".join(lines)


def markdown(out: Mapping[str, float]) -> str:
  """The daily study's section, for the worlds with figures in `out` ('' if none)."""
  present = worlds_in(out)
  if not present:
    return ""
  return "\n".join([
      HEADING, "",
      "The daily path's three ways to make a model each day (benchmarks/"
      "daily_evidence): the daily PFD student warm-started from the day before's "
      "model (workflow.daily), PFD from scratch on a sliding window of the last days, "
      "and the student alone warm-started: next-day AUC per test day, its mean, and "
      "what a day's training costs.", "",
      *(section(out, world) for world in present)])


def plots(out: Mapping[str, float], output_dir: str) -> None:
  for world in worlds_in(out):
    plot(out, world.name, os.path.join(output_dir, svg_name(world.name)))
