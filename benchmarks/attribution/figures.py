"""A study's figures, from its runs' rows and eval scores: gains, DeLong, the
privileged share, and the diagnostics of why it is or is not there."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

import roc
from benchmarks.attribution import studies
from features import dataset as dataset_lib
from features import input as input_lib
from features import spec as spec_lib
from models import compare
from models.config import Mode


PRIVILEGED_AUC_SAMPLE = 200_000  # Train examples the privileged features' AUCs read.


def _logits(p: np.ndarray) -> np.ndarray:
  p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
  return np.log(p / (1 - p))


def privileged_aucs(dataset: dataset_lib.PublishedDataset, task: str,
                    examples: int = PRIVILEGED_AUC_SAMPLE) -> dict[str, float]:
  """Each numeric privileged feature's univariate AUC against the task's label on
  the first `examples` train examples, oriented (max(AUC, 1 - AUC)): how nearly one
  feature alone decides the label (Yang et al.: too predictive a one hurts)."""
  names = [f.name for f in dataset.spec.privileged(task)
           if f.kind == spec_lib.Kind.NUMERIC]
  if not names:
    return {}
  # Deterministic: the same examples every run (the shards' interleave otherwise
  # varies, and with it the sample and the feature HAPFD drops).
  batches = input_lib.make_dataset(dataset, "train", task, 4096, features=names,
                                   shuffle=False, deterministic=True
                                   ).take(-(-examples // 4096))
  values, labels = {name: [] for name in names}, []
  for features, label in batches.as_numpy_iterator():
    labels.append(label.reshape(-1))
    for name in names:
      values[name].append(features[name].reshape(len(labels[-1]), -1)[:, 0])
  labels = np.concatenate(labels)
  out = {}
  for name in names:
    auc = roc.auc(labels, np.concatenate(values[name]))
    out[name] = max(auc, 1.0 - auc)
  return out


def diagnostics(scores: Mapping[str, Sequence[Mapping[str, np.ndarray]]], pfd: str
                ) -> dict[str, float]:
  """Whether the teacher's privileged knowledge reaches the student, from the eval
  scores of each arm's seeds (paired by seed; at least md and `pfd`).

  * `teacher_privileged_gain`: PFD's teacher AUC minus MD's (the same teacher
    without the privileged features): what they add to a teacher; nothing added,
    nothing to distil.
  * `teacher_privileged_variance`: Var(t_pfd - t_md) / Var(t_pfd) of the teachers'
    logits: the share of the PFD teacher's variation that the privileged features
    make, which the student cannot see (Yang et al.'s variance account).
  * `follows_privileged.<arm>`: the correlation over eval examples of the student's
    logit shift from the student alone's (same seed) with the teacher's privileged
    shift (pfd - md): above 0 where the student moves where the privileged features
    move the teacher; pfd_permuted's, whose teacher's privileged features are
    another example's, is what distillation alone gives.
  * `student_seed_std.<arm>`: the student's logit std across seeds, averaged over
    examples: the variance a too predictive teacher adds to the student.
  Each is the mean over seeds, with its std over them (`_std`) where per seed.
  """
  md = Mode.MD.value
  out: dict[str, list[float]] = {}

  def add(name, value):
    out.setdefault(name, []).append(float(value))

  for seed, (teacher_run, reference) in enumerate(zip(scores[pfd], scores[md])):
    labels = teacher_run["labels"]
    add("teacher_privileged_gain", roc.auc(labels, teacher_run["teacher"])
        - roc.auc(labels, reference["teacher"]))
    shift = _logits(teacher_run["teacher"]) - _logits(reference["teacher"])
    add("teacher_privileged_variance", np.var(shift)
        / np.var(_logits(teacher_run["teacher"])))
    alone = _logits(scores[studies.STUDENT][seed]["student"])
    for arm, runs in scores.items():
      if arm != studies.STUDENT and "student" in runs[seed]:
        moved = _logits(runs[seed]["student"]) - alone
        add(f"follows_privileged.{arm}", np.corrcoef(moved, shift)[0, 1])
  figures = {}
  for name, values in out.items():
    figures[f"diagnostic.{name}"] = float(np.mean(values))
    figures[f"diagnostic.{name}_std"] = float(np.std(values))
  for arm, runs in scores.items():
    if len(runs) > 1 and "student" in runs[0]:
      figures[f"diagnostic.student_seed_std.{arm}"] = float(np.mean(np.std(
          [_logits(run["student"]) for run in runs], axis=0)))
  return figures


def _delong_p_max(scores, arm: str, reference: str) -> float:
  """DeLong's p of the two arms' students on the same eval examples, the largest
  over the seeds."""
  return max(roc.delong_test(a["labels"], a["student"], b["student"]).p_value
             for a, b in zip(scores[arm], scores[reference]))


def gain_figures(rows: Sequence[dict[str, Any]], scores, arm: str, name: str,
                 reference: str = studies.STUDENT) -> dict[str, float]:
  """`<name>_gain_mean/_std` (the arm's student AUC minus the reference's, paired by
  seed) and `<name>_delong_p_max` over the seeds both ran."""
  gain = compare.paired_gain(rows, arm, reference, "student_auc")
  return {f"{name}_gain_mean": float(gain.mean()), f"{name}_gain_std": float(gain.std()),
          f"{name}_delong_p_max": _delong_p_max(scores, arm, reference)}


def figures(study: studies.Study, rows: Sequence[dict[str, Any]],
            scores: Mapping[str, Sequence[Mapping[str, np.ndarray]]],
            aucs: Mapping[str, float]) -> dict[str, float]:
  """The study's figures, `quality.<world>.<task>.`-prefixed."""
  out = {"num_seeds": float(len({row["seed"] for row in rows}))}
  for arm, metrics in compare.summarize(rows).items():
    for key, (mean, std) in metrics.items():
      out[f"{arm}.{key}_mean"], out[f"{arm}.{key}_std"] = mean, std
  arms = [arm for arm in scores if arm != studies.STUDENT]
  for arm in arms:
    label = (f"control.{arm}" if arm in studies.CONTROLS else
             f"remedy.{arm}" if arm in study.remedies else arm)
    out.update(gain_figures(rows, scores, arm, label))
  for arm, name in ((study.pfd, "privileged_share"),
                    *((remedy, f"remedy.{remedy}_share") for remedy in study.remedies
                      if remedy in scores)):
    share = compare.privileged_share(rows, arm=arm)
    out[f"{name}_mean"] = float(share.per_seed.mean())
    out[f"{name}_std"] = float(share.per_seed.std())
    out[f"{name}_p_max"] = _delong_p_max(scores, arm, share.control)
  out.update({f"diagnostic.privileged_auc.{name}": auc for name, auc in aucs.items()})
  out.update(diagnostics(scores, study.pfd))
  return {f"quality.{study.name}.{key}": value for key, value in out.items()}
