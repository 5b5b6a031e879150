"""EVIDENCE.md and the plots, from benchmarks/evidence.json alone."""

from __future__ import annotations

import functools
import os
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf

from benchmarks.attribution import report as attribution
from benchmarks.daily_evidence import report as daily
from benchmarks import results
from benchmarks import world_sweeps
from benchmarks.evidence import figures
from benchmarks.evidence import readout
from benchmarks.evidence import registry
from features import spec as spec_lib
from models import compare
from models.config import HeadRole


def bar_chart_svg(bars: Sequence[tuple[str, float, float]],
                  lines: dict[str, float]) -> str:
  """Horizontal bars (label, mean, std) with whiskers and vertical ceiling lines."""
  width, left, row, low, high = 640, 190, 26, 0.4, 0.9
  height = row * len(bars) + 60

  def x(value):
    return left + (width - left - 20) * (value - low) / (high - low)

  parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="sans-serif" font-size="12">']
  for i, (label, mean, std) in enumerate(bars):
    y = 20 + i * row
    parts += [f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{label}</text>',
              f'<rect x="{x(low)}" y="{y + 3}" width="{x(mean) - x(low):.1f}" '
              'height="16" fill="#4c78a8"/>',
              f'<line x1="{x(mean - std):.1f}" x2="{x(mean + std):.1f}" y1="{y + 11}" '
              f'y2="{y + 11}" stroke="black"/>']
  for i, (name, value) in enumerate(lines.items()):
    parts += [f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="10" '
              f'y2="{height - 30}" stroke="#e45756" stroke-dasharray="4"/>',
              f'<text x="{x(value):.1f}" y="{height - 16 + 12 * (i % 2) - 6}" '
              f'text-anchor="middle" fill="#e45756">Bayes {name} {value:.3f}</text>']
  for tick in np.arange(low, high + 1e-9, 0.1):
    parts.append(f'<text x="{x(tick):.1f}" y="{height - 2}" text-anchor="middle" '
                 f'fill="gray">{tick:.1f}</text>')
  return "\n".join(parts + ["</svg>"])


def svg_name(task: str, what: str = "") -> str:
  return f"evidence-{task}{'-' + what if what else ''}.svg"


def bars(summary: Mapping[str, Mapping[str, tuple[float, float]]]
         ) -> list[tuple[str, float, float]]:
  return [(f"{mode} {head}", *summary[mode][f"{head}_auc"])
          for mode in summary for head in (role.value for role in HeadRole)
          if f"{head}_auc" in summary[mode]]


def swept(task: str) -> dict[str, tuple[str, str]]:
  """Sweep name -> (what is trained, the knob swept): the task's sweeps, then the
  world sweeps (benchmarks/world_sweeps.py) of its task."""
  swept = {name: (sweep.base.mode.value, sweep.field)
           for name, sweep in registry.TASKS[task].sweeps.items()}
  if registry.TASKS[task].sizes:
    swept[registry.SIZE_SWEEP_NAME] = ("pfd over the baseline trained on as many",
                              "train examples")
  if task == world_sweeps.TASK:
    swept.update({name: ("pfd, a world per value", sweep.field)
                  for name, sweep in world_sweeps.WORLD_SWEEPS.items()})
  return swept


def sweep_lines(out: Mapping[str, float], task: str) -> list[str]:
  """The sweeps' and RQ4's markdown, from the figures."""
  lines = []
  for name, (what, field) in swept(task).items():
    points = readout.sweep_points(out, task, name)
    if not points:
      continue
    spread, noise, shape = readout.sweep_shape(points)
    lines.append(f"- `{name}` ({what}, {field}): " + ", ".join(
        f"{value:g}: {mean:+.4f} ± {std:.4f}" for value, mean, std in points)
        + f" over the baseline; {shape} (spread {spread:.4f}, largest std "
        f"{noise:.4f}).")
  prefix = f"quality.{task}"
  available = out.get(f"{prefix}.{registry.SIZE_SWEEP_NAME}.available")
  skipped = [size for size in registry.TASKS[task].sizes
             if available is not None and size > available]
  if skipped:
    lines.append(f"- `{registry.SIZE_SWEEP_NAME}`: "
                 + ", ".join(f"{size:,}" for size in skipped)
                 + f" not run: the world has {available:,.0f} train examples of the "
                 "task (its validation days out).")
  if f"{prefix}.shared_minus_independent" in out:
    lines.append(
        f"- `shared_minus_independent` (RQ4): shared embedding tables' student AUC "
        f"minus independent ones' {out[f'{prefix}.shared_minus_independent']:+.4f} ± "
        f"{out[f'{prefix}.shared_minus_independent_std']:.4f}, at "
        f"{out[f'{prefix}.shared_over_independent_seconds']:.2f} times the "
        "independent run's train time.")
  return lines


def method_lines(out: Mapping[str, float], task: str) -> list[str]:
  """The methods table: each method's paired gain over the baseline, from the
  figures."""
  evidence, prefix = registry.TASKS[task], f"quality.{task}.method."
  rows = []
  for name, config in evidence.methods.items():
    mean = out.get(f"{prefix}{name}_gain_mean")
    if mean is None:
      continue
    p_max = out.get(f"{prefix}{name}_delong_p_max")
    verdict = readout.holds(out, task, f"method.{name}_gain")
    rows.append(f"| {name} | {config.mode.value}, {config.distillation_loss} | "
                f"{mean:+.4f} ± {out[f'{prefix}{name}_gain_std']:.4f} | "
                + ("" if p_max is None else readout.p_text(p_max)) + " | "
                + readout.says(verdict, "helps", "does not help") + " |")
  if not rows:
    return []
  return ["| method | mode, loss | student AUC gain over the baseline | DeLong p, max "
          "over seeds | by the goal |", "| --- | --- | --- | --- | --- |", *rows]


def sweep_plot(out: Mapping[str, float], task: str, path: str) -> bool:
  """One panel per sweep: gain over the baseline against the value, with std bars.
  Writes `path` (SVG) and returns True where the task has sweep figures."""
  knobs = swept(task)
  names = [n for n in knobs if readout.sweep_points(out, task, n)]
  if not names:
    return False
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, axes = pyplot.subplots(1, len(names), figsize=(4 * len(names), 3),
                                 squeeze=False)
  for axis, name in zip(axes[0], names):
    values, means, stds = zip(*readout.sweep_points(out, task, name))
    axis.errorbar(values, means, yerr=stds, marker="o", capsize=3)
    axis.axhline(0.0, color="gray", linestyle="--", linewidth=1)
    axis.set_title(name)
    axis.set_xlabel(knobs[name][1])
    axis.set_ylabel("student AUC gain over baseline")
  figure.tight_layout()
  with tf.io.gfile.GFile(path, "wb") as f:
    figure.savefig(f, format="svg")
  pyplot.close(figure)
  return True


def task_section(out: Mapping[str, float], task: str) -> str:
  """One task's table, steps and plot, from the figures alone."""
  evidence = registry.TASKS[task]
  prefix = f"quality.{task}"
  summary, ceilings = figures.from_figures(out, task)
  seeds = out.get(f"{prefix}.num_seeds")
  protocol = {key.removeprefix(f"{prefix}.protocol."): value for key, value in
              out.items() if key.startswith(f"{prefix}.protocol.")}
  lines = [f"## {task.upper()}", "",
           (f"{int(seeds)} seeds; " if seeds else "") + "mean ± std over seeds. "
           f"{evidence.legend}", "", *world_line(out, task),
           *([f"Protocol, alike for every row: " + ", ".join(
               f"{name} {value:g}" for name, value in sorted(protocol.items()))
              + " (validation_days: the train split's last days validate; "
              "early_stopping_patience: epochs without a better validation AUC before "
              "the best epoch is restored; each off at zero).", ""] if protocol else []),
           compare.format_table(summary, ceilings, spec_lib.DEFAULT_SPEC), ""]
  for name, (variant, reference) in evidence.gains.items():
    if f"{prefix}.{name}_mean" not in out:
      continue
    mean, std = out[f"{prefix}.{name}_mean"], out[f"{prefix}.{name}_std"]
    per_seed = ", ".join(f"{out[key]:+.4f}" for key in sorted(out)
                         if key.startswith(f"{prefix}.{name}_seed"))
    verdict = "beyond" if mean > readout.GAIN_STDS * std else "NOT beyond"
    p_max = out.get(f"{prefix}.{name.removesuffix('_gain')}_delong_p_max")
    closed = out.get(f"{prefix}.{name.removesuffix('_gain')}_gap_closed")
    lines.append(f"- `{name}`: {variant} student AUC minus {reference}'s, paired by "
                 f"seed: {mean:+.4f} ± {std:.4f}"
                 + (f" (per seed {per_seed})" if per_seed else "")
                 + f", {verdict} {readout.GAIN_STDS:g} std"
                 + (f"; DeLong's p on the same eval examples at most "
                    f"{readout.p_text(p_max)} "
                    "over seeds" if p_max is not None else "")
                 + (f"; {closed:+.1%} of the baseline's gap to the regular-feature "
                    "Bayes ceiling" if closed is not None else "") + ".")
  noise_kept = out.get(f"{prefix}.soft_label_noise_kept")
  if noise_kept is not None:
    lines.append(f"- `soft_label_noise_kept`: a perfect privileged teacher's soft labels "
                 f"keep {noise_kept:.1%} of the hard labels' noise around P(y | x).")
  if evidence.notes:
    lines += ["", evidence.notes(out)]
  lines += ["", f"![AUC by mode and head]({svg_name(task)})", ""]
  methods = method_lines(out, task)
  if methods:
    lines += ["### Methods", "", *methods, ""]
  rates = lr_grid_lines(out, task)
  if rates:
    lines += ["### Learning rate on validation", "", *rates, ""]
  sweeps = sweep_lines(out, task)
  if sweeps:
    plotted = any(readout.sweep_points(out, task, name) for name in swept(task))
    lines += ["### Sweeps", "", *sweeps, ""] + (
        [f"![Gain over the baseline by sweep]({svg_name(task, 'sweeps')})", ""]
        if plotted else [])
  return "\n".join(lines)


def world_line(out: Mapping[str, float], task: str) -> list[str]:
  """The density of the world the task ran on (`world_figures`), where measured."""
  f = functools.partial(readout.figure, out, f"{task}.world")
  if f("train_clicks") is None:
    return ["World: not recorded with these figures (runs before "
            "`quality.<task>.world` existed).", ""]
  positives = ("" if f("eval_positives") is None else
               f"; {f('eval_positives'):,.0f} eval positives, "
               f"{f('eval_positive_rate'):.2%} of eval clicks")
  return [f"World: {f('users'):,.0f} users and {f('items'):,.0f} items (the "
          f"vocabularies' ids), {f('train_clicks'):,.0f} train clicks, "
          f"{f('train_clicks_per_user'):.1f} per user and "
          f"{f('train_clicks_per_item'):.1f} per item, train CTR "
          f"{f('train_ctr'):.2%}{positives}.", ""]


def markdown(out: Mapping[str, float]) -> str:
  present = [t for t in registry.TASKS if figures.from_figures(out, t)[0]]
  return "\n".join([
      "# Evidence: PFD on simulated worlds and on real logs (eval split)",
      "",
      "Written by `make evidence` (benchmarks/evidence, then "
      "benchmarks/attribution's and benchmarks/daily_evidence's sections) from the "
      "figures in "
      "benchmarks/evidence.json.",
      "",
      *job_line(out),
      *[task_section(out, t) for t in present],
      attribution.markdown(out),
      daily.markdown(out),
  ])


def job_line(out: Mapping[str, float]) -> list[str]:
  """How long the last job took, and on what, where recorded."""
  f = functools.partial(readout.figure, out, "job")
  if f("seconds") is None:
    return []
  return [f"The last job took {f('seconds') / 60:.1f} min of wall time in "
          f"{f('processes'):.0f} process(es) on {f('cpus'):.0f} CPUs (runs finished "
          "before it started are read, not trained, so only a job from an empty "
          "work directory times the whole).", ""]


def lr_grid_lines(out: Mapping[str, float], task: str) -> list[str]:
  """The lr_grid part's markdown, from the figures (rates read from their names)."""
  prefix = f"quality.{task}.{registry.LR_GRID_NAME}."
  chosen = {key[len(prefix):-len(".chosen")]: value for key, value in out.items()
            if key.startswith(prefix) and key.endswith(".chosen")}
  rate = out.get(f"quality.{task}.protocol.learning_rate")
  if not chosen or rate is None:
    return []
  lines = []
  for variant, best in chosen.items():
    candidates = sorted((float(key[len(f"{prefix}{variant}."):]), auc)
                        for key, auc in out.items()
                        if key.startswith(f"{prefix}{variant}.")
                        and not key.endswith(".chosen"))
    lines.append(f"- `{variant}`: validation AUC by learning rate " + ", ".join(
        f"{value:g}: {auc:.4f}" for value, auc in candidates) + f"; chosen {best:g}.")
  others = sorted(v for v, best in chosen.items() if best != rate)
  lines.append(
      f"Every row above trains at learning rate {rate:g}; "
      + ("validation (on one seed) chooses it for every mode tuned here." if not others
         else f"validation chooses another rate for {', '.join(others)}: their rows "
         "may understate what those modes reach with their own rate."))
  return lines


def render(output_dir: str) -> None:
  """EVIDENCE.md and the plots from evidence.json in `output_dir`, every task's."""
  path = os.path.join(output_dir, "evidence.json")
  out = results.update_results(path, {})
  for task in registry.TASKS:
    summary, ceilings = figures.from_figures(out, task)
    if summary:
      with tf.io.gfile.GFile(os.path.join(output_dir, svg_name(task)), "w") as f:
        f.write(bar_chart_svg(bars(summary), ceilings))
    sweep_plot(out, task, os.path.join(output_dir, svg_name(task, "sweeps")))
  attribution.plots(out, output_dir)
  daily.plots(out, output_dir)
  with tf.io.gfile.GFile(os.path.join(output_dir, "EVIDENCE.md"), "w") as f:
    f.write(markdown(out))
  print(markdown(out))
