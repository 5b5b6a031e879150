"""A day's training view: day D's dataset with day D+1's examples as its eval split.

A daily dataset is all train (pipelines.join_logs --date). The paper's protocol
trains on day D and tests on day D+1, so `models.train` gets a view whose train
split, vocabularies, spec and statistics are day D's and whose eval split is day
D+1's train split: its eval AUC is the next-day AUC, and the export gate compares
the candidate with the served version on examples neither trained on. A token new
on D+1 is out of D's vocabularies, as it would be for the served model.

A window view also trains on earlier days' examples (a from-scratch model on the
last N days): day D's vocabularies extend theirs, so their ids keep their indices;
its statistics stay day D's.
"""

from __future__ import annotations

import json
import posixpath
from typing import Sequence

import tensorflow as tf

from features import layout
from features import run_report
from pipelines import user_state
from pipelines import vocabulary_counts

# What a view leaves out of day D's dataset besides its (empty) eval split: what only
# the join reads, and what the view writes itself.
_NOT_CARRIED = ("dead_letter", user_state.STATE_DIR, vocabulary_counts.COUNTS_DIR,
                layout.REPORT_FILE, layout.SUCCESS_FILE)


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


def _copy_train_shards(day_dir: str, target: str, prefix: str) -> None:
  """An earlier day's train shards (and clicked view) into `target`, `prefix` before
  each name so that they sit beside day D's (the split's glob reads them all)."""
  for shard in tf.io.gfile.listdir(day_dir):
    if any(train in shard for train in _AS_EVAL):
      tf.io.gfile.copy(posixpath.join(day_dir, shard),
                       posixpath.join(target, f"{prefix}.{shard}"), overwrite=True)


def _report(days: list[run_report.RunReport], next_day: run_report.RunReport,
            next_day_dir: str) -> dict:
  """Day D's report (the last of `days`) with the train split's counts summed over
  `days` and the eval split's from day D+1's train split, which `eval_from` names."""
  report = dict(days[-1].data)
  report["examples"] = {layout.TRAIN: sum(day.examples(layout.TRAIN) for day in days),
                        layout.EVAL: next_day.examples(layout.TRAIN)}
  train = {}
  for day in days:
    for k, v in day.data["positives"].items():
      if k.startswith(f"{layout.TRAIN}/"):
        train[k] = train.get(k, 0) + v
  evaluation = {f"{layout.EVAL}/{k.split('/', 1)[1]}": v
                for k, v in next_day.data["positives"].items()
                if k.startswith(f"{layout.TRAIN}/")}
  report["positives"] = {**train, **evaluation}
  report["eval_from"] = {"data_dir": next_day_dir, "run_id": next_day.run_id}
  return report


def _read_report(data_dir: str) -> run_report.RunReport:
  with tf.io.gfile.GFile(posixpath.join(data_dir, layout.REPORT_FILE)) as f:
    return run_report.RunReport.from_json(f.read())


def build(day_dir: str, next_day_dir: str, view_dir: str,
          earlier_day_dirs: Sequence[str] = ()) -> str:
  """Publishes the view of `day_dir` tested on `next_day_dir` at `view_dir`
  (replacing one there) through a staging directory; returns `view_dir`. With
  `earlier_day_dirs` (daily datasets of the days before, in order), a window view:
  their examples train too."""
  staging = f"{view_dir}.staging"
  if tf.io.gfile.exists(staging):
    tf.io.gfile.rmtree(staging)
  _copy_day(day_dir, staging)
  for n, earlier in enumerate(earlier_day_dirs):
    _copy_train_shards(earlier, staging, f"earlier{n}")
  for shard in tf.io.gfile.listdir(next_day_dir):
    for train, evaluation in _AS_EVAL.items():
      if train in shard:
        tf.io.gfile.copy(posixpath.join(next_day_dir, shard),
                         posixpath.join(staging, shard.replace(train, evaluation)),
                         overwrite=True)
  tf.io.gfile.copy(posixpath.join(next_day_dir, layout.STATS_DIR, "train.pb"),
                   posixpath.join(staging, layout.STATS_DIR, "eval.pb"), overwrite=True)
  with tf.io.gfile.GFile(posixpath.join(staging, layout.REPORT_FILE), "w") as f:
    f.write(json.dumps(_report([_read_report(d) for d in (*earlier_day_dirs, day_dir)],
                               _read_report(next_day_dir), next_day_dir),
                       indent=2, sort_keys=True))
  with tf.io.gfile.GFile(posixpath.join(staging, layout.SUCCESS_FILE), "w") as f:
    f.write("")
  if tf.io.gfile.exists(view_dir):
    tf.io.gfile.rmtree(view_dir)
  tf.io.gfile.rename(staging, view_dir)
  return view_dir
