"""The shipped spec file reproduces the dataset of the hard-coded join it replaced.

`golden/default_world_20k.json` holds the digests (`dataset_digest`) of the dataset that
the join job at commit 8eaba8d (features, labels and windows written in Python) wrote
from this world; the job driven by features/default_spec.yaml must write parse-equal
examples in every view and byte-identical vocabularies.
"""

import dataclasses
import json
import os

from simulation import preset, simulate
from world_fixtures import run_join

import dataset_digest

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "default_world_20k.json")


def test_default_spec_file_writes_the_hard_coded_jobs_dataset(tmp_path):
  simulate(dataclasses.replace(preset("tiny"), num_impressions=20_000),
           str(tmp_path / "raw"), with_oracle=False)
  run_join(str(tmp_path / "raw"), str(tmp_path / "examples"))
  with open(GOLDEN) as f:
    golden = json.load(f)
  assert dataset_digest.digests(str(tmp_path / "examples")) == golden
