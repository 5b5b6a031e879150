"""World sweeps: one world per value, PFD's paired gain and the oracles' beside it."""

import dataclasses
import os

import pytest

from benchmarks.evidence import report
from benchmarks import world_sweeps
from models import train
from simulation import preset, simulate
from world_fixtures import run_join


def test_a_world_sweep_trains_a_world_per_value_and_renders(tmp_path):
  made = []

  def make_world(world, root):
    made.append(world)
    raw_dir, examples_dir = os.path.join(root, "raw"), os.path.join(root, "examples")
    simulate(world, raw_dir, with_oracle=True)
    run_join(raw_dir, examples_dir)
    return examples_dir, os.path.join(raw_dir, "oracle")

  sweep = world_sweeps.WorldSweep("post_event_affinity", (0.0, 2.0))
  out = world_sweeps.run_sweep(
      "affinity_sweep", sweep, dataclasses.replace(preset("tiny"), n_days=4,
                                                   num_impressions=6_000),
      str(tmp_path), [0], train.TrainConfig(epochs=1, batch_size=64), make_world)
  assert [w.post_event_affinity for w in made] == [0.0, 2.0]
  assert {w.seed for w in made} == {preset("tiny").seed}  # Only the knob differs.
  for value in ("0", "2"):
    for row in ("", "oracle_full.", "oracle_regular."):
      assert -1 < out[f"quality.cvr.affinity_sweep.{row}{value}"] < 1
      assert out[f"quality.cvr.affinity_sweep.{row}{value}_std"] == 0.0  # One seed.
  text = "\n".join(report.sweep_lines(out, "cvr"))
  assert "`affinity_sweep` (pfd, a world per value, post_event_affinity): 0: " in text
  assert "oracle" not in text  # The oracle rows are figures beside the sweep's.


def test_an_unknown_world_sweep_is_refused():
  with pytest.raises(ValueError, match="no world sweeps"):
    world_sweeps.WorldSweepJob(sweeps=("size_sweep",))


def test_sweeps_through_the_base_value_share_its_world():
  base = preset("sweep")
  names = {sweep.field: [world_sweeps.world_name(
      dataclasses.replace(base, **{sweep.field: value}), base) for value in sweep.values]
           for sweep in world_sweeps.WORLD_SWEEPS.values()}
  assert names["post_event_affinity"] == [
      "post_event_affinity-0", "post_event_affinity-0.5", "base",
      "post_event_affinity-2"]
  assert "base" in names["post_event_informativeness"]
  assert len({n for ns in names.values() for n in ns}) == sum(map(len, names.values())) - 1
