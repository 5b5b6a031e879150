r"""Writes a synthetic world's raw logs (and its oracle) for the join.

  python -m simulation.generate --preset=demo --output_dir=workspace/raw \
      [--seed=1] [--num_impressions=200000] [--fault_fraction=0.01] [--nooracle]

See simulation/simulator.py for the output layout and LOG_CONTRACT.md for the logs.
"""

import dataclasses
import json
import time

from absl import app
from absl import flags
from absl import logging
import tqdm

from simulation import config as config_lib
from simulation import faults as faults_lib
from simulation import simulator

_PRESET = flags.DEFINE_enum("preset", "demo", sorted(config_lib.PRESETS),
                            "Named world configuration.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where to write (local or gs://).",
                                  required=True)
_SEED = flags.DEFINE_integer("seed", None, "Overrides the preset's seed.")
_NUM_IMPRESSIONS = flags.DEFINE_integer("num_impressions", None,
                                        "Overrides the preset's impression target.")
_N_DAYS = flags.DEFINE_integer("n_days", None, "Overrides the preset's number of days.")
_ORACLE = flags.DEFINE_boolean("oracle", True,
                               "Also write the ground truth under oracle/.")
_COMPRESS = flags.DEFINE_boolean("compress", True, "Gzip the logs.")
_FAULT_FRACTION = flags.DEFINE_float(
    "fault_fraction", 0.0, "Per clean line, the chance of adding one faulty line; "
    "0 writes clean logs only.")
_FAULT_KINDS = flags.DEFINE_list("fault_kinds", list(faults_lib.FAULT_KINDS),
                                 "Which faults to add.")


def main(argv):
  del argv  # Unused.
  overrides = {name: flag.value for name, flag in (
      ("seed", _SEED), ("num_impressions", _NUM_IMPRESSIONS), ("n_days", _N_DAYS))
               if flag.value is not None}
  world_config = dataclasses.replace(config_lib.preset(_PRESET.value), **overrides)
  fault_config = (faults_lib.FaultConfig(_FAULT_FRACTION.value, tuple(_FAULT_KINDS.value))
                  if _FAULT_FRACTION.value > 0 else None)
  logging.info("Generating %s into %s", world_config, _OUTPUT_DIR.value)
  start = time.perf_counter()
  with tqdm.tqdm(total=world_config.num_requests * world_config.impressions_per_request,
                 unit="imp", unit_scale=True, desc="impressions") as progress:
    summary = simulator.simulate(world_config, _OUTPUT_DIR.value,
                                 with_oracle=_ORACLE.value, faults=fault_config,
                                 compress=_COMPRESS.value, on_day=progress.update)
  logging.info("Wrote %s in %.1f s.", _OUTPUT_DIR.value, time.perf_counter() - start)
  if summary is not None:
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
  app.run(main)
