"""The local runner's output as the job's lines: a line as each named step starts, a
worker's record as its own line."""

import logging

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_fn_api_pb2

from pipelines import runner_output


class _DoubleFn(beam.DoFn):
  def process(self, x):
    yield 2 * x


def test_each_named_step_gets_one_line_as_it_starts(caplog):
  steps = {_DoubleFn.__name__: "doubling", "Square": "squaring", "Never": "never"}
  # absl's logger: a test that parsed flags before leaves it at their verbosity.
  with caplog.at_level(logging.INFO, logger="absl"), runner_output.readable(
      steps) as lines:
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
      _ = (p | beam.Create(range(10)) | beam.ParDo(_DoubleFn())
           | beam.GroupBy(lambda x: x % 2) | "Square" >> beam.Map(lambda kv: kv))
    lines.log("done")
  logged = [r.getMessage().split(" (")[0] for r in caplog.records
            if r.name == "absl"]
  assert logged == ["doubling", "squaring", "done"]
  assert not logging.getLogger(runner_output.BUNDLE_LOGGER).handlers  # Removed after.


def test_a_relayed_worker_record_reads_as_its_own(caplog):
  entry = beam_fn_api_pb2.LogEntry(
      severity=beam_fn_api_pb2.LogEntry.Severity.ERROR,
      message='logs/a.gz: truncated after line 94; deliver "it" again.',
      log_location="/repo/pipelines/join_logs.py:168", transform_id="ReadAndParse")
  relay = logging.getLogger(runner_output.RELAY_LOGGER)
  with caplog.at_level(logging.INFO), runner_output.readable({}):
    # As Beam's local job service logs it.
    relay.error(runner_output.RELAY_MESSAGE, str(entry).replace("\n", " "))
  relay.error("Other: %s", "kept")
  first, other = caplog.records
  assert first.getMessage() == 'logs/a.gz: truncated after line 94; deliver "it" again.'
  assert (first.pathname, first.lineno) == ("/repo/pipelines/join_logs.py", 168)
  assert other.getMessage() == "Other: kept"
