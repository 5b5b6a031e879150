"""Tests for pipelines/read_logs.py: a log file -> its records per join bucket, a dead
letter per bad line naming the file and line, and the lines read as facts."""

import gzip

import apache_beam as beam

from features import log_files
from features import run_report
from pipelines import read_logs
from pipelines import wire
from pipelines.log_records import DeadLetter, Log
from test_columnar_parse import SPEC, TS, impression


def _outputs(fn, path):
  """The DoFn's main outputs and its tagged ones, by tag."""
  main, tagged = [], {}
  for output in fn.process(path):
    if isinstance(output, beam.pvalue.TaggedOutput):
      tagged.setdefault(output.tag, []).append(output.value)
    else:
      main.append(output)
  return main, tagged


def test_a_file_s_records_dead_letters_and_lines(tmp_path):
  path = str(tmp_path / "impressions-1.jsonl")
  with open(path, "wb") as f:
    f.write(b"\n".join([impression(1), b"{not json", impression(2)]) + b"\n")
  fn = read_logs.ReadLogFileFn({path: Log.IMPRESSIONS}, SPEC, buckets=4)
  fn.setup()
  main, tagged = _outputs(fn, path)

  by_bucket = {bucket: wire.by_log([batch])[Log.IMPRESSIONS] for bucket, batch in main}
  assert sorted(fields[0] for records in by_bucket.values()
                for fields in records) == ["imp1", "imp2"]
  assert all(wire.bucket(fields[0], 4) == bucket
             for bucket, records in by_bucket.items() for fields in records)
  [dead] = tagged[read_logs.ReadLogFileFn.DEAD]
  assert isinstance(dead, DeadLetter)
  assert (dead.source, dead.reason) == (path, "malformed_json")
  assert dead.detail.startswith("line 2: ")
  facts = dict(tagged[read_logs.ReadLogFileFn.LINES])
  assert facts[run_report.read("impressions")] == 3
  assert facts[run_report.day_lines("impressions", run_report.utc_day(TS))] == 2


def test_a_truncated_file_s_whole_lines_come_with_its_error(tmp_path, monkeypatch):
  monkeypatch.setattr(read_logs, "PARSE_LINES", 2)
  path = str(tmp_path / "impressions.jsonl.gz")
  data = gzip.compress(b"".join(impression(n) + b"\n" for n in range(5)))
  with open(path, "wb") as f:
    f.write(data[:-12])  # The end-of-stream marker and the last bytes lost.
  chunks = list(read_logs.line_chunks(path))
  assert [len(lines) for lines, _ in chunks[:-1]] == [2, 2]
  assert all(error is None for _, error in chunks[:-1])
  last_lines, error = chunks[-1]
  assert isinstance(error, log_files.CorruptFileError)
  assert len(last_lines) <= 1 and path in str(error)


def test_a_file_stands_for_its_index_in_the_sorted_files():
  assert read_logs.source_ids(["b", "a", "c"]) == {"a": "0", "b": "1", "c": "2"}
