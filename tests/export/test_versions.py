"""Tests for export/versions.py: what a server sees under a model's base path."""

import os
import time

import pytest

from export import versions


def _version_dir(base, name: str, content: str = "") -> str:
  """A directory under `base` holding one file (to check what a rename carried)."""
  path = os.path.join(base, name)
  os.makedirs(path)
  with open(os.path.join(path, "saved_model.pb"), "w") as f:
    f.write(content or name)
  return path


@pytest.mark.parametrize("name", ["", "team/ctr"])
def test_a_model_name_must_be_one_path_component(tmp_path, name):
  with pytest.raises(ValueError, match=f"got {name!r}"):
    versions.model_base(str(tmp_path), name)


def test_the_model_base_is_its_name_under_the_export_base(tmp_path):
  assert versions.model_base(str(tmp_path), "ctr") == os.path.join(tmp_path, "ctr")


def test_a_base_that_does_not_exist_has_no_versions(tmp_path):
  assert versions.published_versions(str(tmp_path / "absent")) == []


def test_only_integer_names_are_versions_in_numeric_order(tmp_path):
  # 9 < 10 numerically but not as strings: what a server loads is the numeric max.
  for name in ("10", "9", ".staging-11-abcd1234", ".rejected-12", "latest"):
    _version_dir(tmp_path, name)
  assert versions.published_versions(str(tmp_path)) == [9, 10]


def test_the_next_version_is_the_clock_unless_a_later_version_exists(tmp_path):
  before = int(time.time())
  fresh = versions.next_version(str(tmp_path))
  assert before <= fresh <= int(time.time())
  # A version from a clock ahead of ours: the next one must still be higher.
  ahead = before + 10**6
  _version_dir(tmp_path, str(ahead))
  assert versions.next_version(str(tmp_path)) == ahead + 1


def test_staging_directories_are_unique_and_invisible_to_servers(tmp_path):
  first, second = (versions.staging_dir(str(tmp_path), 5) for _ in range(2))
  assert first != second
  for path in (first, second):
    assert os.path.dirname(path) == str(tmp_path)
    assert os.path.basename(path).startswith(f"{versions.STAGING_PREFIX}5-")
    _version_dir(tmp_path, os.path.basename(path))
  assert versions.published_versions(str(tmp_path)) == []


def test_require_new_names_a_taken_version(tmp_path):
  assert versions.require_new(str(tmp_path), 7) == os.path.join(tmp_path, "7")
  _version_dir(tmp_path, "7")
  with pytest.raises(FileExistsError, match="Version 7 already exists"):
    versions.require_new(str(tmp_path), 7)


def test_publish_renames_the_staged_version_to_its_integer(tmp_path):
  staging = _version_dir(tmp_path, ".staging-3-x", content="weights")
  path = versions.publish(staging, str(tmp_path), 3)
  assert path == os.path.join(tmp_path, "3") and not os.path.exists(staging)
  with open(os.path.join(path, "saved_model.pb")) as f:
    assert f.read() == "weights"
  assert versions.published_versions(str(tmp_path)) == [3]


def test_a_published_version_is_never_replaced(tmp_path):
  _version_dir(tmp_path, "3", content="served")
  staging = _version_dir(tmp_path, ".staging-3-x", content="other")
  with pytest.raises(FileExistsError, match="3"):
    versions.publish(staging, str(tmp_path), 3)
  with open(os.path.join(tmp_path, "3", "saved_model.pb")) as f:
    assert f.read() == "served"
  assert os.path.exists(staging)  # Left for the caller to reject or remove.


def test_a_rejected_candidate_is_kept_where_no_server_loads_it(tmp_path):
  staging = _version_dir(tmp_path, ".staging-4-x", content="candidate")
  path = versions.reject(staging, str(tmp_path), 4)
  assert os.path.basename(path) == f"{versions.REJECTED_PREFIX}4"
  with open(os.path.join(path, "saved_model.pb")) as f:
    assert f.read() == "candidate"
  assert not os.path.exists(staging)
  assert versions.published_versions(str(tmp_path)) == []
