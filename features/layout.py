"""Where things are in a published dataset directory: one place for every file name.

The Beam job writes this layout and the trainers read it; keeping the names here (and
free of Beam) lets a trainer import them without loading the data-processing stack.
"""

from __future__ import annotations

import posixpath

SPEC_FILE = "feature_spec.json"
SCHEMA_FILE = "schema.pbtxt"
STATS_DIR = "stats"
REPORT_FILE = "run_report.json"
SUCCESS_FILE = "_SUCCESS"  # Written last: a directory without it is not a dataset.
VOCAB_DIR = "vocab"
# The splits the join job writes: the last `eval_days` UTC days are eval.
TRAIN = "train"
EVAL = "eval"
SPLITS = (TRAIN, EVAL)
_SHARD_INFIX = ".tfrecord"


def shard_prefix(data_dir: str, dataset_name: str, split: str) -> str:
  """tensorflow-datasets' file template: <name>-<split>.tfrecord-00000-of-00004."""
  return posixpath.join(data_dir, f"{dataset_name}-{split}{_SHARD_INFIX}")


def shard_glob(data_dir: str, split: str) -> str:
  """Every shard of `split`, whatever the dataset's name."""
  return posixpath.join(data_dir, f"*-{split}{_SHARD_INFIX}-*-of-*")


def split_of_shard(shard_name: str, dataset_name: str) -> str:
  """`pfd-train_clicked.tfrecord-00000-of-00002` -> `train_clicked`."""
  prefix = f"{dataset_name}-"
  if not shard_name.startswith(prefix) or _SHARD_INFIX not in shard_name:
    raise ValueError(f"{shard_name!r} is not a shard name of dataset "
                     f"{dataset_name!r} ({prefix}<split>{_SHARD_INFIX}-SSSSS-of-NNNNN)")
  return shard_name[len(prefix):].split(_SHARD_INFIX, 1)[0]


def clicked_view(split: str) -> str:
  """The split's clicked examples again, as a split of their own.

  A clicked-only task (CVR) reads a few percent of the impressions; reading this view
  instead of filtering the whole split makes its input ~1/CTR times cheaper.
  """
  return f"{split}_clicked"


def vocabulary_path(data_dir: str, vocab_name: str) -> str:
  """One token per line, most frequent first, no OOV entry."""
  return posixpath.join(data_dir, VOCAB_DIR, f"{vocab_name}.txt")
