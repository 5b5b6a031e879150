"""The flat figures of a task, from its runs' rows and eval scores, and read back."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

import roc
from benchmarks.evidence import registry
from features import dataset as dataset_lib
from models import compare
from models.training import evaluation


MIN_SEEDS = 2  # Seeds a gain needs to be reported (mean and std over them).


def world_figures(dataset: dataset_lib.PublishedDataset, task: str
                  ) -> dict[str, float]:
  """How dense the world a task ran on is, from its run report:
  `quality.<task>.world.*` (its users and items, train clicks per user and per item
  over the vocabularies' ids, train CTR; for a clicked-only task its eval positives
  and their rate per click)."""
  spec, report = dataset.spec, dataset.report
  prefix = f"quality.{task}.world"
  clicks = report.positives("train", spec.click_label)
  sizes = report.vocabulary_sizes
  out = {f"{prefix}.train_clicks": float(clicks),
         f"{prefix}.train_ctr": clicks / report.examples("train")}
  for group in ("user", "item"):
    vocabulary = spec[getattr(spec, f"{group}_feature")].vocabulary
    out[f"{prefix}.{group}s"] = float(sizes[vocabulary])
    out[f"{prefix}.train_clicks_per_{group}"] = clicks / sizes[vocabulary]
  task_spec = spec.task(task)
  if task_spec.clicked_only:
    positives = report.positives("eval", task_spec.label)
    out[f"{prefix}.eval_positives"] = float(positives)
    out[f"{prefix}.eval_positive_rate"] = positives / report.positives(
        "eval", spec.click_label)
  return out


def delong_figures(work_dir: str, task: str, seeds: Sequence[int],
                   trained: set[tuple[str, int]]) -> dict[str, float]:
  """Per gain and seed, DeLong's p-value for the variant's student AUC against the
  reference's on the same eval examples (`<step>_delong_p_seed<s>`, the gain's name
  without `_gain`), and the largest over seeds (`<step>_delong_p_max`).

  Args:
    trained: (row, seed) of the finished runs: a seed counts where both have one.
  """
  prefix = f"quality.{task}"
  out = {}
  for name, (variant, reference) in registry.TASKS[task].all_gains.items():
    paired = [seed for seed in seeds
              if {(variant, seed), (reference, seed)} <= trained]
    if not paired:
      continue
    p_values = []
    for seed in paired:
      a, b = (evaluation.read_scores(os.path.join(work_dir, f"{run}-seed{seed}"))
              for run in (variant, reference))
      np.testing.assert_array_equal(a["labels"], b["labels"],
                                    err_msg=f"{variant} and {reference}, seed {seed}")
      p_values.append(roc.delong_test(a["labels"], a["student"],
                                          b["student"]).p_value)
      out[f"{prefix}.{name.removesuffix('_gain')}_delong_p_seed{seed}"] = p_values[-1]
    out[f"{prefix}.{name.removesuffix('_gain')}_delong_p_max"] = max(p_values)
  return out


def _spread_over_seeds(rows, variant: str, reference: str) -> bool:
  """Whether the pair has MIN_SEEDS seeds in common (a job stopped early may have
  fewer): a gain's std over one seed would read as no noise at all."""
  return len(compare.paired_gain(rows, variant, reference, "student_auc")) >= MIN_SEEDS


def figures(rows, ceilings: dict[str, float], task: str = "cvr") -> dict[str, float]:
  """The task's flat figures from its rows (one per variant and seed)."""
  evidence = registry.TASKS[task]
  prefix = f"quality.{task}"
  summary = compare.summarize(rows)
  seeds = sorted({r["seed"] for r in rows})
  out = {f"{prefix}.num_seeds": float(len(seeds))}
  for mode, metrics in summary.items():
    for key, (mean, std) in metrics.items():
      out[f"{prefix}.{mode}.{key}_mean"] = mean
      out[f"{prefix}.{mode}.{key}_std"] = std
  for name, ceiling in ceilings.items():
    out[f"{prefix}.bayes_auc_{name}"] = ceiling
  for row, auc in evidence.paper.items():
    out[f"{prefix}.paper.{row}_auc"] = auc
  trained = {r["mode"] for r in rows}
  for name, (variant, reference) in evidence.all_gains.items():
    if not {variant, reference} <= trained or not _spread_over_seeds(
        rows, variant, reference):
      continue
    step = name.removesuffix("_gain")
    for metric, figure in (("student_auc", name), ("student_gauc", f"{step}_gauc_gain")):
      gain = compare.paired_gain(rows, variant, reference, metric)
      out[f"{prefix}.{figure}_mean"] = float(gain.mean())
      out[f"{prefix}.{figure}_std"] = float(gain.std())
    for seed, gain in zip(seeds, compare.paired_gain(rows, variant, reference, "student_auc")):
      out[f"{prefix}.{name}_seed{seed}"] = float(gain)
    # The oracle's AUC is undefined (None) on an eval split without positives.
    if ceilings.get("regular") is not None and reference == evidence.baseline:
      gap = ceilings["regular"] - summary[evidence.baseline]["student_auc"][0]
      out[f"{prefix}.{step}_gap_closed"] = out[f"{prefix}.{name}_mean"] / gap
  return out


def sweep_figures(rows, task: str) -> dict[str, float]:
  """Per sweep value, the student AUC gain over the baseline paired by seed
  (`quality.<task>.<sweep>.<value>` and `_std`); RQ4's shared-minus-independent AUC
  and train-time ratio."""
  evidence, prefix = registry.TASKS[task], f"quality.{task}"
  trained = {r["mode"] for r in rows}
  out = {}
  for name, sweep in evidence.sweeps.items():
    for value in sweep.values:
      if f"{name}-{value:g}" in trained and _spread_over_seeds(
          rows, f"{name}-{value:g}", evidence.baseline):
        gain = compare.paired_gain(rows, f"{name}-{value:g}", evidence.baseline, "student_auc")
        out[f"{prefix}.{name}.{value:g}"] = float(gain.mean())
        out[f"{prefix}.{name}.{value:g}_std"] = float(gain.std())
  for size in evidence.sizes:
    run = f"{registry.SIZE_SWEEP_NAME}-{size}-"
    if f"{run}pfd" in trained and _spread_over_seeds(
        rows, f"{run}pfd", f"{run}{evidence.baseline}"):
      gain = compare.paired_gain(rows, f"{run}pfd", f"{run}{evidence.baseline}",
                                 "student_auc")
      out[f"{prefix}.{registry.SIZE_SWEEP_NAME}.{size}"] = float(gain.mean())
      out[f"{prefix}.{registry.SIZE_SWEEP_NAME}.{size}_std"] = float(gain.std())
  if evidence.independent and set(evidence.independent) <= trained:
    independent, shared = evidence.independent
    gain = compare.paired_gain(rows, shared, independent, "student_auc")
    out[f"{prefix}.shared_minus_independent"] = float(gain.mean())
    out[f"{prefix}.shared_minus_independent_std"] = float(gain.std())
    seconds = {mode: np.mean([r["train_seconds"] for r in rows if r["mode"] == mode])
               for mode in evidence.independent}
    out[f"{prefix}.shared_over_independent_seconds"] = float(
        seconds[shared] / seconds[independent])
  return out


def from_figures(out: Mapping[str, float], task: str
                 ) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, float]]:
  """(summary as compare.summarize gives it, ceilings), read back from the figures."""
  prefix = f"quality.{task}."
  summary = {}
  for mode in registry.TASKS[task].row_names:
    metrics = {}
    for key in out:
      if key.startswith(f"{prefix}{mode}.") and key.endswith("_mean"):
        metric = key[len(f"{prefix}{mode}."):-len("_mean")]
        metrics[metric] = (out[key], out[f"{prefix}{mode}.{metric}_std"])
    if metrics:
      summary[mode] = metrics
  ceilings = {name: out[f"{prefix}bayes_auc_{name}"] for name in ("regular", "full")
              if f"{prefix}bayes_auc_{name}" in out}
  return summary, ceilings
