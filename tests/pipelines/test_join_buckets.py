"""The join's output does not depend on how its shuffles are cut: the bucket count,
the batch size or the parse chunk change no example, count or dead letter."""

import dataclasses
import glob
import json
import os

import pytest

import dataset_digest
from pipelines import join_logs
from pipelines import read_logs
from pipelines import wire
from simulation import FaultConfig, preset, simulate
from world_fixtures import run_join


@pytest.fixture(scope="module")
def faulty_world(tmp_path_factory):
  raw_dir = str(tmp_path_factory.mktemp("faulty") / "raw")
  simulate(dataclasses.replace(preset("tiny"), num_impressions=3000), raw_dir,
           with_oracle=False, faults=FaultConfig(0.02))
  return raw_dir


def published(raw_dir, output_dir, **config):
  """Joins `raw_dir` into `output_dir`: the dataset's digests, its report without the
  run id, and its dead letters."""
  run_join(raw_dir, output_dir, max_bad_fraction=0.5, **config)
  with open(os.path.join(output_dir, "run_report.json")) as f:
    report = json.load(f)
  report.pop("run_id")
  dead = sorted(line for path in glob.glob(os.path.join(output_dir, "dead_letter", "*"))
                for line in open(path))
  return dataset_digest.digests(output_dir), report, dead


def test_buckets_batches_and_chunks_leave_the_dataset_as_it_is(faulty_world, tmp_path,
                                                              monkeypatch):
  default = published(faulty_world, str(tmp_path / "default"))
  assert default[2]  # The faults made dead letters.
  monkeypatch.setattr(wire, "BATCH_RECORDS", 3)
  monkeypatch.setattr(wire, "BUFFERED_RECORDS", 10)
  monkeypatch.setattr(read_logs, "PARSE_LINES", 100)
  for buckets in (1, 7):
    assert published(faulty_world, str(tmp_path / f"b{buckets}"),
                     buckets=buckets) == default


def test_buckets_outside_their_range_are_refused():
  with pytest.raises(ValueError, match="buckets must be in"):
    join_logs.JoinConfig("i", "c", "d", "o", buckets=0)
