"""Hand-written log files for the spec-inference tests: JSON lines, gzipped by name."""

import gzip
import os


def write_lines(path, lines):
  """Writes `lines` to `path` (gzipped where it ends in .gz), making its folder."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "wt", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
