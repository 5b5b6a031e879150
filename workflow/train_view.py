"""A day's training view: day D's dataset with day D+1's examples as its eval split.

A daily dataset is all train (pipelines.join_logs --date). The paper's protocol
trains on day D and tests on day D+1, so `models.train` gets a view whose train
split, vocabularies, spec and statistics are day D's and whose eval split is day
D+1's train split: its eval AUC is the next-day AUC, and the export gate compares
the candidate with the served version on examples neither trained on. A token new
on D+1 is out of D's vocabularies, as it would be for the served model.
"""

from __future__ import annotations

import json
import posixpath

import tensorflow as tf

from features import layout
from features import run_report

# What a view leaves out of day D's dataset besides its (empty) eval split: what only
# the join reads, and what the view writes itself.
_NOT_CARRIED = ("dead_letter", "user_state", layout.REPORT_FILE, layout.SUCCESS_FILE)


# A train shard's name part -> the eval shard's it becomes in a view.
_AS_EVAL = {f"-{train}.tfrecord": f"-{evaluation}.tfrecord" for train, evaluation in (
    (layout.TRAIN, layout.EVAL),
    (layout.clicked_view(layout.TRAIN), layout.clicked_view(layout.EVAL)))}


def _is_eval_shard(name: str) -> bool:
  return any(evaluation in name for evaluation in _AS_EVAL.values())


def _copy_day(source: str, target: str) -> None:
  """Day D's dataset but for its eval shards and `_NOT_CARRIED`."""
  for directory, _, files in tf.io.gfile.walk(source):
    relative = posixpath.relpath(directory, source)
    if relative.split("/")[0] in _NOT_CARRIED:
      continue
    tf.io.gfile.makedirs(posixpath.join(target, relative))
    for name in files:
      if name not in _NOT_CARRIED and not _is_eval_shard(name):
        tf.io.gfile.copy(posixpath.join(directory, name),
                         posixpath.normpath(posixpath.join(target, relative, name)),
                         overwrite=True)


def _report(day: run_report.RunReport, next_day: run_report.RunReport,
            next_day_dir: str) -> dict:
  """Day D's report with the eval split's counts from day D+1's train split, which
  `eval_from` names."""
  report = dict(day.data)
  report["examples"] = {layout.TRAIN: day.examples(layout.TRAIN),
                        layout.EVAL: next_day.examples(layout.TRAIN)}
  train = {k: v for k, v in day.data["positives"].items()
           if k.startswith(f"{layout.TRAIN}/")}
  evaluation = {f"{layout.EVAL}/{k.split('/', 1)[1]}": v
                for k, v in next_day.data["positives"].items()
                if k.startswith(f"{layout.TRAIN}/")}
  report["positives"] = {**train, **evaluation}
  report["eval_from"] = {"data_dir": next_day_dir, "run_id": next_day.run_id}
  return report


def _read_report(data_dir: str) -> run_report.RunReport:
  with tf.io.gfile.GFile(posixpath.join(data_dir, layout.REPORT_FILE)) as f:
    return run_report.RunReport.from_json(f.read())


def build(day_dir: str, next_day_dir: str, view_dir: str) -> str:
  """Publishes the view of `day_dir` tested on `next_day_dir` at `view_dir`
  (replacing one there) through a staging directory; returns `view_dir`."""
  staging = f"{view_dir}.staging"
  if tf.io.gfile.exists(staging):
    tf.io.gfile.rmtree(staging)
  _copy_day(day_dir, staging)
  for shard in tf.io.gfile.listdir(next_day_dir):
    for train, evaluation in _AS_EVAL.items():
      if train in shard:
        tf.io.gfile.copy(posixpath.join(next_day_dir, shard),
                         posixpath.join(staging, shard.replace(train, evaluation)),
                         overwrite=True)
  tf.io.gfile.copy(posixpath.join(next_day_dir, layout.STATS_DIR, "train.pb"),
                   posixpath.join(staging, layout.STATS_DIR, "eval.pb"), overwrite=True)
  with tf.io.gfile.GFile(posixpath.join(staging, layout.REPORT_FILE), "w") as f:
    f.write(json.dumps(_report(_read_report(day_dir), _read_report(next_day_dir),
                               next_day_dir), indent=2, sort_keys=True))
  with tf.io.gfile.GFile(posixpath.join(staging, layout.SUCCESS_FILE), "w") as f:
    f.write("")
  if tf.io.gfile.exists(view_dir):
    tf.io.gfile.rmtree(view_dir)
  tf.io.gfile.rename(staging, view_dir)
  return view_dir
