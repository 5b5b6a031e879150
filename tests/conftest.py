"""Session fixtures shared across test folders: one tiny simulated world, joined once."""

import collections
import os

import pytest

from simulation import preset, simulate

TinyWorld = collections.namedtuple("TinyWorld", "raw_dir examples_dir summary report")


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> TinyWorld:
  # Imported here: tests that need no joined dataset (most) then load no Beam, and
  # still run while the join job does not import.
  from world_fixtures import run_join  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp("tiny_world")
  raw_dir, examples_dir = str(root / "raw"), str(root / "examples")
  summary = simulate(preset("tiny"), raw_dir, with_oracle=True)
  report = run_join(raw_dir, examples_dir)
  assert os.path.exists(os.path.join(examples_dir, "_SUCCESS"))
  return TinyWorld(raw_dir, examples_dir, summary, report)
