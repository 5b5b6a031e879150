"""Tests for pipelines/drift.py, and the join's --baseline_dataset through its CLI."""

import gzip
import json
import os
import shutil

from tensorflow_metadata.proto.v0 import statistics_pb2

from pipelines import drift
from test_join_input_checks import join


def _stats(**features):
  """name -> {token: count} (categorical) or (mean, std) (numeric)."""
  stats = statistics_pb2.DatasetFeatureStatistics()
  for name, value in features.items():
    feature = stats.features.add()
    feature.path.step.append(name)
    if isinstance(value, dict):
      feature.string_stats.common_stats.tot_num_values = sum(value.values())
      feature.string_stats.common_stats.num_non_missing = sum(value.values())
      for token, count in value.items():
        feature.string_stats.top_values.add(value=token, frequency=count)
    else:
      feature.num_stats.common_stats.num_non_missing = 100
      feature.num_stats.mean, feature.num_stats.std_dev = value
  return stats


def test_top_values_compare_by_l_infinity_and_numbers_by_mean_in_stds():
  baseline = _stats(scene={"feed": 60, "search": 40}, price=(10.0, 4.0))
  same = _stats(scene={"feed": 55, "search": 45}, price=(11.0, 4.0))
  assert drift.distribution_shifts(baseline, same, 0.2, 0.5) == []
  moved = _stats(scene={"feed": 20, "search": 30, "cart": 50}, price=(13.0, 4.0))
  found = drift.distribution_shifts(baseline, moved, 0.2, 0.5)
  assert [(d.feature, round(d.distance, 3)) for d in found] == [
      ("scene", 0.5), ("price", 0.75)]
  assert str(found[0]) == ("feature 'scene': frequency of 'cart' (L-infinity) moved "
                           "from 0 to 0.5 (distance 0.5)")


def test_coverage_drops_beyond_the_threshold_only():
  before = {"a": {"fraction": 0.9}, "b": {"fraction": 1.0}}
  after = {"a": {"fraction": 0.85}, "b": {"fraction": 0.5}}
  assert [d.feature for d in drift.coverage_drops(before, after, ["a", "b"], 0.1)
          ] == ["b"]


def test_a_run_against_its_baseline_reports_drift_and_fails_with_the_flag(
    tiny_world, tmp_path):
  raw = str(tmp_path / "raw")
  shutil.copytree(tiny_world.raw_dir, raw)
  # Every other impression loses its user segment: coverage falls by ~half.
  impressions = os.path.join(raw, "impressions")
  for name in os.listdir(impressions):
    path = os.path.join(impressions, name)
    with gzip.open(path, "rt") as f:
      records = [json.loads(line) for line in f]
    for record in records[::2]:
      record["user"].pop("segment", None)
    with gzip.open(path, "wt") as f:
      f.writelines(json.dumps(r) + "\n" for r in records)
  output_dir = str(tmp_path / "examples")
  refused = join(raw, output_dir, f"--baseline_dataset={tiny_world.examples_dir}",
                 "--fail_on_drift")
  assert refused.returncode != 0
  assert "feature 'segment': coverage moved from 1 to 0.5" in refused.stderr
  assert not os.path.exists(output_dir)

  reported = join(raw, output_dir, f"--baseline_dataset={tiny_world.examples_dir}")
  assert reported.returncode == 0, reported.stderr
  assert "drift against" in reported.stdout and "coverage" in reported.stdout
  with open(os.path.join(output_dir, "run_report.json")) as f:
    report = json.load(f)
  assert report["drift"]["baseline_run_id"] == tiny_world.report["run_id"]
  assert any(d.startswith("feature 'segment': coverage") for d in
             report["drift"]["findings"])
