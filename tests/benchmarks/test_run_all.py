"""Tests for benchmarks/run_all.py (`make bench`): which benchmarks run and what is
kept, with stand-in benchmarks (the real ones take minutes)."""

import functools
import json

from absl import flags
import pytest

import config_flags
from benchmarks import run_all


class Crash(Exception):
  pass


@pytest.fixture
def ran(monkeypatch):
  """Stand-ins for `sim` and `beam` (`boom` crashes); returns the names run in order."""
  names = []

  def benchmark(name, figures):
    def measure():
      names.append(name)
      if figures is None:
        raise Crash(name)
      return figures
    return measure

  monkeypatch.setattr(run_all, "BENCHMARKS", {
      "sim": benchmark("sim", {"sim.impressions_per_s": 1234.5}),
      "beam": benchmark("beam", {"beam.wall_s_1m": 2.0, "beam.peak_rss_mb_1m": 300.0}),
      "boom": benchmark("boom", None)})
  return names


@pytest.fixture
def bench(monkeypatch, tmp_path):
  """Runs the job's main as `python -m benchmarks.run_all --output=... <argv>`."""
  output = tmp_path / "results.json"

  def run(*argv):
    values = flags.FlagValues()
    config_flags.define(run_all.BenchJob, flag_values=values)
    values(["run_all", f"--output={output}", *argv])
    monkeypatch.setattr(config_flags, "from_flags",
                        functools.partial(config_flags.from_flags, flag_values=values))
    run_all.main([])
    return json.loads(output.read_text())
  run.output = output
  return run


def test_only_the_chosen_benchmarks_run_and_other_figures_are_kept(ran, bench, capsys):
  bench.output.write_text(json.dumps({"train.student_examples_per_s": 9.0}))
  results = bench("--only=beam")
  assert ran == ["beam"]
  assert results == {"train.student_examples_per_s": 9.0, "beam.wall_s_1m": 2.0,
                     "beam.peak_rss_mb_1m": 300.0}
  assert capsys.readouterr().out.splitlines() == ["beam.peak_rss_mb_1m: 300",
                                                  "beam.wall_s_1m: 2"]


def test_figures_are_saved_as_each_benchmark_ends(ran, bench):
  # A crash in a later benchmark keeps what the earlier ones measured.
  with pytest.raises(Crash, match="boom"):
    bench()
  assert ran == ["sim", "beam", "boom"]
  assert json.loads(bench.output.read_text()) == {
      "sim.impressions_per_s": 1234.5, "beam.wall_s_1m": 2.0,
      "beam.peak_rss_mb_1m": 300.0}


def test_an_unknown_benchmark_is_refused_naming_it_and_the_known_ones():
  with pytest.raises(ValueError, match=r"only: \['simm'\] are no benchmarks; "
                                       r"known: \[.*'sim'.*\]"):
    run_all.BenchJob(only=frozenset({"simm", "sim"}))
