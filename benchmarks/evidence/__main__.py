"""`python -m benchmarks.evidence`: the runner's job (see the package's docstring)."""

import cli
import config_flags
from benchmarks.evidence import runner
from models import train

config_flags.define(runner.EvidenceJob)
config_flags.define(train.TrainConfig)
cli.run(runner.main)
