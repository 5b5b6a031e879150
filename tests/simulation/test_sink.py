"""Shard I/O: gzip by name, exact line round trip, reproducible bytes."""

from simulation import sink


def test_gzip_round_trip_keeps_blank_lines_and_bytes(tmp_path):
  lines = ['{"a":1}', "", "x\ry"]  # Only \n ends a line.
  first, second = str(tmp_path / "a" / "one.jsonl.gz"), str(tmp_path / "two.jsonl.gz")
  sink.write_lines(first, lines)
  sink.write_lines(second, lines)
  assert sink.read_lines(first) == lines
  assert open(first, "rb").read() == open(second, "rb").read()  # No gzip timestamp.


def test_plain_files_and_remove(tmp_path):
  path = str(tmp_path / "d" / "plain.jsonl")
  sink.write_lines(path, ["1", "2"])
  assert open(path).read() == "1\n2\n"
  sink.remove(str(tmp_path / "d"))
  assert sink.glob(str(tmp_path / "d" / "*")) == []
