r"""`make evidence`: model quality over seeds on the default world, against its ceilings.

Per task (TASKS), trains each variant once per seed on the default simulated world and
merges flat figures into benchmarks/evidence.json, e.g. quality.ctr.pfd_gain_mean (a
variant's student AUC minus the baseline student's, paired by seed) and _std,
quality.<task>.<variant>.<head>_<metric>_mean/_std, the Bayes-optimal ceilings and the
fraction of the baseline's gap to its ceiling that a step closes. EVIDENCE.md and one
plot per task (evidence-<task>.svg) are then rendered from the merged figures, so a
run of one task keeps the other's section.

* cvr: the baseline student, PFD (lambda 0.5), the teacher alone and LUPI (a teacher
  that sees post-event features only), all MLPs.
* ctr: the two-tower student alone, plain PFD (a two-tower teacher with the cross
  features and position on its user side) and PFD+MD (a DCN teacher over all
  features).

    python -m benchmarks.evidence [--data_dir=workspace/examples \
      --raw_dir=workspace/raw] [--seeds=0,1,2] [--tasks=cvr,ctr]

Without an existing dataset it generates the default world and joins it first.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

import cli
import config_flags
from config_flags import knob
from benchmarks import datasets
from benchmarks import results
from benchmarks import teacher_ceiling
from benchmarks import world_sweeps
from features import dataset as dataset_lib
from features import input as input_lib
from features import layout
from features import spec as spec_lib
from models import compare
from models import metrics
from models import train
from models.config import Architecture, Mode, ModelConfig
from simulation import load_oracle, preset


@dataclasses.dataclass(frozen=True)
class Sweep:
  """One knob of one variant over a few values (the paper's RQ3, the swap step).

  Each value is a run per seed, named `<sweep>-<value>`; its figure is the paired
  student AUC gain over the task's baseline, `quality.<task>.<sweep>.<value>`.

  Attributes:
    base: The config swept.
    field: A ModelConfig field, or SWAP_FRACTION: the swap step as a fraction of the
      run's optimizer steps.
    values: The field's values, in plot order.
  """
  base: ModelConfig
  field: str
  values: tuple[float, ...]


SWAP_FRACTION = "swap_fraction"
RQ3_LAMBDAS = (0.1, 0.3, 0.5, 0.7, 0.9)
SIZE_SWEEP = (50_000, 200_000, 800_000)  # Train clicks (issue 15).
SIZE_SWEEP_NAME = "size_sweep"
# What `make evidence` runs beside the RQ1 rows, in this order (EvidenceJob.parts).
PARTS = ("methods", "lr_grid", "world_sweeps", "sweeps")
# The lr_grid part's rates: ModelConfig's default learning rate, half and twice it.
LR_GRID = (5e-4, 1e-3, 2e-3)
LR_GRID_NAME = "lr_grid"


@dataclasses.dataclass(frozen=True)
class TaskEvidence:
  """What `make evidence` trains for one task, and which steps it reports.

  Attributes:
    variants: Row name -> model config, in table order.
    gains: Figure name -> (variant, reference): the variant's student AUC minus the
      reference's, paired by seed. Each step of a ladder is one (e.g. PFD over the
      baseline, PFD+MD over PFD).
    batch_size: One epoch at this size must be enough for the student to converge.
    shuffle_buffer: Train records shuffled together (TrainConfig).
    legend: What the rows are, for the markdown.
    notes: Figures -> what they show, for the markdown (every number read from
      the figures: EVIDENCE.md carries no number typed into prose).
    paper: Row -> the paper's reported student AUC, the figures
      `quality.<task>.paper.<row>_auc` (a reference, not a measurement).
    baseline: The variant whose gap to the Bayes ceiling a gain over it closes.
    sweeps: Name -> Sweep, run unless the job is --quick.
    methods: The literature's other distillations (issue 16), each on the task it
      fits, run unless --quick: name -> config, the run `method.<name>` and the gain
      `method.<name>_gain` over the baseline.
    independent: The variant whose embeddings are not shared (RQ4) and the one it
      is compared to: `quality.<task>.shared_minus_independent` (student AUC) and
      `quality.<task>.shared_over_independent_seconds` (train time).
    oracle_teachers: Also train the "pfd" variant taught by the simulator's oracle
      (benchmarks/teacher_ceiling.py: rows oracle_full, oracle_regular): how much
      any teacher could give the student in this world.
    train_examples: Every run trains on at most this many of the task's train
      examples (a fixed hashed subset, TrainConfig.train_fraction), which bounds a
      run's time on a large world.
    validation_examples / eval_examples: Likewise for what validates each epoch
      and what each final model is evaluated on (TrainConfig.validation_fraction,
      eval_fraction: the same hashed subset for every run, so DeLong stays paired).
    sizes: The size sweep, unless --quick: at each number of train examples (a
      hashed subset), the "pfd" variant's student AUC minus the baseline's at the
      same size, `quality.<task>.size_sweep.<size>`. A size beyond the split is
      skipped and said.
    tuned: The lr_grid part, unless --quick: each of these variants trains once (the
      first seed) with the learning rate chosen from LR_GRID on validation
      (TrainConfig.learning_rate_grid), `quality.<task>.lr_grid.<variant>.chosen`
      beside each candidate's validation AUC: whether the rate every row trains at
      is the one validation would pick for each mode.
  """
  variants: Mapping[str, ModelConfig]
  gains: Mapping[str, tuple[str, str]]
  batch_size: int
  legend: str
  notes: Callable[[Mapping[str, float]], str] | None = None
  paper: Mapping[str, float] = dataclasses.field(default_factory=dict)
  shuffle_buffer: int = train.TrainConfig.shuffle_buffer
  baseline: str = "student"
  oracle_teachers: bool = False
  sweeps: Mapping[str, Sweep] = dataclasses.field(default_factory=dict)
  methods: Mapping[str, ModelConfig] = dataclasses.field(default_factory=dict)
  independent: tuple[str, str] | None = None
  train_examples: int | None = None
  validation_examples: int | None = None
  eval_examples: int | None = None
  sizes: tuple[int, ...] = ()
  tuned: tuple[str, ...] = ()

  @property
  def all_gains(self) -> dict[str, tuple[str, str]]:
    """`gains` and a gain over the baseline per method."""
    return {**self.gains, **{f"method.{name}_gain": (f"method.{name}", self.baseline)
                             for name in self.methods}}

  @property
  def row_names(self) -> list[str]:
    """Every row's name, in table order: the variants, then any oracle teachers."""
    oracles = list(teacher_ceiling.ORACLE_COLUMNS) if self.oracle_teachers else []
    return list(self.variants) + oracles


# The goal of a "beats the baseline" claim (issue 15, RQ1): a paired gain beyond this
# many standard deviations over seeds, and DeLong's p below DELONG_P on every seed.
GAIN_STDS = 2.0
DELONG_P = 0.01
MIN_SEEDS = 2  # Seeds a gain needs to be reported (mean and std over them).


def _figure(out: Mapping[str, float], task: str, name: str) -> float | None:
  return out.get(f"quality.{task}.{name}")


def holds(out: Mapping[str, float], task: str, gain: str) -> bool | None:
  """Whether `gain` meets the goal (GAIN_STDS, DELONG_P); None where not measured."""
  mean, std = _figure(out, task, f"{gain}_mean"), _figure(out, task, f"{gain}_std")
  p_max = _figure(out, task, f"{gain.removesuffix('_gain')}_delong_p_max")
  if mean is None or p_max is None:
    return None
  return mean > GAIN_STDS * std and p_max < DELONG_P


def p_text(p: float) -> str:
  """A p-value for the prose; 0 is one too small for a double, not a certainty."""
  return f"{p:.2g}" if p > 0 else "0 (below a double's range)"


def _says(verdict: bool | None, yes: str, no: str) -> str:
  return "" if verdict is None else (yes if verdict else no)


def cvr_findings(out: Mapping[str, float]) -> str:
  """What the CVR figures show, every number read from them."""
  f = functools.partial(_figure, out, "cvr")
  parts = []
  verdict = holds(out, "cvr", "pfd_gain")
  if verdict is not None:
    parts.append(
        f"PFD {'beats' if verdict else 'does not beat'} the baseline by the goal "
        f"(a paired gain beyond {GAIN_STDS:g} std and DeLong's p below {DELONG_P:g} on "
        f"every seed): {f('pfd_gain_mean'):+.4f} ± {f('pfd_gain_std'):.4f}, p at most "
        f"{p_text(f('pfd_delong_p_max'))}.")
  if f("lupi_gain_mean") is not None:
    below = f("lupi_gain_mean") < 0
    parts.append(
        f"The LUPI student ({f('lupi_gain_mean'):+.4f} against the baseline) "
        + ("falls below it, as in the paper: its teacher sees post-event features "
           "only, so its soft labels carry less of what the student can learn from "
           "its own features." if below else
           "does not fall below it, unlike the paper. A likely reason, which the "
           "post_event_affinity sweep tests: post-event behaviour in this world also "
           "reflects the user x item affinity that the student can learn, so a "
           "teacher without regular features can still teach it."))
  full, regular = f("oracle_full_gain_mean"), f("oracle_regular_gain_mean")
  pfd, sharing = f("pfd_gain_mean"), f("shared_minus_independent")
  if None not in (pfd, full, sharing) and pfd > full:
    parts.append(
        f"PFD's gain exceeds the perfect privileged teacher's ({full:+.4f}): its "
        "learnt teacher also trains the embedding tables it shares with the student, "
        "an auxiliary task the oracle teacher has no weights for. With independent "
        f"tables PFD gains {pfd - sharing:+.4f}, and sharing adds {sharing:+.4f} "
        f"± {f('shared_minus_independent_std'):.4f} (RQ4).")
  informativeness = _sweep_points(out, "cvr", "informativeness_sweep")
  if len(informativeness) >= 3:
    _, _, shape = sweep_shape(informativeness)
    parts.append(
        "Yang et al. (NeurIPS, \"Towards Understanding Privileged Features "
        "Distillation in Learning-to-Rank\") find the student's gain first rising, "
        "then falling as the privileged features grow more predictive; over "
        "post_event_informativeness PFD's gain here is " + shape + ", which "
        + ("reproduces" if shape.startswith("rising, then") else "does not reproduce")
        + " it.")
  lupi_by_affinity = dict((value, mean) for value, mean, _ in _sweep_points(
      out, "cvr", "affinity_sweep.lupi"))
  if lupi_by_affinity:
    lowest = min(lupi_by_affinity)
    parts.append(
        f"Where post-event behaviour carries the least user x item affinity "
        f"(post_event_affinity {lowest:g}), the LUPI student gains "
        f"{lupi_by_affinity[lowest]:+.4f} over that world's baseline, and "
        + (f"{lupi_by_affinity[max(lupi_by_affinity)]:+.4f} at "
           f"{max(lupi_by_affinity):g}." if len(lupi_by_affinity) > 1 else "."))
  if full is not None and regular is not None:
    closed = f("oracle_full_gap_closed")
    parts.append(
        f"A perfect privileged teacher (oracle_full) adds {full:+.4f}"
        + (f" ({closed:.1%} of the gap to the regular-feature ceiling)"
           if closed is not None else "")
        + f", and handing the student P(purchase | x) itself (oracle_regular) "
        f"{regular:+.4f}: all that soft labels alone can give the student here.")
  return " ".join(parts)


def ctr_findings(out: Mapping[str, float]) -> str:
  """What the CTR figures show, every number read from them."""
  f = functools.partial(_figure, out, "ctr")
  parts = []
  for gain, name in (("pfd_gain", "PFD"), ("pfdmd_gain", "PFD+MD")):
    verdict = holds(out, "ctr", gain)
    if verdict is not None:
      parts.append(f"{name} {'beats' if verdict else 'does not beat'} the two-tower "
                   f"baseline by the goal: {f(gain + '_mean'):+.4f} ± "
                   f"{f(gain + '_std'):.4f}.")
  teachers = [f(f"{row}.teacher_auc_mean") for row in ("pfd", "pfd_md")]
  step = f("pfdmd_over_pfd_gain_mean")
  if None not in teachers and step is not None:
    parts.append(
        f"The DCN teacher is {teachers[1] - teachers[0]:+.4f} AUC over the two-tower "
        f"teacher and PFD+MD's student {step:+.4f} over PFD's: in this world the click "
        "logit is a sum of scene, an inner product of latent user and item vectors "
        "with their biases, position and the log cross counts, which an inner-product "
        "teacher with the counts and position on its user side nearly represents.")
  full = f("bayes_auc_full")
  if full is not None and None not in teachers:
    parts.append(f"Both teachers stay {full - max(teachers):.4f} or more below the full "
                 "Bayes ceiling: id embeddings learnt from this much data limit "
                 "them, not their form.")
  paper = [f(f"paper.{row}_auc") for row in ("student", "pfd", "pfd_md")]
  if None not in paper:
    parts.append("The paper, one day of Taobao logs: " + " -> ".join(
        f"{auc:.4f}" for auc in paper) + ".")
  return " ".join(parts)


# Every vocabulary of the default spec: no table shared (RQ4's independent row).
ALL_VOCABULARIES = frozenset(spec_lib.DEFAULT_SPEC.vocabularies())


def _cvr(mode: Mode, **overrides) -> ModelConfig:
  return ModelConfig(task="cvr", mode=mode, **overrides)


def _ctr(mode: Mode, **overrides) -> ModelConfig:
  return ModelConfig.for_task(spec_lib.DEFAULT_SPEC, "ctr", mode=mode, **overrides)


def _ctcvr(mode: Mode, **overrides) -> ModelConfig:
  return ModelConfig.for_task(spec_lib.DEFAULT_SPEC, "ctcvr", mode=mode, **overrides)


TASKS: Mapping[str, TaskEvidence] = {
    # 256: ~1,000 steps per epoch of the evidence world's ~260k clicked train rows
    # (its last train day validates), for several epochs under early stopping: half
    # the steps of 128, each far less than twice as dear (a step's fixed cost rules).
    "cvr": TaskEvidence(
        variants={
            **{m.value: ModelConfig(task="cvr", mode=m)
               for m in (Mode.STUDENT, Mode.PFD, Mode.TEACHER, Mode.LUPI)},
            "pfd_shared_encoding": ModelConfig(task="cvr", mode=Mode.PFD,
                                               share_student_encoding=True),
            "pfd_independent": ModelConfig(task="cvr", mode=Mode.PFD,
                                           unshared_vocabularies=ALL_VOCABULARIES),
        },
        sweeps={"lambda_sweep": Sweep(_cvr(Mode.PFD), "lambda_value", RQ3_LAMBDAS),
                "lupi_lambda_sweep": Sweep(_cvr(Mode.LUPI), "lambda_value",
                                           RQ3_LAMBDAS),
                "swap_sweep": Sweep(_cvr(Mode.PFD), SWAP_FRACTION, (0.0, 0.1, 0.3))},
        independent=("pfd_independent", "pfd"),
        tuned=("student", "pfd", "teacher", "lupi"),
        methods={
            "kl": _cvr(Mode.PFD, distillation_loss="kl"),
            "js": _cvr(Mode.PFD, distillation_loss="js"),
            "hint": _cvr(Mode.PFD, hint_weight=1.0),
            "cr": _cvr(Mode.PFD, distillation_loss="confidence_ranking"),
            "rcr": _cvr(Mode.PFD, distillation_loss="rcr"),
            "md": _cvr(Mode.MD, teacher_hidden=(256, 128)),
            "pfd_md": _cvr(Mode.PFD, teacher_architecture=Architecture.DCN,
                           teacher_hidden=(256, 128)),
        },
        gains={"pfd_gain": ("pfd", "student"),
               "lupi_gain": ("lupi", "student"),
               "pfd_shared_encoding_gain": ("pfd_shared_encoding", "student"),
               "oracle_full_gain": ("oracle_full", "student"),
               "oracle_regular_gain": ("oracle_regular", "student")},
        batch_size=256, oracle_teachers=True, sizes=SIZE_SWEEP,
        # All the evidence world's ~350k clicked train rows (written user by user).
        shuffle_buffer=400_000,
        legend="MLP heads. lupi: the teacher sees post-event features only. "
        "pfd_shared_encoding: PFD whose teacher reads the student's encoding of the "
        "regular features (ModelConfig.share_student_encoding, the cheaper step). "
        "oracle_full / oracle_regular: PFD whose teacher is the simulator's "
        "P(purchase | x, x*) / P(purchase | x) (benchmarks/teacher_ceiling.py); their "
        "teacher rows are the oracle itself.",
        notes=cvr_findings),
    # At most 100k train impressions (a 36th of what trains in the evidence world),
    # 50k validating each epoch and 100k evaluated: PFD's CTR gain is many times
    # DeLong's noise at this size, and the job's many CTR runs fit its time.
    "ctr": TaskEvidence(
        train_examples=100_000, validation_examples=50_000, eval_examples=100_000,
        variants={
            "student": _ctr(Mode.STUDENT),
            "pfd": _ctr(Mode.PFD, teacher_architecture=Architecture.TWO_TOWER),
            "pfd_md": _ctr(Mode.PFD),
        },
        sweeps={"lambda_sweep": Sweep(_ctr(Mode.PFD), "lambda_value", RQ3_LAMBDAS),
                "lupi_lambda_sweep": Sweep(_ctr(Mode.LUPI), "lambda_value",
                                           RQ3_LAMBDAS)},
        methods={loss: _ctr(Mode.PFD, distillation_loss=loss)
                 for loss in ("top_k", "bpr", "listwise", "ranking_distillation")},
        gains={"pfd_gain": ("pfd", "student"), "pfdmd_gain": ("pfd_md", "student"),
               "pfdmd_over_pfd_gain": ("pfd_md", "pfd")},
        tuned=("student", "pfd", "pfd_md"),
        batch_size=512,
        # A full shuffle: the split is written user by user and ends with ~100k
        # impressions of users who never click, which a 10k buffer leaves together
        # at the end of the epoch (the two-tower then collapses to "no click").
        shuffle_buffer=1_500_000,
        legend="The student is a two-tower (user tower . item tower). pfd: its "
        "teacher is a two-tower too, with the cross features and position on the "
        "user side; pfd_md: its teacher is a DCN over all features (PFD+MD).",
        notes=ctr_findings,
        paper={"student": 0.6625, "pfd": 0.6712, "pfd_md": 0.6745}),
    # DMTL (issue 16): the two-tower pre-ranker by CTCVR over all impressions, taught
    # by a multi-task ESMM/MMoE teacher, against one taught by a single-task DCN.
    "ctcvr": TaskEvidence(
        train_examples=300_000, validation_examples=100_000, eval_examples=300_000,
        variants={"student": _ctcvr(Mode.STUDENT),
                  "pfd_md": _ctcvr(Mode.PFD, teacher_architecture=Architecture.DCN)},
        methods={"dmtl": _ctcvr(Mode.PFD)},
        gains={"pfdmd_gain": ("pfd_md", "student"),
               "dmtl_over_pfdmd_gain": ("method.dmtl", "pfd_md")},
        batch_size=512, shuffle_buffer=1_500_000,  # As CTR's, over the same records.
        legend="The student is a two-tower scoring click-and-purchase over all "
        "impressions. pfd_md: its teacher is a DCN over all features but the "
        "post-click ones; dmtl (methods): an ESMM teacher (pCTCVR = pCTR x pCVR over "
        "MMoE experts) learning from the click too."),
}


def ensure_dataset(data_dir: str, raw_dir: str, world: str = "demo") -> None:
  """Generates and joins the `world` preset unless `data_dir` is already published."""
  if not tf.io.gfile.exists(os.path.join(data_dir, layout.SUCCESS_FILE)):
    datasets.simulate_and_join(raw_dir, data_dir, oracle=True, quiet=False,
                               preset=world)


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
  for name, (variant, reference) in TASKS[task].all_gains.items():
    paired = [seed for seed in seeds
              if {(variant, seed), (reference, seed)} <= trained]
    if not paired:
      continue
    p_values = []
    for seed in paired:
      a, b = (train.read_scores(os.path.join(work_dir, f"{run}-seed{seed}"))
              for run in (variant, reference))
      np.testing.assert_array_equal(a["labels"], b["labels"],
                                    err_msg=f"{variant} and {reference}, seed {seed}")
      p_values.append(metrics.delong_test(a["labels"], a["student"],
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
  evidence = TASKS[task]
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


def from_figures(out: Mapping[str, float], task: str
                 ) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, float]]:
  """(summary as compare.summarize gives it, ceilings), read back from the figures."""
  prefix = f"quality.{task}."
  summary = {}
  for mode in TASKS[task].row_names:
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


def _svg_name(task: str, what: str = "") -> str:
  return f"evidence-{task}{'-' + what if what else ''}.svg"


def bars(summary: Mapping[str, Mapping[str, tuple[float, float]]]
         ) -> list[tuple[str, float, float]]:
  return [(f"{mode} {head}", *summary[mode][f"{head}_auc"])
          for mode in summary for head in ("student", "teacher")
          if f"{head}_auc" in summary[mode]]


def sweep_variants(evidence: TaskEvidence, steps: int) -> dict[str, ModelConfig]:
  """`<sweep>-<value>` -> its config, for every sweep of the task (`steps`: the
  run's optimizer steps, which a swap fraction is of)."""
  out = {}
  for name, sweep in evidence.sweeps.items():
    for value in sweep.values:
      change = ({"swap_step": int(value * steps)} if sweep.field == SWAP_FRACTION
                else {sweep.field: value})
      out[f"{name}-{value:g}"] = dataclasses.replace(sweep.base, **change)
  return out


def sweep_runs(evidence: TaskEvidence, steps: int
               ) -> tuple[dict[str, ModelConfig], dict[str, str]]:
  """(the sweep points to train, point -> the row whose config it is): a point at a
  row's own config (e.g. RQ3's lambda 0.5) reads that row's runs."""
  points = sweep_variants(evidence, steps)
  rows_of = {point: name for point, config in points.items()
             for name, variant in evidence.variants.items() if config == variant}
  return {p: c for p, c in points.items() if p not in rows_of}, rows_of


def sweep_figures(rows, task: str) -> dict[str, float]:
  """Per sweep value, the student AUC gain over the baseline paired by seed
  (`quality.<task>.<sweep>.<value>` and `_std`); RQ4's shared-minus-independent AUC
  and train-time ratio."""
  evidence, prefix = TASKS[task], f"quality.{task}"
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
    run = f"{SIZE_SWEEP_NAME}-{size}-"
    if f"{run}pfd" in trained and _spread_over_seeds(
        rows, f"{run}pfd", f"{run}{evidence.baseline}"):
      gain = compare.paired_gain(rows, f"{run}pfd", f"{run}{evidence.baseline}",
                                 "student_auc")
      out[f"{prefix}.{SIZE_SWEEP_NAME}.{size}"] = float(gain.mean())
      out[f"{prefix}.{SIZE_SWEEP_NAME}.{size}_std"] = float(gain.std())
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


def _sweep_points(out: Mapping[str, float], task: str, name: str
                  ) -> list[tuple[float, float, float]]:
  """(value, gain mean, std) of one sweep's figures, in value order."""
  prefix = f"quality.{task}.{name}."
  # Not the oracle rows beside a world sweep's (`<sweep>.<row>.<value>`).
  return sorted((float(key[len(prefix):]), out[key], out[f"{key}_std"])
                for key in out if key.startswith(prefix) and not key.endswith("_std")
                and key[len(prefix):].replace(".", "", 1).isdigit())


def _swept(task: str) -> dict[str, tuple[str, str]]:
  """Sweep name -> (what is trained, the knob swept): the task's sweeps, then the
  world sweeps (benchmarks/world_sweeps.py) of its task."""
  swept = {name: (sweep.base.mode.value, sweep.field)
           for name, sweep in TASKS[task].sweeps.items()}
  if TASKS[task].sizes:
    swept[SIZE_SWEEP_NAME] = ("pfd over the baseline trained on as many",
                              "train examples")
  if task == world_sweeps.TASK:
    swept.update({name: ("pfd, a world per value", sweep.field)
                  for name, sweep in world_sweeps.WORLD_SWEEPS.items()})
  return swept


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


def sweep_lines(out: Mapping[str, float], task: str) -> list[str]:
  """The sweeps' and RQ4's markdown, from the figures."""
  lines = []
  for name, (what, field) in _swept(task).items():
    points = _sweep_points(out, task, name)
    if not points:
      continue
    spread, noise, shape = sweep_shape(points)
    lines.append(f"- `{name}` ({what}, {field}): " + ", ".join(
        f"{value:g}: {mean:+.4f} ± {std:.4f}" for value, mean, std in points)
        + f" over the baseline; {shape} (spread {spread:.4f}, largest std "
        f"{noise:.4f}).")
  prefix = f"quality.{task}"
  available = out.get(f"{prefix}.{SIZE_SWEEP_NAME}.available")
  skipped = [size for size in TASKS[task].sizes
             if available is not None and size > available]
  if skipped:
    lines.append(f"- `{SIZE_SWEEP_NAME}`: " + ", ".join(f"{size:,}" for size in skipped)
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
  evidence, prefix = TASKS[task], f"quality.{task}.method."
  rows = []
  for name, config in evidence.methods.items():
    mean = out.get(f"{prefix}{name}_gain_mean")
    if mean is None:
      continue
    p_max = out.get(f"{prefix}{name}_delong_p_max")
    verdict = holds(out, task, f"method.{name}_gain")
    rows.append(f"| {name} | {config.mode.value}, {config.distillation_loss} | "
                f"{mean:+.4f} ± {out[f'{prefix}{name}_gain_std']:.4f} | "
                + ("" if p_max is None else p_text(p_max)) + " | "
                + _says(verdict, "helps", "does not help") + " |")
  if not rows:
    return []
  return ["| method | mode, loss | student AUC gain over the baseline | DeLong p, max "
          "over seeds | by the goal |", "| --- | --- | --- | --- | --- |", *rows]


def sweep_plot(out: Mapping[str, float], task: str, path: str) -> bool:
  """One panel per sweep: gain over the baseline against the value, with std bars.
  Writes `path` (SVG) and returns True where the task has sweep figures."""
  swept = _swept(task)
  names = [n for n in swept if _sweep_points(out, task, n)]
  if not names:
    return False
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, axes = pyplot.subplots(1, len(names), figsize=(4 * len(names), 3),
                                 squeeze=False)
  for axis, name in zip(axes[0], names):
    values, means, stds = zip(*_sweep_points(out, task, name))
    axis.errorbar(values, means, yerr=stds, marker="o", capsize=3)
    axis.axhline(0.0, color="gray", linestyle="--", linewidth=1)
    axis.set_title(name)
    axis.set_xlabel(swept[name][1])
    axis.set_ylabel("student AUC gain over baseline")
  figure.tight_layout()
  with tf.io.gfile.GFile(path, "wb") as f:
    figure.savefig(f, format="svg")
  pyplot.close(figure)
  return True


def task_section(out: Mapping[str, float], task: str) -> str:
  """One task's table, steps and plot, from the figures alone."""
  evidence = TASKS[task]
  prefix = f"quality.{task}"
  summary, ceilings = from_figures(out, task)
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
    verdict = "beyond" if mean > GAIN_STDS * std else "NOT beyond"
    p_max = out.get(f"{prefix}.{name.removesuffix('_gain')}_delong_p_max")
    closed = out.get(f"{prefix}.{name.removesuffix('_gain')}_gap_closed")
    lines.append(f"- `{name}`: {variant} student AUC minus {reference}'s, paired by "
                 f"seed: {mean:+.4f} ± {std:.4f}"
                 + (f" (per seed {per_seed})" if per_seed else "")
                 + f", {verdict} {GAIN_STDS:g} std"
                 + (f"; DeLong's p on the same eval examples at most {p_text(p_max)} "
                    "over seeds" if p_max is not None else "")
                 + (f"; {closed:+.1%} of the baseline's gap to the regular-feature "
                    "Bayes ceiling" if closed is not None else "") + ".")
  noise_kept = out.get(f"{prefix}.soft_label_noise_kept")
  if noise_kept is not None:
    lines.append(f"- `soft_label_noise_kept`: a perfect privileged teacher's soft labels "
                 f"keep {noise_kept:.1%} of the hard labels' noise around P(y | x).")
  if evidence.notes:
    lines += ["", evidence.notes(out)]
  lines += ["", f"![AUC by mode and head]({_svg_name(task)})", ""]
  methods = method_lines(out, task)
  if methods:
    lines += ["### Methods", "", *methods, ""]
  rates = lr_grid_lines(out, task)
  if rates:
    lines += ["### Learning rate on validation", "", *rates, ""]
  sweeps = sweep_lines(out, task)
  if sweeps:
    plotted = any(_sweep_points(out, task, name) for name in _swept(task))
    lines += ["### Sweeps", "", *sweeps, ""] + (
        [f"![Gain over the baseline by sweep]({_svg_name(task, 'sweeps')})", ""]
        if plotted else [])
  return "\n".join(lines)


def world_line(out: Mapping[str, float], task: str) -> list[str]:
  """The density of the world the task ran on (`world_figures`), where measured."""
  f = functools.partial(_figure, out, f"{task}.world")
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
  present = [t for t in TASKS if from_figures(out, t)[0]]
  return "\n".join([
      "# Evidence: PFD on a simulated world (eval split)",
      "",
      "Written by `make evidence` (benchmarks/evidence.py) from the figures in "
      "benchmarks/evidence.json.",
      "",
      *job_line(out),
      *[task_section(out, t) for t in present],
  ])


def job_line(out: Mapping[str, float]) -> list[str]:
  """How long the last job took, and on what, where recorded."""
  f = functools.partial(_figure, out, "job")
  if f("seconds") is None:
    return []
  return [f"The last job took {f('seconds') / 60:.1f} min of wall time in "
          f"{f('processes'):.0f} process(es) on {f('cpus'):.0f} CPUs (runs finished "
          "before it started are read, not trained, so only a job from an empty "
          "work directory times the whole).", ""]


@dataclasses.dataclass(frozen=True)
class EvidenceJob:
  """Which tasks and seeds, on which world, and where the figures go."""
  data_dir: str = knob("workspace/examples", "The world's dataset (generated from "
                       "--world when not published yet).")
  raw_dir: str = knob("workspace/raw", "Its raw logs and oracle.")
  world: str = knob("demo", "The simulation preset to generate: demo, or evidence "
                    "(simulation/config.py: dense enough for a gain to show).")
  sweep_world: str = knob("sweep", "The preset each world of the world sweeps "
                          "(benchmarks/world_sweeps.py) starts from.")
  work_dir: str = knob("workspace/evidence", "Model directories, under <task>/, "
                       "and the world sweeps' worlds; a finished run there is read, "
                       "not trained again.")
  tasks: tuple[str, ...] = knob(tuple(TASKS), "Tasks to run (the others' figures "
                                "stay).")
  seeds: tuple[int, ...] = knob((0, 1, 2), "Seeds.")
  sweep_seeds: int = knob(2, "How many of --seeds each sweep value runs (the RQ3, "
                          "swap, size and world sweeps).")
  epochs: int = knob(1, "Epochs per run (id-embedding models overfit after one).")
  batch_size: int | None = knob(None, "Batch size (default: the task's, TASKS).")
  steps_per_epoch: int | None = knob(None, "Cap on steps per epoch (default: the "
                                     "whole train split).")
  output_dir: str = knob("benchmarks", "Where evidence.* go.")
  parts: tuple[str, ...] = knob(PARTS, "What runs beside the RQ1 rows (TASKS' "
                                "variants and oracle teachers), in this order: "
                                "methods, lr_grid, world_sweeps, sweeps (RQ3, swap, "
                                "size).")
  quick: bool = knob(False, "The RQ1 rows alone: --parts empty.")
  train_missing: bool = knob(True, "Train the runs not finished yet; false: the "
                             "figures of the finished ones alone (after a job was "
                             "stopped).")
  processes: int = knob(1, "Processes that split the runs, each training one at a "
                        "time (a run keeps about one core busy).")
  claims_dir: str = knob("", "Where the processes claim runs (compare.Share); the "
                         "job sets it for the processes it starts, which it marks "
                         "as such.")

  def __post_init__(self):
    config_flags.check_choices("tasks", self.tasks, TASKS, "evidence tasks")
    config_flags.check_choices("parts", self.parts, PARTS, "evidence parts")
    if self.quick:
      object.__setattr__(self, "parts", ())
    if not 1 <= self.sweep_seeds <= len(self.seeds):
      raise ValueError(f"sweep_seeds={self.sweep_seeds} must be in [1, "
                       f"{len(self.seeds)}] (the number of --seeds).")



# A process opens the world's dataset once: its filtered counts (a pass over the split
# each) then serve every part and run.
published = functools.cache(dataset_lib.PublishedDataset.open)


# Validation and eval only score: large batches cost less per example and change no
# metric (train.TrainConfig.eval_batch_size).
EVAL_BATCH_SIZE = 4096


def _train_config(job: EvidenceJob, evidence: TaskEvidence,
                  overrides: Mapping[str, Any] | None = None) -> train.TrainConfig:
  """The job's epochs, the task's batch size (unless the job's) and shuffle, then
  `overrides`."""
  return train.TrainConfig(**{
      "epochs": job.epochs, "batch_size": job.batch_size or evidence.batch_size,
      "eval_batch_size": EVAL_BATCH_SIZE, "shuffle_buffer": evidence.shuffle_buffer,
      **(overrides or {})})


def run_task(job: EvidenceJob, task: str, protocol: Mapping[str, Any] | None = None,
             share: compare.Share | None = None,
             parts: Sequence[str] | None = None) -> dict[str, float]:
  """Trains the task's variants for every seed, and its `parts` (default: the
  job's); returns its figures.

  Args:
    protocol: TrainConfig overrides every run gets alike (e.g. validation_days,
      early_stopping_patience, learning_rate_grid: models.train's flags), recorded as
      `quality.<task>.protocol.<knob>` where numeric.
    share: Train only this share of the runs and return no figures.
  """
  parts = job.parts if parts is None else parts
  evidence = TASKS[task]
  dataset = published(job.data_dir)
  # What trains: the train split without its validation days, if any.
  train_range, validation_range = train.validation_split(dataset, task, (
      protocol or {}).get("validation_days", train.TrainConfig.validation_days))
  available = input_lib.example_count(dataset, "train", task, train_range)

  def capped(cap: int | None, count: int) -> float:
    return min(1.0, (cap or count) / count)

  train_config = _train_config(job, evidence, {
      "steps_per_epoch": job.steps_per_epoch,
      "train_fraction": capped(evidence.train_examples, available),
      # Capped subsets are small: held in memory, later epochs and runs of the
      # process read them there instead of the split.
      "cache_subsets": evidence.train_examples is not None,
      "eval_fraction": capped(evidence.eval_examples,
                              dataset.example_count("eval", task)),
      **({} if validation_range is None else {
          "validation_fraction": capped(evidence.validation_examples,
                                        input_lib.example_count(
                                            dataset, "train", task,
                                            validation_range))}),
      **(protocol or {})})
  work_dir = os.path.join(job.work_dir, task)
  oracle_dir = os.path.join(job.raw_dir, "oracle")
  sweep_seeds = job.seeds[:job.sweep_seeds]
  run = functools.partial(compare.run_variants, dataset, work_dir, share=share,
                          train_missing=job.train_missing)
  rows = run(dict(evidence.variants), job.seeds, train_config)
  if evidence.oracle_teachers:
    oracle = load_oracle(oracle_dir)
    rows += teacher_ceiling.run(dataset, work_dir, oracle, job.seeds,
                                evidence.variants["pfd"], train_config, share,
                                job.train_missing)
  if "methods" in parts:
    rows += run({f"method.{name}": config
                 for name, config in evidence.methods.items()}, job.seeds, train_config)
  if "sweeps" in parts:
    steps = job.epochs * (job.steps_per_epoch or -(-int(
        available * train_config.train_fraction) // train_config.batch_size))
    points, rows_of = sweep_runs(evidence, steps)
    rows += run(points, sweep_seeds, train_config)
    rows += [{**row, "mode": point} for point, name in rows_of.items() for row in rows
             if row["mode"] == name and row["seed"] in sweep_seeds]
    for size in evidence.sizes:
      if size <= available:
        rows += run({f"{SIZE_SWEEP_NAME}-{size}-{name}": evidence.variants[name]
                     for name in (evidence.baseline, "pfd")}, sweep_seeds,
                    dataclasses.replace(train_config, train_fraction=size / available))
  tuned = {}
  if LR_GRID_NAME in parts and evidence.tuned:
    tuned = tune_learning_rates(job, task, train_config, share)
  if share is not None:
    return {}
  extra = {f"quality.{task}.protocol.{name}": float(getattr(train_config, name))
           for name in ("epochs", "batch_size", "validation_days",
                        "early_stopping_patience", "train_fraction",
                        "validation_fraction", "eval_fraction")}
  extra[f"quality.{task}.protocol.learning_rate"] = (
      evidence.variants[evidence.baseline].learning_rate)
  extra[f"quality.{task}.protocol.sweep_seeds"] = float(job.sweep_seeds)
  if evidence.oracle_teachers:
    extra[f"quality.{task}.soft_label_noise_kept"] = (
        teacher_ceiling.soft_label_noise_kept(oracle))
  if evidence.sizes and "sweeps" in parts:
    extra[f"quality.{task}.{SIZE_SWEEP_NAME}.available"] = float(available)
  ceilings = compare.load_ceilings(oracle_dir, task)
  return {**figures(rows, ceilings, task), **extra, **tuned,
          **sweep_figures(rows, task),
          **delong_figures(work_dir, task, job.seeds,
                           {(r["mode"], r["seed"]) for r in rows})}


def tune_learning_rates(job: EvidenceJob, task: str, train_config: train.TrainConfig,
                        share: compare.Share | None = None) -> dict[str, float]:
  """The lr_grid part (TaskEvidence.tuned): per tuned variant, on the first seed, a
  run at each rate of LR_GRID beside its own (`lr_grid.<variant>.<rate>`; its own is
  its RQ1 run, read, not trained again), and the rate whose run validates best: its
  figures `quality.<task>.lr_grid.<variant>.chosen` and `.<rate>` (each rate's
  validation AUC), for the runs finished (none with a `share`). What
  `--learning_rate_grid` would choose, without training the row's own rate twice."""
  if not train_config.validation_days:
    raise ValueError(f"The {LR_GRID_NAME} part chooses on validation: set "
                     "--validation_days (make evidence's EVIDENCE_PROTOCOL does).")
  evidence, work_dir = TASKS[task], os.path.join(job.work_dir, task)
  seed = job.seeds[0]
  out = {}
  for name in evidence.tuned:
    config = evidence.variants[name]
    runs = {name: config, **{f"{LR_GRID_NAME}.{name}.{rate:g}": dataclasses.replace(
        config, learning_rate=rate) for rate in LR_GRID if rate != config.learning_rate}}
    rows = compare.run_variants(published(job.data_dir), work_dir, runs, [seed],
                                train_config, share=share,
                                train_missing=job.train_missing)
    if share is not None or {row["mode"] for row in rows} != runs.keys():
      continue
    aucs = {}
    for run, run_config in runs.items():
      path = os.path.join(work_dir, f"{run}-seed{seed}", train.METRICS_FILE)
      with tf.io.gfile.GFile(path) as f:
        aucs[run_config.learning_rate] = json.load(f)["validation"]["auc"]
    prefix = f"quality.{task}.{LR_GRID_NAME}.{name}"
    out[f"{prefix}.chosen"] = max(aucs, key=aucs.get)
    out.update({f"{prefix}.{rate:g}": auc for rate, auc in aucs.items()})
  return out


def lr_grid_lines(out: Mapping[str, float], task: str) -> list[str]:
  """The lr_grid part's markdown, from the figures (rates read from their names)."""
  prefix = f"quality.{task}.{LR_GRID_NAME}."
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


def run_world_sweeps(job: EvidenceJob, protocol: Mapping[str, Any] | None = None,
                     share: compare.Share | None = None) -> dict[str, float]:
  """The world sweeps' figures (benchmarks/world_sweeps.py) for the task they are of,
  with its batch size and shuffle and the job's `protocol` (as run_task's); with a
  `share`, its worlds alone, no figures."""
  train_config = _train_config(job, TASKS[world_sweeps.TASK], protocol)
  out = {}
  for name, sweep in world_sweeps.WORLD_SWEEPS.items():
    out.update(world_sweeps.run_sweep(
        name, sweep, preset(job.sweep_world),
        os.path.join(job.work_dir, "world_sweeps"), job.seeds[:job.sweep_seeds],
        train_config, share=share, train_missing=job.train_missing))
  return {} if share is not None else out


def _wait_for_dataset(data_dir: str, poll_seconds: float = 10.0) -> None:
  """Until the job's first process has published `data_dir` (it builds the world
  while the others start on theirs)."""
  parent = os.getppid()
  while not tf.io.gfile.exists(os.path.join(data_dir, layout.SUCCESS_FILE)):
    if os.getppid() != parent:
      raise RuntimeError(f"The job's first process ended before publishing "
                         f"{data_dir!r}.")
    time.sleep(poll_seconds)


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(EvidenceJob)
  start = time.perf_counter()
  cpus = os.cpu_count() or 1
  # Each process's ops on its share of the cores: TF's default pool spans them all,
  # and the processes' pools then contend.
  tf.config.threading.set_intra_op_parallelism_threads(max(1, cpus // job.processes))
  # models.train's protocol flags, alike for every run (the job's own win).
  protocol = {name: value for name, value in config_flags.explicit(
      train.TrainConfig).items() if name not in
              {f.name for f in dataclasses.fields(EvidenceJob)}}
  # Each process claims the next run not yet claimed (compare.Share), from a
  # directory on this machine that the first process makes for the job.
  claims_dir = job.claims_dir or (tempfile.mkdtemp(prefix="evidence-claims-")
                                  if job.processes > 1 else "")
  share = compare.Share(claims_dir) if claims_dir else None

  def train_share() -> None:
    # The RQ1 rows first, then each part in turn: a job stopped early has the most
    # basic figures' runs; a run or world goes to one process whichever part it is
    # met in (Share.take by its directory).
    for part in ("rq1", *job.parts):
      if part == "world_sweeps":
        run_world_sweeps(job, protocol, share)
        continue
      for task in job.tasks:
        run_task(job, task, protocol, share, parts=() if part == "rq1" else (part,))

  if job.claims_dir:  # A process the first one started: its share, then done.
    if "world_sweeps" in job.parts and not tf.io.gfile.exists(
        os.path.join(job.data_dir, layout.SUCCESS_FILE)):
      # While the first process builds the world.
      run_world_sweeps(job, protocol, share)
    _wait_for_dataset(job.data_dir)
    train_share()
    return
  others = [subprocess.Popen([sys.executable, "-m", "benchmarks.evidence",
                              *sys.argv[1:], f"--claims_dir={claims_dir}"])
            for _ in range(1, job.processes)]
  ensure_dataset(job.data_dir, job.raw_dir, job.world)
  if share is not None:
    train_share()
  for index, process in enumerate(others, 1):
    if process.wait():
      raise RuntimeError(f"Evidence process {index} of the {job.processes - 1} it "
                         f"started failed (exit status {process.returncode}); its "
                         "finished runs are kept, a rerun trains the rest.")
  if claims_dir:
    shutil.rmtree(claims_dir)
  path = os.path.join(job.output_dir, "evidence.json")
  dataset = published(job.data_dir)
  for task in job.tasks:
    results.update_results(path, {**run_task(job, task, protocol),
                                  **world_figures(dataset, task)})
  if "world_sweeps" in job.parts:
    results.update_results(path, run_world_sweeps(job, protocol))
  if job.train_missing:  # A pass over finished runs alone times no job.
    results.update_results(path, {"quality.job.seconds": time.perf_counter() - start,
                                  "quality.job.processes": float(job.processes),
                                  "quality.job.cpus": float(cpus)})
  render(job.output_dir)


def render(output_dir: str) -> None:
  """EVIDENCE.md and the plots from evidence.json in `output_dir`, every task's."""
  path = os.path.join(output_dir, "evidence.json")
  out = results.update_results(path, {})
  for task in TASKS:
    summary, ceilings = from_figures(out, task)
    if summary:
      with tf.io.gfile.GFile(os.path.join(output_dir, _svg_name(task)), "w") as f:
        f.write(bar_chart_svg(bars(summary), ceilings))
    sweep_plot(out, task, os.path.join(output_dir, _svg_name(task, "sweeps")))
  with tf.io.gfile.GFile(os.path.join(output_dir, "EVIDENCE.md"), "w") as f:
    f.write(markdown(out))
  print(markdown(out))


if __name__ == "__main__":
  config_flags.define(EvidenceJob)
  config_flags.define(train.TrainConfig)
  cli.run(main)
