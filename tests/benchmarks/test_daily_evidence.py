"""The daily study on a tiny churn world: every arm's figures are written under
their names, the report is rendered from them, and a rerun reads its runs and
replaces its figures."""

import json
import os

from benchmarks.daily_evidence import figures
from benchmarks.daily_evidence import report
from benchmarks.daily_evidence import runner
from benchmarks.daily_evidence import worlds


def _job(tmp_path):
  return runner.DailyEvidenceJob(
      worlds=(worlds.CHURN,), seeds=(0,), window_days=2, churn_days=3,
      churn_impressions_per_day=800, work_dir=str(tmp_path / "work"),
      output_dir=str(tmp_path / "out"), batch_size=64, embedding_dim=4, hidden=(8,),
      tower_dim=4)


def _figures(tmp_path):
  with open(tmp_path / "out" / "evidence.json") as f:
    return json.load(f)


def test_figures_are_named_per_arm_and_day_and_a_rerun_replaces_them(tmp_path):
  job = _job(tmp_path)
  os.makedirs(job.output_dir)
  prefix = figures.prefix(worlds.CHURN)
  with open(tmp_path / "out" / "evidence.json", "w") as f:
    json.dump({prefix + "stale": 1.0, "quality.other": 2.0}, f)
  runner.run(job)
  out = _figures(tmp_path)
  assert prefix + "stale" not in out and out["quality.other"] == 2.0
  # Three days: the warm arms test on days 1 and 2, the 2-day window on day 2 alone,
  # the only day every arm is compared on.
  for arm in (worlds.PFD_WARM, worlds.STUDENT_WARM):
    assert {prefix + f"{arm}.auc_day{day}" for day in (1, 2)} <= out.keys()
  assert prefix + f"{worlds.PFD_WINDOW}.auc_day1" not in out
  assert out[prefix + "first_compared_day"] == 2 and out[prefix + "compared_days"] == 1
  for arm in worlds.ARMS:
    assert 0.0 <= out[prefix + f"{arm.name}.auc_mean"] <= 1.0
    assert out[prefix + f"{arm.name}.auc_mean"] == out[prefix + f"{arm.name}.auc_day2"]
    assert out[prefix + f"{arm.name}.train_s_day"] > 0
  assert (out[prefix + "pfd_window.train_examples_day"]
          > out[prefix + "pfd_warm.train_examples_day"])  # Two days against one.
  for arm, reference in worlds.PAIRS:
    name = f"{prefix}{arm}_over_{reference}"
    assert (out[f"{name}_gain_mean"] == out[f"{prefix}{arm}.auc_mean"]
            - out[f"{prefix}{reference}.auc_mean"])
    assert 0.0 <= out[f"{name}_delong_p_max"] <= 1.0
  with open(tmp_path / "out" / "EVIDENCE.md") as f:
    document = f.read()
  assert document.count(report.HEADING) == 1
  assert f"{out[prefix + 'pfd_warm.auc_mean']:.4f}" in document
  assert (tmp_path / "out" / report.svg_name(worlds.CHURN)).exists()

  runner.run(job)  # Reads every finished run: the same figures, one section.
  assert _figures(tmp_path) == out
  with open(tmp_path / "out" / "EVIDENCE.md") as f:
    assert f.read() == document
