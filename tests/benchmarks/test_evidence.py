"""Evidence figures: gains paired by seed, the gap PFD closes, a well-formed plot."""

import dataclasses
import re
import xml.dom.minidom

import numpy as np
import pytest

from benchmarks.evidence import figures
from benchmarks.evidence import findings
from benchmarks.evidence import readout
from benchmarks.evidence import registry
from benchmarks.evidence import report
from benchmarks.evidence import runner
from features import dataset as dataset_lib
from models import train
from models.training import evaluation

ROWS = [
    {"mode": "student", "seed": 0, "student_auc": 0.60, "student_gauc": 0.55},
    {"mode": "student", "seed": 1, "student_auc": 0.62, "student_gauc": 0.57},
    {"mode": "pfd", "seed": 0, "student_auc": 0.63, "student_gauc": 0.56,
     "teacher_auc": 0.80},
    {"mode": "pfd", "seed": 1, "student_auc": 0.63, "student_gauc": 0.59,
     "teacher_auc": 0.82},
]


def test_gain_is_paired_by_seed_and_gap_uses_the_regular_ceiling():
  out = figures.figures(ROWS, {"regular": 0.71, "full": 0.84})
  # Gains 0.03 and 0.01: mean 0.02, population std 0.01.
  assert out["quality.cvr.pfd_gain_mean"] == pytest.approx(0.02)
  assert out["quality.cvr.pfd_gain_std"] == pytest.approx(0.01)
  assert out["quality.cvr.pfd_gauc_gain_mean"] == pytest.approx(0.015)
  # Baseline mean 0.61, ceiling 0.71: 0.02 of a 0.10 gap.
  assert out["quality.cvr.pfd_gap_closed"] == pytest.approx(0.2)
  assert out["quality.cvr.pfd.teacher_auc_mean"] == pytest.approx(0.81)
  assert out["quality.cvr.bayes_auc_full"] == 0.84
  assert "quality.cvr.oracle_full_gain_mean" not in out  # No oracle rows trained.


def test_oracle_teacher_rows_get_their_gains_and_table_rows():
  every_metric = {f"{head}_{m}": 0.5 for head in ("student", "teacher")
                  for m in ("auc", "gauc", "expensive_auc", "calibration")}
  rows = [{**every_metric, **r} for r in ROWS] + [
      {**every_metric, "mode": "oracle_full", "seed": s, "student_auc": 0.64 + 0.01 * s}
      for s in (0, 1)]
  out = figures.figures(rows, {"regular": 0.71, "full": 0.84})
  assert out["quality.cvr.oracle_full_gain_mean"] == pytest.approx(0.035)
  summary, _ = figures.from_figures(out, "cvr")
  assert list(summary) == ["student", "pfd", "oracle_full"]
  assert "`oracle_full_gain`" in report.task_section(out, "cvr")


def test_plot_is_valid_svg_with_a_bar_per_head():
  svg = report.bar_chart_svg([("student student", 0.6, 0.01),
                                ("pfd teacher", 0.8, 0.02)], {"regular": 0.71})
  document = xml.dom.minidom.parseString(svg)
  assert len(document.getElementsByTagName("rect")) == 2
  assert "Bayes regular 0.710" in svg


def test_ctr_reports_both_steps_and_markdown_renders_from_figures_alone():
  every_metric = {f"{head}_{m}": 0.5 for head in ("student", "teacher")
                  for m in ("gauc", "expensive_auc", "calibration")}
  rows = [{**every_metric, **r, "mode": m} for r in ROWS if r["mode"] == "pfd"
          for m in ("pfd", "pfd_md")] + [
              dict(every_metric, **r) for r in ROWS if r["mode"] == "student"]
  out = figures.figures(rows, {"regular": 0.81, "full": 0.84}, task="ctr")
  assert out["quality.ctr.pfdmd_gain_mean"] == pytest.approx(0.02)
  assert out["quality.ctr.pfd_gain_seed0"] == pytest.approx(0.03)
  assert out["quality.ctr.pfdmd_gap_closed"] == pytest.approx(0.1)
  summary, ceilings = figures.from_figures(out, "ctr")
  assert summary["pfd_md"]["teacher_auc"] == pytest.approx((0.81, 0.01))
  assert ceilings == {"regular": 0.81, "full": 0.84}
  text = report.markdown(out)
  assert "## CTR" in text and "## CVR" not in text
  # Gain 0.02 ± 0.01: exactly 2 std is not beyond 2 std.
  assert "`pfdmd_gain`" in text and "NOT beyond 2 std" in text


def _write_scores(run_dir, labels, student):
  run_dir.mkdir(parents=True)
  np.savez(run_dir / evaluation.SCORES_FILE, labels=labels, student=student)


def test_each_gain_gets_delong_p_values_per_seed_and_their_max(tmp_path):
  rng = np.random.default_rng(0)
  labels = rng.random(2000) < 0.2
  for seed in (0, 1):
    noise = rng.normal(0, 1, 2000)
    _write_scores(tmp_path / f"student-seed{seed}", labels, 0.3 * labels + noise)
    # Seed 0: PFD clearly better; seed 1: the same ranking as the baseline.
    _write_scores(tmp_path / f"pfd-seed{seed}", labels,
                  (1.5 if seed == 0 else 0.3) * labels + noise)
  out = figures.delong_figures(str(tmp_path), "cvr", [0, 1], {
      (mode, seed) for mode in ("student", "pfd") for seed in (0, 1)})
  assert out["quality.cvr.pfd_delong_p_seed0"] < 1e-6
  assert out["quality.cvr.pfd_delong_p_seed1"] == 1.0
  assert out["quality.cvr.pfd_delong_p_max"] == 1.0
  assert not any("oracle" in key for key in out)  # Not trained: no test.
  every_metric = {f"{head}_{m}": 0.5 for head in ("student", "teacher")
                  for m in ("gauc", "expensive_auc", "calibration")}
  rows = [{**every_metric, **r} for r in ROWS]
  text = report.task_section({**figures.figures(rows, {}), **out}, "cvr")
  assert "DeLong's p on the same eval examples at most 1" in text


# A number standing alone in the text (not part of a name such as `seed0` or RQ1).
_NUMBER = re.compile(
    r"(?<![\w.,])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-+]?\d+)?%?(?![\w.]*\w)")


def _every_figure(task, low):
  """Figures for every row, gain, p-value and reference of `task`, drawn at random
  from [low, low + 0.5) (two renders from disjoint ranges share no figure)."""
  rng = np.random.default_rng(int(low * 10))
  evidence_task = registry.TASKS[task]
  prefix = f"quality.{task}"
  out = {f"{prefix}.num_seeds": float(rng.integers(3, 50) + 50 * low)}
  for row in evidence_task.row_names:
    for head in ("student", "teacher"):
      for metric in ("auc", "gauc", "expensive_auc", "calibration"):
        for stat in ("mean", "std"):
          out[f"{prefix}.{row}.{head}_{metric}_{stat}"] = low + rng.random() / 2
  for name in evidence_task.gains:
    step = name.removesuffix("_gain")
    for key in (f"{name}_mean", f"{name}_std", f"{name}_seed0", f"{name}_seed1",
                f"{step}_delong_p_max", f"{step}_gap_closed", f"{step}_gauc_gain_mean",
                f"{step}_gauc_gain_std"):
      out[f"{prefix}.{key}"] = low + rng.random() / 2
  for key in ("bayes_auc_regular", "bayes_auc_full", "soft_label_noise_kept",
              "protocol.epochs", "protocol.validation_days", "protocol.learning_rate",
              *(f"paper.{row}_auc" for row in evidence_task.paper)):
    out[f"{prefix}.{key}"] = low + rng.random() / 2
  for variant in evidence_task.tuned:  # Rates read from the figures' names too.
    rates = [low + rng.random() / 2 for _ in range(2)]
    out[f"{prefix}.lr_grid.{variant}.chosen"] = rates[0]
    for rate in rates:
      out[f"{prefix}.lr_grid.{variant}.{rate:g}"] = low + rng.random() / 2
  return out


def test_every_number_in_the_evidence_prose_is_read_from_the_figures():
  # Two renders from different figures share no number: none is typed into the prose
  # (the goal's thresholds are module constants, altered here too).
  texts = []
  for low, stds, p in ((0.0, 2.0, 0.01), (0.5, 3.5, 0.002)):
    out = {k: v for task in registry.TASKS for k, v in _every_figure(task, low).items()}
    out.update({f"quality.{task}.world.{name}": (1 + low) * value
                for task in registry.TASKS for name, value in (
                    ("users", 7e3), ("items", 3e3), ("train_clicks", 1e5),
                    ("train_clicks_per_user", 31.0), ("train_clicks_per_item", 117.0),
                    ("train_ctr", 0.031), ("eval_positives", 3333.0),
                    ("eval_positive_rate", 0.017))})
    # World sweeps (their values are read from the figures' names too).
    for i, (value, gain) in enumerate(((0.3, 0.01), (1.3, 0.03), (7.3, 0.02))):
      for key in (f"informativeness_sweep.{value + low:g}",
                  f"affinity_sweep.lupi.{(i + 1) * (3 + low) + 0.1:g}"):
        out[f"quality.cvr.{key}"] = gain * (1 + low) + low / 7
        out[f"quality.cvr.{key}_std"] = 0.001 + low / 70
    out.update({"quality.job.seconds": 5000.0 * (1 + low),
                "quality.job.processes": 5 + 4 * low, "quality.job.cpus": 11 + 4 * low})
    with pytest.MonkeyPatch.context() as patch:
      patch.setattr(readout, "GAIN_STDS", stds)
      patch.setattr(readout, "DELONG_P", p)
      texts.append(report.markdown(out))
  numbers = [set(_NUMBER.findall(text)) for text in texts]
  assert numbers[0] and numbers[1]
  assert numbers[0] & numbers[1] == set()
  assert "which reproduces it" in texts[0] and "LUPI student gains" in texts[0]
  assert "Learning rate on validation" in texts[0]
  # What the findings say follows the figures: the goal is met, then it is not.
  gain = {"quality.cvr.pfd_gain_mean": 0.01, "quality.cvr.pfd_gain_std": 0.001}
  assert "PFD beats the baseline by the goal" in findings.cvr_findings(
      {**gain, "quality.cvr.pfd_delong_p_max": 1e-4})
  assert "PFD does not beat the baseline by the goal" in findings.cvr_findings(
      {**gain, "quality.cvr.pfd_delong_p_max": 0.05})


def test_world_figures_count_the_density_from_the_run_report(tiny_world):
  dataset = dataset_lib.PublishedDataset.open(tiny_world.examples_dir)
  out = figures.world_figures(dataset, "cvr")
  run_report = dataset.report
  clicks = run_report.positives("train", "click")
  assert out["quality.cvr.world.train_clicks"] == clicks > 0
  assert out["quality.cvr.world.train_clicks_per_user"] == pytest.approx(
      clicks / run_report.vocabulary_sizes["user_id"])
  assert out["quality.cvr.world.eval_positives"] == run_report.positives("eval", "purchase")
  assert 0 < out["quality.cvr.world.train_ctr"] < 1
  assert "quality.ctr.world.eval_positives" not in figures.world_figures(dataset, "ctr")
  assert "World: " in "\n".join(report.world_line(out, "cvr"))


def test_sweeps_are_paired_gains_per_value_and_rq4_compares_the_tables():
  cvr = registry.TASKS["cvr"]
  variants = runner.sweep_variants(cvr, steps=1000)
  assert variants["swap_sweep-0.3"].swap_step == 300
  assert variants["lambda_sweep-0.7"].lambda_value == 0.7
  assert variants["lupi_lambda_sweep-0.1"].mode.value == "lupi"
  rows = [{"mode": "student", "seed": s, "student_auc": 0.60, "train_seconds": 10.0}
          for s in (0, 1)]
  for value, gain in ((0.1, 0.010), (0.9, -0.02)):
    rows += [{"mode": f"lambda_sweep-{value:g}", "seed": s,
              "student_auc": 0.60 + gain + 0.001 * s, "train_seconds": 12.0}
             for s in (0, 1)]
  rows += [{"mode": "pfd", "seed": s, "student_auc": 0.61, "train_seconds": 12.0}
           for s in (0, 1)]
  rows += [{"mode": "pfd_independent", "seed": s, "student_auc": 0.605,
            "train_seconds": 16.0} for s in (0, 1)]
  # The size sweep pairs PFD with the baseline trained on as many examples.
  rows += [{"mode": f"size_sweep-50000-{mode}", "seed": s, "student_auc": auc + 0.01 * s,
            "train_seconds": 1.0} for mode, auc in (("student", 0.55), ("pfd", 0.552))
           for s in (0, 1)]
  # A value with one seed finished (a stopped job) is not reported: no std to show.
  rows += [{"mode": "lambda_sweep-0.3", "seed": 0, "student_auc": 0.7,
            "train_seconds": 1.0}]
  out = figures.sweep_figures(rows, "cvr")
  assert "quality.cvr.lambda_sweep.0.3" not in out
  assert out["quality.cvr.size_sweep.50000"] == pytest.approx(0.002)
  assert out["quality.cvr.size_sweep.50000_std"] == pytest.approx(0.0)
  assert "quality.cvr.size_sweep.200000" not in out
  assert out["quality.cvr.lambda_sweep.0.1"] == pytest.approx(0.0105)
  assert out["quality.cvr.lambda_sweep.0.9_std"] == pytest.approx(0.0005)
  assert "quality.cvr.lambda_sweep.0.5" not in out  # Not trained.
  assert out["quality.cvr.shared_minus_independent"] == pytest.approx(0.005)
  assert out["quality.cvr.shared_over_independent_seconds"] == pytest.approx(0.75)
  text = "\n".join(report.sweep_lines(out, "cvr"))
  assert "0.1: +0.0105 ± 0.0005, 0.9: -0.0195 ± 0.0005" in text and "falling" in text
  assert "`shared_minus_independent` (RQ4)" in text
  assert "`size_sweep` (pfd over the baseline trained on as many, train examples): " \
      "50000: +0.0020 ± 0.0000" in text
  assert "not run" not in text
  text = "\n".join(report.sweep_lines(
      {**out, "quality.cvr.size_sweep.available": 300_000.0}, "cvr"))
  assert "`size_sweep`: 800,000 not run: the world has 300,000 train examples" in text


def test_a_sweep_point_at_a_rows_own_config_reads_that_rows_runs():
  cvr = registry.TASKS["cvr"]
  points, rows_of = runner.sweep_runs(cvr, steps=1000)
  assert rows_of == {"lambda_sweep-0.5": "pfd", "swap_sweep-0": "pfd",
                     "lupi_lambda_sweep-0.5": "lupi"}
  assert not rows_of.keys() & points.keys()
  assert points.keys() | rows_of.keys() == runner.sweep_variants(cvr, 1000).keys()
  assert all(config not in cvr.variants.values() for config in points.values())


def test_the_sweep_plot_is_an_svg_with_a_panel_per_sweep(tmp_path):
  out = {"quality.cvr.lambda_sweep.0.1": 0.01, "quality.cvr.lambda_sweep.0.1_std": 0.001,
         "quality.cvr.lambda_sweep.0.9": 0.0, "quality.cvr.lambda_sweep.0.9_std": 0.001,
         "quality.cvr.swap_sweep.0": 0.01, "quality.cvr.swap_sweep.0_std": 0.001}
  path = tmp_path / "sweeps.svg"
  assert report.sweep_plot(out, "cvr", str(path))
  svg = path.read_text()
  assert "lambda_sweep" in svg and "swap_sweep" in svg
  xml.dom.minidom.parseString(svg)
  assert not report.sweep_plot({}, "ctr", str(tmp_path / "none.svg"))


def test_methods_get_paired_gains_and_a_table_row_each():
  rows = [dict(r) for r in ROWS] + [
      {"mode": "method.kl", "seed": s, "student_auc": 0.64 + 0.02 * s,
       "student_gauc": 0.5} for s in (0, 1)]
  out = figures.figures(rows, {})
  assert out["quality.cvr.method.kl_gain_mean"] == pytest.approx(0.04)
  out["quality.cvr.method.kl_delong_p_max"] = 1e-3
  table = "\n".join(report.method_lines(out, "cvr"))
  assert "| kl | pfd, kl | +0.0400 ± 0.0000 | 0.001 | helps |" in table
  assert "| js |" not in table  # Not trained: no row.


def test_a_sweep_that_peaks_inside_reads_as_rising_then_falling():
  gains = {0.25: 0.001, 1: 0.004, 8: 0.0}
  out = {f"quality.cvr.informativeness_sweep.{v:g}": g for v, g in gains.items()}
  out.update({f"{k}_std": 0.0005 for k in list(out)})
  out["quality.cvr.informativeness_sweep.oracle_full.1"] = 0.9  # Beside, not a point.
  text = "\n".join(report.sweep_lines(out, "cvr"))
  assert "rising, then falling (peak at 1)" in text and "0.9000" not in text


def test_a_p_value_that_underflows_is_not_printed_as_a_certainty():
  assert readout.p_text(0.0062) == "0.0062"
  assert readout.p_text(0.0) == "0 (below a double's range)"


def test_the_lr_grid_part_chooses_each_tuned_modes_rate_on_validation(
    tiny_world, tmp_path, monkeypatch):
  monkeypatch.setitem(registry.TASKS, "cvr", dataclasses.replace(
      registry.TASKS["cvr"], tuned=("student",)))
  job = runner.EvidenceJob(data_dir=tiny_world.examples_dir, work_dir=str(tmp_path),
                             seeds=(3, 4))
  config = train.TrainConfig(batch_size=64, epochs=1, steps_per_epoch=2)
  with pytest.raises(ValueError, match="validation_days"):
    runner.tune_learning_rates(job, "cvr", config)
  out = runner.tune_learning_rates(
      job, "cvr", dataclasses.replace(config, validation_days=1))
  # On the first seed, a run per rate of the grid other than the row's own, whose
  # run is the row's.
  own = registry.TASKS["cvr"].variants["student"].learning_rate
  assert sorted(p.name for p in (tmp_path / "cvr").iterdir()) == sorted(
      [f"lr_grid.student.{rate:g}-seed3" for rate in registry.LR_GRID if rate != own]
      + ["student-seed3"])
  aucs = {rate: out[f"quality.cvr.lr_grid.student.{rate:g}"]
          for rate in registry.LR_GRID}
  assert out["quality.cvr.lr_grid.student.chosen"] == max(aucs, key=aucs.get)
  lines = report.lr_grid_lines(
      {**out, "quality.cvr.protocol.learning_rate": registry.LR_GRID[0]}, "cvr")
  chose_it = out["quality.cvr.lr_grid.student.chosen"] == registry.LR_GRID[0]
  assert ("chooses it for every mode" in lines[-1]) == chose_it
  assert ("another rate for student" in lines[-1]) != chose_it


def test_the_world_sweeps_train_under_the_jobs_protocol(monkeypatch):
  seen = []
  monkeypatch.setattr(runner.world_sweeps, "run_sweep",
                      lambda name, sweep, base, work_dir, seeds, config, **kwargs:
                      seen.append(config) or {})
  protocol = {"validation_days": 1, "early_stopping_patience": 1, "epochs": 3}
  runner.run_world_sweeps(runner.EvidenceJob(), protocol)
  assert len(seen) == len(runner.world_sweeps.WORLD_SWEEPS)
  assert {(c.validation_days, c.early_stopping_patience, c.epochs,
           c.batch_size) for c in seen} == {(1, 1, 3, registry.TASKS["cvr"].batch_size)}
