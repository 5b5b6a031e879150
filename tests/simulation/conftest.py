"""Shared fixtures: small simulated worlds written once per session."""

import json

import pytest

from simulation import config as config_lib
from simulation import simulator
from simulation import sink


def _read_log(output_dir: str, log: str) -> list[dict]:
  """Every record of `log` under `output_dir`, in file then line order."""
  return [json.loads(line) for path in sink.glob(f"{output_dir}/{log}/*")
          for line in sink.read_lines(path)]


@pytest.fixture(scope="session")
def read_log():
  return _read_log


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[str, dict]:
  """The tiny preset with its oracle: (output_dir, summary)."""
  output_dir = str(tmp_path_factory.mktemp("tiny"))
  summary = simulator.simulate(config_lib.preset("tiny"), output_dir)
  return output_dir, summary


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> tuple[str, dict]:
  """The small preset (150k impressions) with its oracle: (output_dir, summary)."""
  output_dir = str(tmp_path_factory.mktemp("small"))
  summary = simulator.simulate(config_lib.preset("small"), output_dir)
  return output_dir, summary
