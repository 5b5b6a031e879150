"""Fixtures for model tests (helpers in synthetic.py)."""

import pytest

from synthetic import make_batch, write_vocabularies


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  return write_vocabularies(str(tmp_path_factory.mktemp("vocab_only")))


@pytest.fixture
def batches():
  return [make_batch(seed) for seed in range(3)]
