"""What the CVR and CTR figures show, in prose, every number read from them."""

from __future__ import annotations

import functools
from typing import Mapping

from benchmarks.evidence import readout


def cvr_findings(out: Mapping[str, float]) -> str:
  """What the CVR figures show, every number read from them."""
  f = functools.partial(readout.figure, out, "cvr")
  parts = []
  verdict = readout.holds(out, "cvr", "pfd_gain")
  if verdict is not None:
    parts.append(
        f"PFD {'beats' if verdict else 'does not beat'} the baseline by the goal "
        f"(a paired gain beyond {readout.GAIN_STDS:g} std and DeLong's p below "
        f"{readout.DELONG_P:g} on "
        f"every seed): {f('pfd_gain_mean'):+.4f} ± {f('pfd_gain_std'):.4f}, p at most "
        f"{readout.p_text(f('pfd_delong_p_max'))}.")
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
  informativeness = readout.sweep_points(out, "cvr", "informativeness_sweep")
  if len(informativeness) >= 3:
    _, _, shape = readout.sweep_shape(informativeness)
    parts.append(
        "Yang et al. (NeurIPS, \"Towards Understanding Privileged Features "
        "Distillation in Learning-to-Rank\") find the student's gain first rising, "
        "then falling as the privileged features grow more predictive; over "
        "post_event_informativeness PFD's gain here is " + shape + ", which "
        + ("reproduces" if shape.startswith("rising, then") else "does not reproduce")
        + " it.")
  lupi_by_affinity = dict((value, mean) for value, mean, _ in readout.sweep_points(
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
  f = functools.partial(readout.figure, out, "ctr")
  parts = []
  for gain, name in (("pfd_gain", "PFD"), ("pfdmd_gain", "PFD+MD")):
    verdict = readout.holds(out, "ctr", gain)
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
