"""The join job through its CLI on damaged deliveries: a truncated file or a day
without events fails the run naming it, and nothing is published."""

import gzip
import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def join(raw_dir, output_dir, *flags):
  return subprocess.run(
      [sys.executable, "-m", "pipelines.join_logs",
       f"--impressions={raw_dir}/impressions/*", f"--clicks={raw_dir}/clicks/*",
       f"--detail_pages={raw_dir}/detail_pages/*", f"--output_dir={output_dir}",
       "--runner=FnApiRunner", *flags],
      cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture()
def raw(tiny_world, tmp_path):
  raw_dir = str(tmp_path / "raw")
  shutil.copytree(tiny_world.raw_dir, raw_dir)
  return raw_dir


def _days(raw_dir, log):
  return sorted(os.listdir(os.path.join(raw_dir, log)))


def test_a_truncated_gzip_fails_the_join_naming_the_file(raw, tmp_path):
  cut = os.path.join(raw, "impressions", _days(raw, "impressions")[1])
  with open(cut, "rb") as f:
    data = f.read()
  with open(cut, "wb") as f:
    f.write(data[:int(len(data) * 0.7)])
  output_dir = str(tmp_path / "examples")
  result = join(raw, output_dir)
  assert result.returncode != 0
  assert f"{cut} could not be read whole (truncated or corrupt after line" in (
      result.stderr)
  assert not os.path.exists(output_dir)


def test_a_day_without_clicks_or_detail_pages_is_refused_unless_allowed(raw, tmp_path):
  day_files = {log: os.path.join(raw, log, _days(raw, log)[1])
               for log in ("clicks", "detail_pages")}
  day = _days(raw, "clicks")[1].split("-", 1)[1].split(".")[0]
  for path in day_files.values():
    with gzip.open(path, "wt"):
      pass
  output_dir = str(tmp_path / "examples")
  refused = join(raw, output_dir)
  assert refused.returncode != 0
  assert f"day {day}: clicks lines per impression is 0" in refused.stderr
  assert not os.path.exists(output_dir)

  allowed = join(raw, output_dir, "--allow_anomalies")
  assert allowed.returncode == 0, allowed.stderr
  with open(os.path.join(output_dir, "run_report.json")) as f:
    report = json.load(f)
  assert report["anomalies_allowed"] is True
  assert any(a.startswith(f"day {day}: clicks") for a in report["anomalies"])
  assert report["days"][day]["lines"].get("clicks", 0) == 0
