"""Tests for features/log_files.py: lines as Beam's text source reads them."""

import bz2
import lzma
import zlib
import gzip

import pytest
import zstandard

from features import log_files

CONTENT = b'{"a": 1}\r\n\n{"b": "\xc3\xa9"}\nlast line, no newline'
LINES = [b'{"a": 1}', b"", b'{"b": "\xc3\xa9"}', b"last line, no newline"]


@pytest.mark.parametrize("suffix, compress", [
    (".jsonl", lambda b: b), (".jsonl.gz", gzip.compress), (".jsonl.bz2", bz2.compress)])
@pytest.mark.parametrize("chunk_bytes", [1, 2, 7, 1 << 20])
def test_lines_split_on_newlines_whatever_the_chunks_and_compression(
    tmp_path, suffix, compress, chunk_bytes):
  path = tmp_path / f"log{suffix}"
  path.write_bytes(compress(CONTENT))
  assert list(log_files.read_lines(str(path), chunk_bytes)) == LINES


@pytest.mark.parametrize("content, lines", [
    (b"", []),
    (b"\n", [b""]),
    (b"one\n", [b"one"]),
    (b"one\r\n", [b"one"]),
    (b"one\n\n", [b"one", b""]),
    (b"\xff\xfe not utf-8\n", [b"\xff\xfe not utf-8"]),
])
def test_a_final_newline_ends_a_line_and_bytes_pass_unchanged(tmp_path, content, lines):
  path = tmp_path / "log.jsonl"
  path.write_bytes(content)
  assert list(log_files.read_lines(str(path), chunk_bytes=3)) == lines


def test_a_line_longer_than_many_chunks_comes_back_whole(tmp_path):
  long_line = bytes(range(32, 127)) * 200
  path = tmp_path / "log.jsonl"
  path.write_bytes(b"a\n" + long_line + b"\r\nb")
  assert list(log_files.read_lines(str(path), chunk_bytes=7)) == [b"a", long_line, b"b"]


_COMPRESSORS = {".jsonl.gz": gzip.compress, ".jsonl.bz2": bz2.compress,
                ".jsonl.xz": lzma.compress, ".jsonl.deflate": zlib.compress,
                ".jsonl.zst": zstandard.ZstdCompressor().compress}
_MANY_LINES = b"".join(b'{"line": %d, "pad": "%s"}\n' % (i, b"x" * (i % 50))
                       for i in range(3000))


@pytest.mark.parametrize("suffix", sorted(_COMPRESSORS))
def test_every_compression_beam_detects_reads_whole(tmp_path, suffix):
  path = tmp_path / f"log{suffix}"
  path.write_bytes(_COMPRESSORS[suffix](_MANY_LINES))
  assert list(log_files.read_lines(str(path), chunk_bytes=999)) == (
      _MANY_LINES.split(b"\n")[:-1])


@pytest.mark.parametrize("suffix", sorted(_COMPRESSORS))
def test_a_truncated_compressed_file_raises_naming_it_after_its_whole_lines(
    tmp_path, suffix):
  path = tmp_path / f"log{suffix}"
  whole = _COMPRESSORS[suffix](_MANY_LINES)
  path.write_bytes(whole[:int(len(whole) * 0.7)])
  read = []
  with pytest.raises(log_files.CorruptFileError, match="truncated or corrupt") as e:
    for line in log_files.read_lines(str(path), chunk_bytes=4096):
      read.append(line)
  assert str(path) in str(e.value)
  assert e.value.lines == len(read)
  assert read == _MANY_LINES.split(b"\n")[:len(read)]


def test_corrupt_gzip_bytes_raise(tmp_path):
  whole = bytearray(gzip.compress(_MANY_LINES))
  whole[len(whole) // 2] ^= 0xFF
  path = tmp_path / "log.jsonl.gz"
  path.write_bytes(bytes(whole))
  with pytest.raises(log_files.CorruptFileError):
    list(log_files.read_lines(str(path)))


def test_concatenated_gzip_streams_read_one_after_another(tmp_path):
  path = tmp_path / "log.jsonl.gz"
  path.write_bytes(gzip.compress(b"a\nb\n") + gzip.compress(b"c\n"))
  assert list(log_files.read_lines(str(path), chunk_bytes=5)) == [b"a", b"b", b"c"]
