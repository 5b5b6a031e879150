"""A study's EVIDENCE.md section and plot, every number read from the figures."""

from __future__ import annotations

import os
from typing import Mapping

import tensorflow as tf

from benchmarks.attribution import studies
from models.config import Mode


# What the report calls a share "significant": beyond this many stds over seeds and
# DeLong's p below SIGNIFICANT_P on every seed.
SHARE_STDS = 2.0


SIGNIFICANT_P = 0.05


def _significant(out: Mapping[str, float], prefix: str, name: str) -> bool:
  mean, std = out[f"{prefix}{name}_mean"], out[f"{prefix}{name}_std"]
  return mean > SHARE_STDS * std and out[f"{prefix}{name}_p_max"] < SIGNIFICANT_P


def _gain_text(out: Mapping[str, float], prefix: str, name: str) -> str:
  p = out.get(f"{prefix}{name}_delong_p_max")
  return (f"{out[f'{prefix}{name}_gain_mean']:+.4f} ± "
          f"{out[f'{prefix}{name}_gain_std']:.4f}"
          + ("" if p is None else f" (DeLong p ≤ {p:.2g})"))


def studies_in(out: Mapping[str, float]) -> list[studies.Study]:
  """The studies with figures in `out`, in STUDIES' order."""
  return [study for name, study in studies.STUDIES.items()
          if f"quality.{name}.privileged_share_mean" in out]


def gains_plot(out: Mapping[str, float], study: studies.Study, path: str) -> None:
  """Each arm's student AUC gain over the student alone (std whiskers) as an SVG."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  prefix = f"quality.{study.name}."
  names = sorted(key[len(prefix):-len("_gain_mean")] for key in out
                 if key.startswith(prefix) and key.endswith("_gain_mean"))
  figure, axis = pyplot.subplots(figsize=(6, 0.4 * len(names) + 1))
  means = [out[f"{prefix}{name}_gain_mean"] for name in names]
  stds = [out[f"{prefix}{name}_gain_std"] for name in names]
  axis.barh(names, means, xerr=stds, capsize=3,
            color=["gray" if name.startswith("control.") else "tab:blue"
                   for name in names])
  axis.axvline(0.0, color="black", linewidth=1)
  axis.set_xlabel("student AUC gain over the student alone")
  axis.set_title(study.name)
  figure.tight_layout()
  with tf.io.gfile.GFile(path, "wb") as f:
    figure.savefig(f, format="svg")
  pyplot.close(figure)


def svg_name(study: studies.Study) -> str:
  return f"evidence-attribution-{study.world}-{study.task}.svg"


def section(out: Mapping[str, float], study: studies.Study) -> str:
  """A study's markdown, every number read from the figures."""
  prefix = f"quality.{study.name}."

  def f(key: str) -> float | None:
    return out.get(prefix + key)

  summary = {arm: {key[len(f"{prefix}{arm}."):-len("_mean")]: (
      out[key], out[key[:-len("_mean")] + "_std"])
      for key in out if key.startswith(f"{prefix}{arm}.") and key.endswith("_mean")}
      for arm in [studies.STUDENT, *sorted({key[len(prefix):].split(".")[0] for key in out
                                    if key.startswith(prefix) and
                                    key.endswith(".student_auc_mean")} - {studies.STUDENT})]}
  lines = [f"## Attribution: {study.world}, {study.task}", "",
           f"{f('num_seeds'):.0f} seeds, the tuned protocol (models.compare). "
           + study.legend, "",
           "| arm | student AUC | teacher AUC | student gain over the student alone |",
           "| --- | --- | --- | --- |"]
  for arm, metrics in summary.items():
    teacher = metrics.get("teacher_auc")
    gain_key = next((k for k in (arm, f"control.{arm}", f"remedy.{arm}")
                     if f"{prefix}{k}_gain_mean" in out), None)
    lines.append(
        f"| {arm} | {metrics['student_auc'][0]:.4f} ± {metrics['student_auc'][1]:.4f} | "
        + ("" if teacher is None else f"{teacher[0]:.4f} ± {teacher[1]:.4f}") + " | "
        + ("" if gain_key is None else _gain_text(out, prefix, gain_key)) + " |")
  largest = _largest_control(out, prefix)
  share = _significant(out, prefix, "privileged_share")
  lines += ["", f"- {study.pfd} gains {_gain_text(out, prefix, study.pfd)} over the "
            f"student alone; the largest control, {largest}, "
            f"{_gain_text(out, prefix, 'control.' + largest)}.",
            f"- Privileged share (PFD's gain minus {largest}'s, paired by seed): "
            f"{f('privileged_share_mean'):+.4f} ± {f('privileged_share_std'):.4f}, "
            f"DeLong p of {study.pfd} against {largest} at most "
            f"{f('privileged_share_p_max'):.2g} over seeds: "
            + ("significant (beyond "
               f"{SHARE_STDS:g} std, p < {SIGNIFICANT_P:g} on every seed)." if share
               else f"**not significant** (it needs a mean beyond {SHARE_STDS:g} std "
               f"and p < {SIGNIFICANT_P:g} on every seed): no gain here is "
               "attributable to the privileged features.")]
  for remedy in study.remedies:
    if f(f"remedy.{remedy}_share_mean") is None:
      continue
    lines.append(f"- Remedy {remedy}: {_gain_text(out, prefix, 'remedy.' + remedy)} "
                 f"over the student; its share over {largest}: "
                 f"{f(f'remedy.{remedy}_share_mean'):+.4f} ± "
                 f"{f(f'remedy.{remedy}_share_std'):.4f} (p ≤ "
                 f"{f(f'remedy.{remedy}_share_p_max'):.2g}), "
                 + ("significant." if _significant(out, prefix, f"remedy.{remedy}_share")
                    else "not significant."))
  lines += ["", *diagnostic_lines(out, study), "", f"![Gains]({svg_name(study)})", ""]
  return "\n".join(lines)


def diagnostic_lines(out: Mapping[str, float], study: studies.Study) -> list[str]:
  """Why a share is or is not there, from the `diagnostic.` figures."""
  prefix = f"quality.{study.name}.diagnostic."
  aucs = {key[len(prefix + "privileged_auc."):]: value for key, value in out.items()
          if key.startswith(prefix + "privileged_auc.")}
  follows = {key[len(prefix + "follows_privileged."):]: value
             for key, value in out.items()
             if key.startswith(prefix + "follows_privileged.")
             and not key.endswith("_std")}
  spread = {key[len(prefix + "student_seed_std."):]: value for key, value in out.items()
            if key.startswith(prefix + "student_seed_std.")}
  lines = ["Diagnostics:"]
  if aucs:
    lines.append("- Univariate train AUC of each numeric privileged feature: " + ", ".join(
        f"{name} {auc:.3f}" for name, auc in sorted(aucs.items(), key=lambda kv: -kv[1]))
                 + ".")
  gain, variance = out.get(prefix + "teacher_privileged_gain"), out.get(
      prefix + "teacher_privileged_variance")
  if gain is not None:
    lines.append(f"- The privileged features add {gain:+.4f} ± "
                 f"{out[prefix + 'teacher_privileged_gain_std']:.4f} AUC to the teacher "
                 f"(PFD's teacher over MD's) and make {variance:.0%} of its logits' "
                 "variance, which the student cannot see.")
  if follows:
    lines.append("- Correlation of each student's logit shift from the student "
                 "alone's with the teacher's privileged shift (0: the student does not "
                 "follow it; pfd_permuted's: what distillation gives without the "
                 "information): " + ", ".join(
                     f"{arm} {value:+.3f}" for arm, value in sorted(follows.items()))
                 + ".")
  if spread:
    lines.append("- Students' logit std across seeds (mean over examples): "
                 + ", ".join(f"{arm} {value:.3f}" for arm, value in sorted(
                     spread.items())) + ".")
  why = _why(out, study)
  return (lines + ([f"- Why: {why}"] if why else [])) if len(lines) > 1 else []


def _why(out: Mapping[str, float], study: studies.Study) -> str:
  """Which link of the chain breaks, from the diagnostics: the privileged features
  must add to the teacher, the student must follow the teacher's privileged shift
  beyond what a permuted teacher's distillation gives, and that must show in AUC."""
  prefix = f"quality.{study.name}."

  def beyond(name):
    return out[f"{prefix}{name}"] > SHARE_STDS * out[f"{prefix}{name}_std"]

  permuted = Mode.PFD_PERMUTED.value
  follows = f"diagnostic.follows_privileged.{study.pfd}"
  if f"{prefix}diagnostic.teacher_privileged_gain" not in out:
    return ""
  if not beyond("diagnostic.teacher_privileged_gain"):
    return ("the privileged features add nothing beyond noise to the teacher's AUC "
            "here: there is nothing privileged to distil.")
  if out[prefix + follows] <= (out[f"{prefix}diagnostic.follows_privileged.{permuted}"]
                               + SHARE_STDS * out[f"{prefix}{follows}_std"]):
    return ("the teacher gains from the privileged features, but the student does not "
            "follow its privileged shift beyond what the permuted teacher's "
            "distillation gives: what the features add is not predictable from the "
            "student's inputs.")
  if not _significant(out, prefix, "privileged_share"):
    return ("the student follows the teacher's privileged shift beyond the permuted "
            "control, but that moves its ranking too little to show in AUC against "
            "the controls.")
  return ""


def markdown(out: Mapping[str, float]) -> str:
  """How much of each PFD gain is privileged information, study by study (a table),
  then every study's section, for the studies with figures in `out`."""
  present = studies_in(out)
  if not present:
    return ""
  rows = []
  for study in present:
    prefix = f"quality.{study.name}."
    largest = _largest_control(out, prefix)
    rows.append(
        f"| {study.world} | {study.task} | {study.pfd}: "
        f"{_gain_text(out, prefix, study.pfd)} | {largest}: "
        f"{_gain_text(out, prefix, 'control.' + largest)} | "
        f"{out[prefix + 'privileged_share_mean']:+.4f} ± "
        f"{out[prefix + 'privileged_share_std']:.4f} (p ≤ "
        f"{out[prefix + 'privileged_share_p_max']:.2g}) | "
        + ("yes" if _significant(out, prefix, "privileged_share") else "no") + " |")
  return "\n".join([
      "## How much of each gain is privileged information", "",
      "PFD's student AUC gain over the student alone, the largest gain of a control "
      "without the privileged information (MD, label smoothing, permuted privileged "
      "features), and the privileged share (their difference, paired by seed), every "
      "arm under the same tuned protocol (benchmarks/attribution).", "",
      "| world | task | PFD's gain | largest control's gain | privileged share | "
      "significant |", "| --- | --- | --- | --- | --- | --- |", *rows, "",
      *(section(out, study) for study in present)])


def _largest_control(out: Mapping[str, float], prefix: str) -> str:
  """The control whose mean gain over the student is the largest."""
  return max(studies.CONTROLS, key=lambda arm: out[f"{prefix}control.{arm}_gain_mean"])


def plots(out: Mapping[str, float], output_dir: str) -> None:
  for study in studies_in(out):
    gains_plot(out, study, os.path.join(output_dir, svg_name(study)))
