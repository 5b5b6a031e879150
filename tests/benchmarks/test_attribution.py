"""Attribution figures: PFD's gain split into its controls' and the privileged share."""

import xml.dom.minidom

import numpy as np
import pytest

import roc
from benchmarks.attribution import figures
from benchmarks.attribution import report
from benchmarks.attribution import studies
from features import dataset as dataset_lib
from features import spec as spec_lib
from models.config import Architecture, Mode

STUDY = studies.STUDIES["kuairand.like"]
SEEDS = (0, 1, 2)
RNG = np.random.default_rng(0)
LABELS = (RNG.random(4000) < 0.2).astype(np.float32)
SIGNAL = LABELS + RNG.normal(0.0, 1.0, LABELS.size)  # What the privileged part knows.


def _probability(logits):
  return 1.0 / (1.0 + np.exp(-logits))


def _scores(student_signal, seed, teacher_signal=0.0):
  noise = np.random.default_rng(seed).normal(0.0, 1.0, (2, LABELS.size))
  return {"labels": LABELS,
          "student": _probability(student_signal * SIGNAL + noise[0]),
          "teacher": _probability(teacher_signal * SIGNAL + 0.3 * noise[1])}


# Per arm: how much of the signal its student carries, and its teacher's.
ARMS = {"student": (0.0, None), "pfd": (0.6, 2.0), "md": (0.2, 0.5),
        "smooth": (0.1, None), "pfd_permuted": (0.3, 0.5), "lupi": (0.3, 1.0),
        "pfd_aux": (0.6, 2.0), "hapfd": (0.2, 2.0)}


def _study_inputs():
  scores, rows = {}, []
  for index, (arm, (student, teacher)) in enumerate(ARMS.items()):
    scores[arm] = [_scores(student, 10 * index + seed, teacher or 0.0)
                   for seed in SEEDS]
    for seed, run in zip(SEEDS, scores[arm]):
      row = {"mode": arm, "seed": seed,
             "student_auc": roc.auc(LABELS, run["student"])}
      if teacher is not None:
        row["teacher_auc"] = roc.auc(LABELS, run["teacher"])
      else:
        del run["teacher"]
      rows.append(row)
  return rows, scores


def test_the_share_is_pfds_gain_less_the_largest_controls_paired_by_seed():
  rows, scores = _study_inputs()
  out = figures.figures(STUDY, rows, scores, {"play_ms": 0.54})
  prefix = "quality.kuairand.like."
  gains = {arm: np.array([r["student_auc"] for r in rows if r["mode"] == arm])
           - np.array([r["student_auc"] for r in rows if r["mode"] == "student"])
           for arm in ARMS}
  largest = max(studies.CONTROLS, key=lambda arm: gains[arm].mean())
  assert largest == "pfd_permuted"
  share = gains["pfd"] - gains[largest]
  assert out[prefix + "privileged_share_mean"] == pytest.approx(share.mean())
  assert out[prefix + "privileged_share_std"] == pytest.approx(share.std())
  assert out[prefix + "pfd_gain_mean"] == pytest.approx(gains["pfd"].mean())
  assert out[prefix + "control.smooth_gain_mean"] == pytest.approx(
      gains["smooth"].mean())
  assert out[prefix + "remedy.hapfd_gain_mean"] == pytest.approx(gains["hapfd"].mean())
  assert out[prefix + "remedy.pfd_aux_share_mean"] == pytest.approx(
      (gains["pfd_aux"] - gains[largest]).mean())
  # A share this large over 4,000 examples is beyond DeLong's noise.
  assert out[prefix + "privileged_share_p_max"] < 0.05
  assert out[prefix + "diagnostic.privileged_auc.play_ms"] == 0.54
  # The PFD student carries the signal the teacher's privileged shift is made of;
  # the permuted control's student carries less of it.
  follows = out[prefix + "diagnostic.follows_privileged.pfd"]
  assert follows > out[prefix + "diagnostic.follows_privileged.pfd_permuted"] > 0
  assert out[prefix + "diagnostic.teacher_privileged_gain"] > 0.01
  assert 0 < out[prefix + "diagnostic.teacher_privileged_variance"] < 1


def test_the_report_says_plainly_when_the_share_is_not_significant(tmp_path):
  rows, scores = _study_inputs()
  out = figures.figures(STUDY, rows, scores, {})
  assert "significant (beyond" in report.section(out, STUDY)
  # PFD's student no better than the permuted control's: no share.
  rows = [{**row, "student_auc": next(r["student_auc"] for r in rows
                                      if r["mode"] == "pfd_permuted"
                                      and r["seed"] == row["seed"])}
          if row["mode"] == "pfd" else row for row in rows]
  scores = {**scores, "pfd": scores["pfd_permuted"]}
  out = figures.figures(STUDY, rows, scores, {})
  text = report.section(out, STUDY)
  assert "**not significant**" in text and "largest control, pfd_permuted" in text
  assert "| pfd_permuted |" in text and "Remedy hapfd" in text
  report.plots(out, str(tmp_path))
  svg = tmp_path / report.svg_name(STUDY)
  assert xml.dom.minidom.parse(str(svg)).documentElement.tagName == "svg"
  assert STUDY in report.studies_in(out)


def test_controls_mirror_the_pfd_arm_and_hapfd_drops_what_it_is_given(tiny_world):
  spec = dataset_lib.PublishedDataset.open(tiny_world.examples_dir).spec
  study = studies.Study("tiny", "ctr", arms={
      "pfd_md": {"mode": Mode.PFD, "teacher_architecture": Architecture.DCN}},
                            pfd="pfd_md", remedies=(studies.HAPFD,), legend="")
  privileged = sorted(f.name for f in spec.privileged("ctr"))
  configs = study.configs(spec, frozenset(privileged[:1]))
  assert set(configs) == {"student", "pfd_md", "md", "smooth", "pfd_permuted", "hapfd"}
  for control in ("md", "pfd_permuted"):
    assert configs[control].teacher.architecture is Architecture.DCN
    assert configs[control].mode is Mode(control)
  assert configs["smooth"].mode is Mode.SMOOTH
  assert configs["hapfd"].distillation_loss == "hardness_aware"
  assert configs["hapfd"].teacher_dropped_features == frozenset(privileged[:1])
  assert "hapfd" not in study.configs(spec)  # Nothing measured to drop.


def test_privileged_aucs_orient_each_numeric_privileged_feature(tiny_world):
  dataset = dataset_lib.PublishedDataset.open(tiny_world.examples_dir)
  aucs = figures.privileged_aucs(dataset, "cvr")
  numeric = {f.name for f in dataset.spec.privileged("cvr")
             if f.kind is spec_lib.Kind.NUMERIC}
  assert set(aucs) == numeric and numeric
  assert all(0.5 <= auc <= 1.0 for auc in aucs.values())


def test_the_why_names_the_first_link_of_the_chain_that_breaks():
  rows, scores = _study_inputs()
  out = figures.figures(STUDY, rows, scores, {})
  prefix = "quality.kuairand.like.diagnostic."
  assert "- Why:" not in report.section(out, STUDY)  # The share is there.
  flat = {**out, prefix + "teacher_privileged_gain": 0.001,
          prefix + "teacher_privileged_gain_std": 0.002}
  assert "nothing privileged to distil" in report.section(flat, STUDY)
  unfollowed = {**out, prefix + "follows_privileged.pfd_permuted":
                out[prefix + "follows_privileged.pfd"]}
  assert "does not follow its privileged shift" in report.section(
      unfollowed, STUDY)
