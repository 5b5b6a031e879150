"""Text shards in and out through `tf.io.gfile` (so gs:// works); gzip by file name.

TensorFlow is imported on first use, so building and sampling a world never pays for it.
Gzip output carries no timestamp, so the same lines always give the same bytes.
"""

import gzip
import os
from collections.abc import Sequence

_GZIP_LEVEL = 1  # Favour speed: the logs are read once by the join.


def _gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return tf.io.gfile


def write_lines(path: str, lines: Sequence[str]) -> None:
  """Writes `lines` to `path`, one per line, creating the directory if needed."""
  data = ("\n".join(lines) + "\n").encode() if lines else b""
  if path.endswith(".gz"):
    data = gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0)
  gfile = _gfile()
  gfile.makedirs(os.path.dirname(path) or ".")
  with gfile.GFile(path, "wb") as f:
    f.write(data)


def read_lines(path: str) -> list[str]:
  """The lines of `path` (gunzipped when it ends in .gz), without newlines."""
  with _gfile().GFile(path, "rb") as f:
    data = f.read()
  if path.endswith(".gz"):
    data = gzip.decompress(data)
  lines = data.decode().split("\n")  # Only \n ends a line, as for the join.
  return lines[:-1] if lines[-1] == "" else lines


def glob(pattern: str) -> list[str]:
  """The sorted paths matching `pattern`."""
  return sorted(_gfile().glob(pattern))


def remove(path: str) -> None:
  """Deletes the file or directory tree at `path`, if there is one."""
  gfile = _gfile()
  if gfile.isdir(path):
    gfile.rmtree(path)
  elif gfile.exists(path):
    gfile.remove(path)
