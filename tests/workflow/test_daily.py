"""The daily run end to end on a tiny churn world: each day joined on the day
before's state, the day before's model trained warm and tested on the day, exported
when blessed; a finished day is never redone, an interrupted one ends where an
uninterrupted one does."""

import os
import signal
import subprocess
import sys
import time

import pytest

from daily_world import DATES, MODEL, TRAIN, WORLD
from export import versions
from models import train
from pipelines import join_logs
from simulation import simulate
from workflow import daily
from workflow import markers

RUNNER = ["--runner=FnApiRunner"]


def _logs(raw_dir):
  return {log: f"{raw_dir}/{log}/{log}-{{date}}.jsonl.gz"
          for log in ("impressions", "clicks", "detail_pages")}


def _config(raw_dir, root, date):
  return daily.DailyConfig(
      **_logs(raw_dir), root=root, export_base=os.path.join(root, "serving"),
      task="ctr", date=date, min_auc=0.0, max_auc_drop=1.0)


def _run(raw_dir, root, date):
  return daily.run_day(_config(raw_dir, root, date), date, MODEL, TRAIN, RUNNER)


def _published(root):
  return versions.published_versions(os.path.join(root, "serving", "ctr"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
  """The world's logs and a root where every day ran."""
  base = tmp_path_factory.mktemp("daily_run")
  raw_dir, root = str(base / "raw"), str(base / "root")
  simulate(WORLD, raw_dir, with_oracle=False)
  results = [_run(raw_dir, root, date) for date in DATES]
  return raw_dir, root, results


def test_each_day_trains_the_day_before_warm_and_serves_it_if_blessed(world):
  _, root, results = world
  assert list(results[0]) == [daily.JOIN]  # The first day has no day before.
  assert results[0][daily.JOIN]["state_from"] is None
  assert results[2][daily.JOIN]["state_from"] == daily.dataset_dir(root, DATES[1])
  first, second = results[1][daily.TRAIN], results[2][daily.TRAIN]
  assert first["warm_start_from"] is None
  assert second["warm_start_from"] == daily.model_dir(root, DATES[0])
  for trained in (first, second):
    assert 0.0 <= trained["next_day_auc"]["student_auc"] <= 1.0
  assert _published(root) == [daily.export_version(DATES[0]),
                              daily.export_version(DATES[1])]
  assert results[2][daily.EXPORT]["compared_with_version"] == daily.export_version(
      DATES[0])


def test_a_finished_day_is_not_run_again(world, monkeypatch):
  raw_dir, root, results = world

  def never(*args, **kwargs):
    raise AssertionError("a finished step ran again")
  monkeypatch.setattr(join_logs, "run", never)
  monkeypatch.setattr(train, "train_and_evaluate", never)
  assert _run(raw_dir, root, DATES[2]) == results[2]
  assert _published(root) == [daily.export_version(d) for d in DATES[:2]]


def test_a_run_interrupted_after_publishing_a_version_does_not_publish_twice(
    world, tmp_path, monkeypatch):
  raw_dir, whole_root, _ = world
  root = str(tmp_path / "root")
  _run(raw_dir, root, DATES[0])
  write = markers.write

  def crash_before_the_export_marker(root_, date, step, result):
    if step == daily.EXPORT:
      raise KeyboardInterrupt  # A kill between the publication and its marker.
    write(root_, date, step, result)
  with monkeypatch.context() as patched:
    patched.setattr(markers, "write", crash_before_the_export_marker)
    with pytest.raises(KeyboardInterrupt):
      _run(raw_dir, root, DATES[1])
  assert _published(root) == _published(whole_root)[:1]
  assert markers.read(root, DATES[0], daily.EXPORT) is None
  published = _published(root)
  result = _run(raw_dir, root, DATES[1])
  assert _published(root) == published
  assert result[daily.EXPORT]["exported"] and result[daily.EXPORT]["auc"] >= 0
  done = lambda r: sorted(os.listdir(os.path.join(r, markers.MARKERS_DIR, DATES[0])))
  assert done(root) == done(whole_root) == ["export.json", "join.json", "train.json"]


def test_a_run_killed_mid_training_then_run_again_ends_where_a_whole_one_does(
    world, tmp_path):
  raw_dir, whole_root, _ = world
  root = str(tmp_path / "root")
  command = [
      sys.executable, "-m", "workflow.daily", f"--backfill={DATES[0]},{DATES[1]}",
      f"--root={root}", f"--export_base={root}/serving", "--task=ctr",
      *(f"--{log}={glob}" for log, glob in _logs(raw_dir).items()),
      "--min_auc=0", "--max_auc_drop=1",
      "--mode=pfd", "--embedding_dim=4", "--student_hidden=8", "--teacher_hidden=8",
      "--batch_size=64", "--epochs=1", *RUNNER]
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
  killed = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
  training = daily.model_dir(root, DATES[0])
  while not os.path.exists(training) and killed.poll() is None:
    time.sleep(0.05)
  killed.send_signal(signal.SIGKILL)
  assert killed.wait() == -signal.SIGKILL  # Killed while training, not done.
  assert markers.read(root, DATES[0], daily.TRAIN) is None
  again = subprocess.run(command, capture_output=True, text=True, env=env)
  assert again.returncode == 0, again.stderr[-3000:]
  assert _published(root) == _published(whole_root)[:1]
  done = lambda r: sorted(os.listdir(os.path.join(r, markers.MARKERS_DIR, DATES[0])))
  assert done(root) == done(whole_root)


def test_a_gap_in_the_days_is_refused(world, tmp_path):
  raw_dir, _, _ = world
  root = str(tmp_path / "root")
  _run(raw_dir, root, DATES[0])
  with pytest.raises(ValueError, match=f"run --date={DATES[1]} first"):
    _run(raw_dir, root, DATES[2])
