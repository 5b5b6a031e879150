"""`python -m benchmarks.attribution`: the runner's job (see the package's docstring)."""

import cli
import config_flags
from benchmarks.attribution import runner

config_flags.define(runner.AttributionJob)
cli.run(runner.main)
