"""Tests for pipelines/log_files.py: lines as Beam's text source reads them."""

import bz2
import gzip

import pytest

from pipelines import log_files

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
