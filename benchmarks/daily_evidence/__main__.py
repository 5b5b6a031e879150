"""`python -m benchmarks.daily_evidence`: the runner's job (the package's docstring)."""

import cli
import config_flags
from benchmarks.daily_evidence import runner

config_flags.define(runner.DailyEvidenceJob)
cli.run(runner.main)
