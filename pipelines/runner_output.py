"""What Beam's local runner tells of a job, readable as the job's own lines.

The local FnApiRunner runs a job as one blocking call, its fused stages one after
another, and tells of each bundle it starts on a debug logger: `StageLines` turns the
first bundle of each named step into a progress line. It relays each record its
worker processes log as `Worker: <the record's LogEntry proto>`: `WorkerRecords`
gives such a record back its message and source line, so that an error a DoFn logs
reads as one line. On other runners (Dataflow's console shows both) neither prints.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Iterator, Mapping

from absl import logging as absl_logging
from apache_beam.portability.api import beam_fn_api_pb2
from google.protobuf import text_format

# FnApiRunner's logger of each bundle it runs; its first argument is the stage's name,
# which holds the labels and DoFn names of the steps fused into it.
BUNDLE_LOGGER = "apache_beam.runners.portability.fn_api_runner.fn_runner.run_bundle"
# The logger that relays the workers' records, and its message.
RELAY_LOGGER, RELAY_MESSAGE = ("apache_beam.runners.portability.local_job_service",
                               "Worker: %s")


class StageLines(logging.Handler):
  """Logs `steps[name]` the first time a stage whose name holds `name` runs."""

  def __init__(self, steps: Mapping[str, str]):
    super().__init__(logging.DEBUG)
    self._steps = dict(steps)
    self._start = time.monotonic()

  def log(self, what: str) -> None:
    """A progress line: `what`, with the seconds since the start."""
    absl_logging.info("%s (%.0f s)", what, time.monotonic() - self._start)

  def emit(self, record: logging.LogRecord) -> None:
    stage = str(record.args[0]) if record.args else ""
    for name in [name for name in self._steps if name in stage]:
      self.log(self._steps.pop(name))


class WorkerRecords(logging.Filter):
  """Rewrites a relayed worker record to the worker's message, file and line."""

  def filter(self, record: logging.LogRecord) -> bool:
    if record.msg != RELAY_MESSAGE or len(record.args or ()) != 1:
      return True
    try:
      entry = text_format.Parse(str(record.args[0]), beam_fn_api_pb2.LogEntry())
    except text_format.ParseError:
      return True
    path, _, line = entry.log_location.rpartition(":")
    record.msg, record.args = entry.message, ()
    if path and line.isdigit():
      record.pathname, record.filename, record.lineno = (
          path, path.rsplit("/", 1)[-1], int(line))
    return True


@contextlib.contextmanager
def readable(steps: Mapping[str, str]) -> Iterator[StageLines]:
  """While it lasts, a line as each of `steps` (a step's label or DoFn class name ->
  what it does, e.g. "joining events to impressions") first runs, and the workers'
  records as their own lines; yields the `StageLines`, whose `log` adds the job's
  own lines (e.g. once it is published)."""
  bundles, relay = logging.getLogger(BUNDLE_LOGGER), logging.getLogger(RELAY_LOGGER)
  lines, workers = StageLines(steps), WorkerRecords()
  level, propagate = bundles.level, bundles.propagate
  # Its per-bundle records are for `lines` alone, unless they were wanted.
  bundles.propagate = propagate and bundles.isEnabledFor(logging.DEBUG)
  bundles.addHandler(lines)
  bundles.setLevel(logging.DEBUG)
  relay.addFilter(workers)
  try:
    yield lines
  finally:
    relay.removeFilter(workers)
    bundles.removeHandler(lines)
    bundles.setLevel(level)
    bundles.propagate = propagate
