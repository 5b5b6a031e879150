"""Tests for benchmarks/datasets.py: the benchmark world is simulated, then joined from
exactly what was simulated."""

import json
import os
import subprocess

import pytest
import tensorflow as tf

from benchmarks import datasets

LOGS = ("impressions", "clicks", "detail_pages")


@pytest.fixture
def joins(monkeypatch):
  """Runs simulation.generate for real and records the join's flags instead of running
  it (the join takes ~20 s even on the tiny world; its own tests cover it)."""
  recorded = []
  real_run = subprocess.run

  def run(command, **kwargs):
    if "pipelines.join_logs" in command:
      recorded.append(dict(flag.split("=", 1) if "=" in flag else (flag, None)
                           for flag in command[command.index("pipelines.join_logs")
                                               + 1:]))
      return subprocess.CompletedProcess(command, 0)
    return real_run(command, **kwargs)

  monkeypatch.setattr(subprocess, "run", run)
  return recorded


def test_the_join_reads_every_log_the_simulation_wrote(tmp_path, joins):
  raw_dir, examples_dir = str(tmp_path / "raw"), str(tmp_path / "examples")
  assert datasets.simulate_and_join(raw_dir, examples_dir, num_impressions=300,
                                    oracle=True, preset="tiny") == examples_dir
  with open(os.path.join(raw_dir, "world.json")) as f:
    assert json.load(f)["config"]["num_impressions"] == 300
  assert os.path.isdir(os.path.join(raw_dir, "oracle"))
  (flags,) = joins
  for log in LOGS:
    written = sorted(str(p) for p in (tmp_path / "raw" / log).iterdir())
    assert written and sorted(tf.io.gfile.glob(flags[f"--{log}"])) == written
  assert flags["--output_dir"] == examples_dir
  assert "--overwrite" in flags  # A benchmark rerun replaces its scratch dataset.


def test_a_failed_simulation_raises_and_nothing_is_joined(tmp_path, joins):
  with pytest.raises(subprocess.CalledProcessError, match="simulation.generate"):
    datasets.simulate_and_join(str(tmp_path / "raw"), str(tmp_path / "examples"),
                               preset="no-such-preset")
  assert joins == []
