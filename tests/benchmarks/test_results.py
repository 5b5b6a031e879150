"""results.json is one flat object; a run updates its own figures and keeps others."""

import json

from benchmarks import results


def test_update_merges_and_overwrites(tmp_path):
  path = str(tmp_path / "results.json")
  results.update_results(path, {"sim.impressions_per_s": 1.0, "beam.x": 2.0})
  merged = results.update_results(path, {"sim.impressions_per_s": 3.0})
  assert merged == {"sim.impressions_per_s": 3.0, "beam.x": 2.0}
  assert json.load(open(path)) == merged


def test_a_replaced_prefix_drops_the_figures_no_longer_written(tmp_path):
  path = str(tmp_path / "results.json")
  results.update_results(path, {"quality.a.x": 1.0, "quality.a.y": 2.0,
                                "quality.ab.z": 3.0})
  merged = results.update_results(path, {"quality.a.x": 4.0},
                                  replace_prefix="quality.a.")
  assert merged == {"quality.a.x": 4.0, "quality.ab.z": 3.0}
