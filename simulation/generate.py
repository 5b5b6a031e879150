r"""Writes a synthetic world's raw logs (and its oracle) for the join.

  python -m simulation.generate --preset=demo --output_dir=workspace/raw \
      [--seed=1] [--num_impressions=200000] [--fault_fraction=0.01] [--nooracle] \
      [--set=post_event_affinity=2]

See simulation/simulator.py for the output layout and LOG_CONTRACT.md for the logs.
"""

import dataclasses
import json
import time
from typing import Any, Sequence

from absl import logging
import tqdm

import cli
import config_flags
from config_flags import knob
from simulation import config as config_lib
from simulation import faults as faults_lib
from simulation import simulator

def parse_settings(settings: Sequence[str]) -> dict[str, Any]:
  """`["post_event_affinity=2"]` -> `{"post_event_affinity": 2.0}`, typed by the
  WorldConfig field each names.

  Raises:
    ValueError: A setting is not name=value, names no WorldConfig field, or its value
      is not of the field's type (the message names the setting).
  """
  fields = {field.name: field.type for field in dataclasses.fields(config_lib.WorldConfig)}
  values = {}
  for setting in settings:
    name, equals, value = setting.partition("=")
    if not equals or name not in fields:
      raise ValueError(f"--set {setting!r}: expected name=value with a WorldConfig "
                       f"field as name; fields: {sorted(fields)}.")
    try:
      values[name] = fields[name](value)
    except ValueError as e:
      raise ValueError(f"--set {setting!r}: {value!r} is no {fields[name].__name__}."
                       ) from e
  return values


@dataclasses.dataclass(frozen=True)
class GenerateJob:
  """Which world, what of it to write, and where."""
  output_dir: str = knob(help="Where to write (local or gs://).")
  preset: str = knob("demo", f"Named world configuration, one of "
                     f"{sorted(config_lib.PRESETS)}.")
  seed: int | None = knob(None, "Overrides the preset's seed.")
  num_impressions: int | None = knob(None, "Overrides the preset's impression target.")
  n_days: int | None = knob(None, "Overrides the preset's number of days.")
  set: tuple[str, ...] = knob((), "name=value,...: overrides of any WorldConfig field "
                              "(simulation/config.py), e.g. post_event_affinity=2.")
  oracle: bool = knob(True, "Also write the ground truth under oracle/.")
  compress: bool = knob(True, "Gzip the logs.")
  fault_fraction: float = knob(0.0, "Per clean line, the chance of adding one faulty "
                               "line; 0 writes clean logs only.")
  fault_kinds: tuple[str, ...] = knob(faults_lib.FAULT_KINDS, "Which faults to add.")

  def world_config(self) -> config_lib.WorldConfig:
    """The preset, then --seed/--num_impressions/--n_days, then --set."""
    overrides = {name: getattr(self, name) for name in ("seed", "num_impressions",
                                                        "n_days")
                 if getattr(self, name) is not None}
    return dataclasses.replace(config_lib.preset(self.preset), **overrides,
                               **parse_settings(self.set))


def main(argv):
  del argv  # Unused.
  job = config_flags.from_flags(GenerateJob)
  world_config = job.world_config()
  fault_config = (faults_lib.FaultConfig(job.fault_fraction, job.fault_kinds)
                  if job.fault_fraction > 0 else None)
  logging.info("Generating %s into %s", world_config, job.output_dir)
  start = time.perf_counter()
  with tqdm.tqdm(total=world_config.num_requests * world_config.impressions_per_request,
                 unit="imp", unit_scale=True, desc="impressions") as progress:
    summary = simulator.simulate(world_config, job.output_dir,
                                 with_oracle=job.oracle, faults=fault_config,
                                 compress=job.compress, on_day=progress.update)
  logging.info("Wrote %s in %.1f s.", job.output_dir, time.perf_counter() - start)
  if summary is not None:
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
  config_flags.define(GenerateJob, required=["output_dir"])
  cli.run(main)
