"""The shipped spec file reproduces the dataset of the hard-coded join it replaced.

`golden/default_world_20k.json` holds the digests (`dataset_digest`) of the dataset that
the join job at commit 8eaba8d (features, labels and windows written in Python) wrote
from this world; the job driven by features/default_spec.yaml must write parse-equal
examples in every view and byte-identical vocabularies.

The golden file is rebuilt from the current code by
`.venv/bin/python tests/pipelines/dataset_digest.py --regenerate`, legitimately only
for an intended change of the examples' bytes (`dataset_digest`'s docstring says
when); without `--regenerate` it lists the digests that differ.
"""

import json

import dataset_digest


def test_default_spec_file_writes_the_hard_coded_jobs_dataset(tmp_path):
  with open(dataset_digest.GOLDEN) as f:
    golden = json.load(f)
  assert dataset_digest.golden_world_digests(str(tmp_path)) == golden
