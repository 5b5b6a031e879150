"""Log files -> their lines, read through Beam's FileSystems (local, gs://, ...).

The join job reads every line of every log once, so this is one of its hot loops:
whole chunks are decompressed and split in C, where Beam's text source finds each
line in Python. Compression follows the file name, as for Beam's text source.

A compressed file is read to its end-of-stream marker or not at all: Beam's
`CompressedFile` ends a truncated stream quietly, which lost a cut file's tail without
a word, so the bytes are decompressed here and a stream that stops short raises.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from typing import Callable, Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
import zstandard

CHUNK_BYTES = 1 << 20

# What Beam's CompressedFile decompresses with, per compression type.
_DECOMPRESSORS: dict[str, Callable[[], object]] = {
    CompressionTypes.GZIP: lambda: zlib.decompressobj(zlib.MAX_WBITS | 16),
    CompressionTypes.DEFLATE: zlib.decompressobj,
    CompressionTypes.BZIP2: bz2.BZ2Decompressor,
    CompressionTypes.LZMA: lzma.LZMADecompressor,
    CompressionTypes.ZSTD: lambda: zstandard.ZstdDecompressor(
        max_window_size=1 << 31).decompressobj(),
}


class CorruptFileError(ValueError):
  """A log file that cannot be read to its end: truncated or corrupt.

  Attributes:
    path: The file.
    lines: The lines read whole before the damage.
  """

  def __init__(self, path: str, lines: int, cause: str):
    super().__init__(f"{path}: truncated or corrupt after line {lines} ({cause}); "
                     "deliver the file again whole.")
    self.path = path
    self.lines = lines


def _chunks(path: str, chunk_bytes: int) -> Iterator[bytes]:
  """The decompressed bytes of `path`, in chunks; raises EOFError where a compressed
  stream ends before its end-of-stream marker, and the decompressor's error on bad
  data (concatenated streams, as `cat a.gz b.gz` makes, are read one after another)."""
  compression = CompressionTypes.detect_compression_type(path)
  with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
    if compression == CompressionTypes.UNCOMPRESSED:
      while chunk := f.read(chunk_bytes):
        yield chunk
      return
    decompressor, ended = _DECOMPRESSORS[compression](), False
    while raw := f.read(chunk_bytes):
      while raw:
        if ended:  # The previous stream ended inside this chunk: a new one starts.
          decompressor, ended = _DECOMPRESSORS[compression](), False
        if chunk := decompressor.decompress(raw):
          yield chunk
        ended = decompressor.eof
        raw = decompressor.unused_data if ended else b""
    if not ended:
      raise EOFError("the compressed stream ends before its end-of-stream marker")


def read_lines(path: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
  """Yields the lines of `path` as bytes, without their "\\n" or "\\r\\n".

  As Beam's text source: a final line without a newline is a line, a newline at the
  end of the file does not start one, and empty lines are lines.

  Raises:
    CorruptFileError: a compressed file that is truncated or corrupt, after the
      lines before the damage were yielded (the line cut by it is not).
  """
  pending: list[bytes] = []  # The pieces of a line that has not ended yet.
  lines = 0
  try:
    for chunk in _chunks(path, chunk_bytes):
      split = chunk.split(b"\n")
      if len(split) == 1:  # No line ends here: joined once it does (linear time).
        pending.append(chunk)
        continue
      if pending:
        split[0] = b"".join(pending) + split[0]
      pending = [split.pop()]
      for line in split:
        lines += 1
        yield line[:-1] if line.endswith(b"\r") else line
  except (EOFError, OSError, zlib.error, zstandard.ZstdError) as e:
    raise CorruptFileError(path, lines, str(e)) from e
  last = b"".join(pending)
  if last:
    yield last[:-1] if last.endswith(b"\r") else last
