r"""When PFD helps: the CVR gain over worlds that differ in one knob.

For each value of a WorldConfig knob (WORLD_SWEEPS), a world is generated from the
`--world` preset with that value, joined, and the baseline student, PFD, LUPI and PFD
taught by each oracle (benchmarks/teacher_ceiling.py) train on it for every seed.
Figures, merged into evidence.json: `quality.cvr.<sweep>.<value>` (PFD's student AUC
gain over the baseline, paired by seed) and `_std`, and `quality.cvr.<sweep>.<oracle
row>.<value>` for LUPI and the oracle teachers beside it. benchmarks.evidence renders them.

    python -m benchmarks.world_sweeps --world=demo --sweeps=affinity_sweep \
      --work_dir=workspace/world_sweeps [--seeds=0,1,2]

The informativeness sweep tests Yang et al. (NeurIPS 2022, "Towards Understanding
Privileged Features Distillation in Learning-to-Rank"): the student's gain first
rises, then falls, as the privileged features grow more predictive.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Mapping, Sequence

import tensorflow as tf

import cli
import config_flags
from config_flags import knob
from benchmarks import results
from benchmarks import teacher_ceiling
from features import layout
from models import compare
from models import train
from models.config import Mode, ModelConfig
from simulation import WorldConfig, load_oracle, preset, simulate

TASK = "cvr"


@dataclasses.dataclass(frozen=True)
class WorldSweep:
  """A WorldConfig knob (`field`) over `values`, every other knob the preset's."""
  field: str
  values: tuple[float, ...]


WORLD_SWEEPS: Mapping[str, WorldSweep] = {
    # 0: detail-page behaviour carries nothing the student could learn.
    "affinity_sweep": WorldSweep("post_event_affinity", (0.0, 0.5, 1.0, 2.0)),
    # Wide enough for a rise and a fall: from barely to very predictive of intent.
    "informativeness_sweep": WorldSweep("post_event_informativeness",
                                        (0.25, 1.0, 4.0, 16.0)),
}

# (world, directory) -> (published dataset directory, oracle directory).
MakeWorld = Callable[[WorldConfig, str], tuple[str, str]]


def published(root: str) -> bool:
  """Whether the world under `root` has been joined (generate_and_join's layout)."""
  return tf.io.gfile.exists(os.path.join(root, "examples", layout.SUCCESS_FILE))


def generate_and_join(world: WorldConfig, root: str) -> tuple[str, str]:
  """Simulates `world` (with its oracle) under root/raw and joins it into
  root/examples, the join job in process; reuses a dataset already published."""
  from pipelines import join_logs  # pylint: disable=g-import-not-at-top
  raw_dir, examples_dir = os.path.join(root, "raw"), os.path.join(root, "examples")
  if not published(root):
    simulate(world, raw_dir, with_oracle=True)
    join_logs.run(join_logs.JoinConfig(
        impressions=f"{raw_dir}/impressions/*", clicks=f"{raw_dir}/clicks/*",
        detail_pages=f"{raw_dir}/detail_pages/*", output_dir=examples_dir,
        overwrite=True), [])
  return examples_dir, os.path.join(raw_dir, "oracle")


def world_name(world: WorldConfig, base: WorldConfig) -> str:
  """A world's directory name: the knobs that differ from `base`, so that sweeps
  through the base's own value share one world."""
  return "-".join(f"{f.name}-{getattr(world, f.name):g}"
                  for f in dataclasses.fields(world)
                  if getattr(world, f.name) != getattr(base, f.name)) or "base"


def run_sweep(name: str, sweep: WorldSweep, base: WorldConfig, work_dir: str,
              seeds: Sequence[int], train_config: train.TrainConfig,
              make_world: MakeWorld = generate_and_join,
              share: compare.Share | None = None, train_missing: bool = True
              ) -> dict[str, float]:
  """The sweep's figures (module docstring), one world per value.

  Args:
    share: Build and train only this share of the worlds (each wholly by one
      process) and return no figures for the others.
    train_missing: False: build and train nothing; the figures of the published
      worlds' finished runs.
  """
  student = ModelConfig(task=TASK, mode=Mode.STUDENT)
  pfd, lupi = (dataclasses.replace(student, mode=mode) for mode in (Mode.PFD, Mode.LUPI))
  out = {}
  for value in sweep.values:
    world = dataclasses.replace(base, **{sweep.field: value})
    root = os.path.join(work_dir, world_name(world, base))
    if share is not None and not share.take(root):
      continue
    if not train_missing and not published(root):
      continue
    data_dir, oracle_dir = make_world(world, root)
    runs = os.path.join(root, "runs")
    rows = compare.run_variants(data_dir, runs, {"student": student, "pfd": pfd,
                                                 "lupi": lupi}, seeds, train_config,
                                train_missing=train_missing)
    rows += teacher_ceiling.run(data_dir, runs, load_oracle(oracle_dir), seeds, pfd,
                                train_config, train_missing=train_missing)
    finished = {r["mode"] for r in rows}
    for row in ("pfd", "lupi", *teacher_ceiling.ORACLE_COLUMNS):
      if not {row, "student"} <= finished:
        continue
      gain = compare.paired_gain(rows, row, "student", "student_auc")
      key = f"quality.{TASK}.{name}." + ("" if row == "pfd" else f"{row}.") + f"{value:g}"
      out[key], out[f"{key}_std"] = float(gain.mean()), float(gain.std())
  return out


@dataclasses.dataclass(frozen=True)
class WorldSweepJob:
  """Which sweeps, from which preset, and where the worlds and figures go."""
  world: str = knob("demo", "The preset every world starts from.")
  sweeps: tuple[str, ...] = knob(tuple(WORLD_SWEEPS), "Sweeps to run.")
  work_dir: str = knob("workspace/world_sweeps", "Worlds and runs, one directory "
                       "per sweep value.")
  seeds: tuple[int, ...] = knob((0, 1, 2), "Seeds.")
  output: str = knob("benchmarks/evidence.json", "Where the figures are merged.")

  def __post_init__(self):
    config_flags.check_choices("sweeps", self.sweeps, WORLD_SWEEPS, "world sweeps")


# The sweeps' training protocol: TrainConfig's knobs with these defaults (one epoch of
# the CVR evidence's batches).
SWEEP_TRAINING = {"epochs": 1, "batch_size": 128, "shuffle_buffer": 1_000_000}


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(WorldSweepJob)
  train_config = config_flags.from_flags(train.TrainConfig)
  for name in job.sweeps:
    results.update_results(job.output, run_sweep(
        name, WORLD_SWEEPS[name], preset(job.world), job.work_dir, job.seeds,
        train_config))


if __name__ == "__main__":
  config_flags.define(WorldSweepJob)
  config_flags.define(train.TrainConfig, defaults=SWEEP_TRAINING)
  cli.run(main)
