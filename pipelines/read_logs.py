"""The join's first step: log files -> parsed records batched per join bucket.

Each file is read whole by one worker (gzip cannot be split) and parsed a chunk of
lines at a time into columns (`columnar_parse`); bad lines become dead letters with
their file and line, and the lines read per log and UTC day become run-report facts.
"""

from __future__ import annotations

import collections
import functools
from typing import Iterable, Iterator, Mapping

from absl import logging
import apache_beam as beam
from apache_beam.metrics import Metrics

from features import log_files
from features import run_report
from features import spec as spec_lib
from pipelines import columnar_parse
from pipelines import day_window
from pipelines import gc_pause
from pipelines import log_records
from pipelines import wire
from pipelines.log_records import DeadLetter, Log

# Beam metrics of the join's steps (dead letters by reason).
NAMESPACE = "join_logs"
# Lines parsed into columns at once: long enough that Arrow's per-call cost vanishes,
# short enough that a worker holds a chunk's records and not a file's.
PARSE_LINES = 2048


def line_chunks(path: str) -> Iterator[
    tuple[list[bytes], log_files.CorruptFileError | None]]:
  """The file's lines, `PARSE_LINES` at a time; a damaged file's last chunk (the
  lines read whole before the damage) comes with the error."""
  chunk: list[bytes] = []
  try:
    for line in log_files.read_lines(path):
      chunk.append(line)
      if len(chunk) == PARSE_LINES:
        yield chunk, None
        chunk = []
  except log_files.CorruptFileError as e:
    yield chunk, e
    return
  yield chunk, None


@beam.typehints.with_input_types(str)
@beam.typehints.with_output_types(tuple[int, wire.WireBatch])
class ReadLogFileFn(beam.DoFn):
  """A log file's path -> (join bucket, `wire.batch_to_wire` of its valid records
  there), a DeadLetter per bad line on 'dead', and ("read/<log>", lines) on 'lines'.

  With a `window` (a daily join), lines of other days that the join does not need
  are counted as another day's and dropped here, and so are the bad lines of the
  `context_files` (those of another day).

  Lines are parsed a `PARSE_LINES` chunk at a time into columns
  (`columnar_parse`). The file is read here rather than by ReadAllFromText, whose
  per-line Python cost is several times `log_files.read_lines`'; a file is one
  worker's work either way for gzip, which cannot be split. A record's
  `source` is its file's index in `source_ids(files)`, as a string, until the join
  has issued its dead letters: a path per line would be the largest field of the
  shuffle.
  """
  DEAD = "dead"
  LINES = "lines"

  def __init__(self, files: Mapping[str, Log], spec: spec_lib.FeatureSpec,
               buckets: int, window: day_window.DayWindow | None = None,
               context_files: Iterable[str] = ()):
    super().__init__()
    self._files = dict(files)
    self._source_ids = source_ids(files)
    self._spec = spec
    self._buckets = buckets
    self._window = window
    self._context_files = frozenset(context_files)
    self._parsers = None

  def setup(self):
    self._parsers = {log: columnar_parse.ColumnarParser(log, self._spec)
                     for log in Log}

  def process(self, path: str):
    with gc_pause.paused():
      yield from self._read(path)

  def _read(self, path: str):
    log = self._files[path]
    parse = self._parsers[log]
    source_id = self._source_ids[path]
    batches = wire.Batches(functools.partial(wire.batch_to_wire, log))
    ts_field, buckets, window = wire.TS_FIELD[log], self._buckets, self._window
    # A bad line has no day: it is the run's whose day the file is.
    context_file = path in self._context_files
    lines = another_day = 0
    days: collections.Counter = collections.Counter()  # UTC day index -> records
    for chunk, unreadable in line_chunks(path):
      records = parsed = parse(chunk, source_id)
      if any(isinstance(record, DeadLetter) for record in parsed):
        records = []
        for line, record in enumerate(parsed, lines + 1):
          if not isinstance(record, DeadLetter):
            records.append(record)
          elif context_file:
            another_day += 1
          else:
            Metrics.counter(NAMESPACE, f"dead_letter.{record.reason}").inc()
            yield beam.pvalue.TaggedOutput(self.DEAD, record._replace(
                source=path, detail=f"line {line}: {record.detail}"))
      lines += len(parsed)
      if window is not None:
        roles = [window.role(log, record[ts_field]) for record in records]
        another_day += roles.count(day_window.Role.ELSEWHERE)
        # Context lines are the join's to count.
        days.update(record[ts_field] // run_report.DAY_MS
                    for record, role in zip(records, roles)
                    if role is day_window.Role.OWN)
        records = [record for record, role in zip(records, roles)
                   if role is not day_window.Role.ELSEWHERE]
      else:
        days.update(record[ts_field] // run_report.DAY_MS for record in records)
      yield from batches.extend(wire.buckets([r[0] for r in records], buckets), records)
      if unreadable is not None:
        # The lines before the damage are accounted for like any others; the
        # launcher refuses to publish a run that could not read a file whole.
        logging.error("%s", unreadable)
        yield beam.pvalue.TaggedOutput(self.LINES, run_report.fact(
            run_report.unreadable(path), unreadable.lines))
    yield from batches.drain()
    yield beam.pvalue.TaggedOutput(self.LINES, run_report.fact(run_report.read(log.value), lines))
    if window is not None:
      yield beam.pvalue.TaggedOutput(self.LINES, run_report.fact(
          run_report.outcome(log.value, run_report.ANOTHER_DAY), another_day))
    for day, n in days.items():
      yield beam.pvalue.TaggedOutput(self.LINES, run_report.fact(
          run_report.day_lines(log.value, run_report.utc_day(day * run_report.DAY_MS)),
          n))
    if log is Log.IMPRESSIONS:
      yield from (beam.pvalue.TaggedOutput(self.LINES, fact)
                  for fact in self._coverage_facts(parse.coverage))
      parse.coverage.reset()  # The next file counts afresh.

  def _coverage_facts(self, coverage: log_records.Coverage):
    """One file's coverage as facts: every declared logged feature, 0 included."""
    yield run_report.fact(run_report.parsed_impressions(), coverage.parsed)
    for feature in self._spec.logged():
      yield run_report.fact(run_report.declared_coverage(feature.name),
                  coverage.parsed - coverage.missing[feature.name])
    for path, n in coverage.undeclared.items():
      yield run_report.fact(run_report.undeclared_key(path), n)


class ReadAndParseLogs(beam.PTransform):
  """The three logs' files -> (join key, tagged wire record), dead letters, and
  the lines read per log as facts.

  One read over all the files rather than one per log: the records then reach the
  impression grouping without a Flatten, which the local runner materialises (one
  more copy of every record, and the job's peak memory at 1M impressions).
  """

  def __init__(self, files: Mapping[str, Log], spec: spec_lib.FeatureSpec,
               buckets: int, window: day_window.DayWindow | None = None,
               context_files: Iterable[str] = ()):
    super().__init__()
    self._files = dict(files)
    self._spec = spec
    self._buckets = buckets
    self._window = window
    self._context_files = tuple(context_files)

  def expand(self, pbegin):
    # Create reshuffles its elements: the files spread over the workers.
    parsed = (pbegin
              | "Files" >> beam.Create(sorted(self._files))
              | "ReadAndParse" >> beam.ParDo(ReadLogFileFn(
                  self._files, self._spec, self._buckets, self._window,
                  self._context_files)).with_outputs(
                      ReadLogFileFn.DEAD, ReadLogFileFn.LINES, main="records"))
    lines_read = parsed[ReadLogFileFn.LINES] | "CountLines" >> beam.CombinePerKey(sum)
    return parsed.records, parsed[ReadLogFileFn.DEAD], lines_read


def source_ids(files: Iterable[str]) -> dict[str, str]:
  """File path -> a short stand-in for it in shuffled records (`ReadLogFileFn`)."""
  return {path: str(i) for i, path in enumerate(sorted(files))}
