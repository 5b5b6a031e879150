"""Log files -> their lines, read through Beam's FileSystems (local, gs://, ...).

The join job reads every line of every log once, so this is one of its hot loops:
whole chunks are decompressed and split in C, where Beam's text source finds each
line in Python. Compression follows the file name, as for Beam's text source.
"""

from __future__ import annotations

from typing import Iterator

from apache_beam.io.filesystems import FileSystems

CHUNK_BYTES = 1 << 20


def read_lines(path: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
  """Yields the lines of `path` as bytes, without their "\\n" or "\\r\\n".

  As Beam's text source: a final line without a newline is a line, a newline at the
  end of the file does not start one, and empty lines are lines.
  """
  pending: list[bytes] = []  # The pieces of a line that has not ended yet.
  with FileSystems.open(path) as f:
    while chunk := f.read(chunk_bytes):
      lines = chunk.split(b"\n")
      if len(lines) == 1:  # No line ends here: joined once it does (linear time).
        pending.append(chunk)
        continue
      if pending:
        lines[0] = b"".join(pending) + lines[0]
      pending = [lines.pop()]
      for line in lines:
        yield line[:-1] if line.endswith(b"\r") else line
  last = b"".join(pending)
  if last:
    yield last[:-1] if last.endswith(b"\r") else last
