r"""Beam job: impression, click and detail-page logs -> training examples.

Reads the three logs of LOG_CONTRACT.md, rejects bad lines into a dead letter, joins
events to impressions (labels, privileged post-event features), adds point-in-time
behaviour and cross features per user, splits by time and writes TFRecords of
tf.train.Example with the feature spec, vocabularies, a tensorflow-metadata schema,
statistics, tensorflow-datasets metadata and a reconciled run report beside them.
Its steps: `read_logs` (files -> parsed records per bucket of impression_id),
`join_events` (events to impressions, per bucket of user), `user_examples` (history
and examples), `dataset_writer` (records, vocabularies, statistics, the report);
records cross the two shuffles in batches (`wire`). WORKSPACE.md lists the data flow.

Everything is written under a staging directory and published by rename only after the
run succeeded and its counts reconcile, so a trainer never sees a half-written dataset.

    python -m pipelines.join_logs \
      --impressions='workspace/raw/impressions/*' --clicks='workspace/raw/clicks/*' \
      --detail_pages='workspace/raw/detail_pages/*' --output_dir=workspace/examples

A daily join publishes one UTC day's examples on the user state of the day before
(`user_state`; which lines a day owns and reads: `day_window`), and the state after
it; `{date}` in a glob stands for each day it reads:

    python -m pipelines.join_logs --date=2026-01-08 \
      --state_from=workspace/daily/2026-01-07 \
      --impressions='workspace/raw/impressions/impressions-{date}.jsonl.gz' \
      --clicks='workspace/raw/clicks/clicks-{date}.jsonl.gz' \
      --detail_pages='workspace/raw/detail_pages/detail_pages-{date}.jsonl.gz' \
      --output_dir=workspace/daily/2026-01-08

Flags not defined here are Beam pipeline options (e.g. --runner=DataflowRunner
--project=... --region=... --temp_location=gs://... --setup_file=./setup.py). Locally
the job runs on the FnApiRunner with 2 worker processes (see `_pipeline_options`).
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import uuid
from typing import Any, Collection, Mapping, Sequence

from absl import logging
import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

import cli
import config_flags
from config_flags import knob
from features import layout
from features import run_report
from features import spec as spec_lib
from features import time_split
from pipelines import dataset_writer
from pipelines import day_window
from pipelines import join_events
from pipelines import read_logs
from pipelines import runner_output
from pipelines import user_examples
from pipelines import user_history
from pipelines import user_state
from pipelines import wire
from pipelines.log_records import DeadLetter, Log

DEAD_LETTER_DIR = "dead_letter"
_DATE = "{date}"  # In a daily join's globs: each day it reads.
DEFAULT_LOCAL_RUNNER = "FnApiRunner"  # DirectRunner would try Prism (downloads).
DEFAULT_RUNNING_MODE, DEFAULT_LOCAL_WORKERS = "multi_processing", 2


@dataclasses.dataclass(frozen=True)
class JoinConfig:
  """What the job reads, how it joins and where it writes (each field is a flag)."""
  impressions: str = knob(help="Glob of impression log files.")
  clicks: str = knob(help="Glob of click log files.")
  detail_pages: str = knob(help="Glob of detail-page log files.")
  output_dir: str = knob(help="Where the dataset is published.")
  feature_spec: spec_lib.FeatureSpec = knob(
      spec_lib.DEFAULT_SPEC, "The feature spec file (YAML; WORKSPACE.md, 'The feature "
      "spec file'): what is read, derived and privileged. Default: the simulated "
      "world's, features/default_spec.yaml.", parse=spec_lib.load_spec_file)
  eval_days: int = knob(1, "The last N UTC days are the eval split.")
  eval_start_ms: int | None = knob(None, "Explicit eval split start (overrides "
                                   "--eval_days).")
  max_bad_fraction: float = knob(0.05, "Fail (and do not publish) when more than this "
                                 "fraction of input lines goes to the dead letter.")
  min_feature_coverage: float = knob(
      0.0, "Fail (and do not publish) when a declared logged feature is carried by "
      "less than this fraction of the parsed impressions; one that no record carries "
      "(likely a typo in the spec) always fails.")
  min_day_fraction: float = knob(
      0.5, "Fail (and do not publish) when a UTC day's click or detail-page lines per "
      "impression, or a task's label rate, or (between the first and last day) its "
      "impressions fall under this fraction of the median day's, beyond chance: a "
      "late or partial delivery (pipelines/day_checks.py).")
  allow_anomalies: bool = knob(False, "Publish despite anomalous days; the run report "
                               "lists them under 'anomalies'.")
  baseline_dataset: str | None = knob(
      None, "A published dataset (e.g. yesterday's) to compare with: declared "
      "features whose coverage drops or whose train distribution shifts beyond the "
      "--max_* thresholds below are listed in the run report's 'drift' "
      "(pipelines/drift.py).")
  max_coverage_drop: float = knob(0.1, "Drift: the largest fall in a declared "
                                  "feature's carried fraction.")
  max_top_value_shift: float = knob(0.2, "Drift: the largest change in any top "
                                    "value's frequency of a categorical feature "
                                    "(L-infinity distance, as TFDV).")
  max_mean_shift: float = knob(0.5, "Drift: the largest move of a numeric feature's "
                               "mean, in the baseline's standard deviations.")
  fail_on_drift: bool = knob(False, "Fail (and do not publish) when --baseline_dataset "
                             "finds drift; otherwise it is only reported.")
  overwrite: bool = knob(False, "Replace an existing dataset at --output_dir.")
  base_vocabulary_dir: str | None = knob(
      None, "A published dataset whose vocabularies this one extends: each of its "
      "tokens keeps its index, new tokens are appended (day-after-day training).")
  date: str | None = knob(
      None, "Join one UTC day (YYYY-MM-DD), day after day: the examples of its "
      "impressions (all in the train split; the next day's dataset evaluates it), "
      "their history carried by --state_from, and the day's user state (user_state/) "
      "for the next day. `{date}` in a glob stands for each day read: the label "
      "delay's days before the day and after it. Other days' lines are counted as "
      "another day's, not joined.")
  state_from: str | None = knob(
      None, "With --date: the previous day's daily dataset, whose user state carries "
      "the history and whose vocabularies this one extends (unless "
      "--base_vocabulary_dir names another). Without it the day starts with no "
      "history: the first day.")
  write_state: bool = knob(
      False, "A full join that a daily join continues (a backfill): also write the "
      "user state after its last day (user_state/); a daily join always does.")
  buckets: int = knob(
      1024, "Shuffle buckets (at most 32768): lines are joined per bucket of "
      "impression_id, examples built per bucket of user. A bucket's impressions are "
      "one worker's memory at a time, and about a thousand a bucket ran fastest: "
      "raise it with the data.")
  dataset_name: str = "pfd"

  def __post_init__(self):
    for name in ("max_bad_fraction", "min_feature_coverage", "min_day_fraction",
                 "max_coverage_drop", "max_top_value_shift"):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}.")
    time_split.eval_start_ms(0, self.eval_days)  # Validates eval_days.
    if not 1 <= self.buckets <= wire.JOIN_BUCKETS:
      raise ValueError(f"buckets must be in [1, {wire.JOIN_BUCKETS}], got "
                       f"{self.buckets}.")
    if self.state_from and not self.date:
      raise ValueError(f"--state_from={self.state_from!r} carries a day's state to "
                       "the next: pass --date too.")
    if self.date:
      self.window()  # Validates the date.

  def window(self) -> day_window.DayWindow | None:
    """The day a daily join joins; None for a full join."""
    return day_window.DayWindow.of(self.date, self.feature_spec) if self.date else None

  def log_patterns(self) -> dict[Log, str]:
    return {Log.IMPRESSIONS: self.impressions, Log.CLICKS: self.clicks,
            Log.DETAIL_PAGES: self.detail_pages}


def _eval_start(max_ts: int, config: JoinConfig) -> int:
  if config.date:
    return config.window().end_ms  # A day is all train.
  if config.eval_start_ms is not None:
    return config.eval_start_ms
  return time_split.eval_start_ms(max_ts, config.eval_days)


def _snapshot_rules(spec: spec_lib.FeatureSpec) -> user_state.SnapshotRules:
  return user_state.SnapshotRules.from_history(
      user_history.HistoryRules.from_spec(spec))


def build_pipeline(pipeline: beam.Pipeline, config: JoinConfig, staging_dir: str,
                   files: Mapping[str, Log], context_files: Collection[str] = ()):
  """Adds the whole job to `pipeline`, reading `files` (`_log_files(config)`) and
  writing under `staging_dir`.

  Facts (counts, vocabulary sizes, shard lengths) are written to
  `<staging_dir>/_facts.jsonl` for the launcher's report and metadata. A daily join
  (`config.date`) reads yesterday's user state from `config.state_from` and takes
  the bad lines of `context_files` (other days' files) as another day's; it, and a
  full join with `config.write_state`, writes the state after its last day under
  `<staging_dir>/user_state`.
  """
  spec = config.feature_spec
  window = config.window()
  records, dead, lines_read = pipeline | "ReadAndParse" >> read_logs.ReadAndParseLogs(
      files, spec, config.buckets, window, context_files)
  dead_letters, facts = [dead], [lines_read]

  # One GroupByKey over the three logs' tagged batches rather than a CoGroupByKey:
  # see `wire.batch_to_wire`.
  join_fn = join_events.JoinImpressionFn(spec, files, config.buckets, window)
  joined = (records
            | "GroupByJoinKey" >> beam.GroupByKey()
            | "JoinImpression" >> beam.ParDo(join_fn).with_outputs(
                join_events.JoinImpressionFn.DEAD, join_events.JoinImpressionFn.FACTS,
                join_events.JoinImpressionFn.MAX_TS, main="joined"))
  dead_letters.append(joined[join_events.JoinImpressionFn.DEAD])
  facts.append(joined[join_events.JoinImpressionFn.FACTS])

  max_ts = (joined[join_events.JoinImpressionFn.MAX_TS]
            | "MaxTimestamp" >> beam.CombineGlobally(lambda ts: max(ts, default=0)))
  eval_start = max_ts | "EvalStart" >> beam.Map(_eval_start, config)
  facts.append(eval_start | "EvalStartFact" >> beam.Map(
      lambda t: run_report.fact(run_report.EVAL_START, t)))
  writes_state = window is not None or config.write_state
  rules = _snapshot_rules(spec) if writes_state else None
  user_batches, state_boundary = joined.joined, None
  if window is not None:
    # Yesterday's state meets the day's impressions in the user grouping.
    state = pipeline | "ReadState" >> user_state.ReadState(
        config.state_from and posixpath.join(config.state_from, user_state.STATE_DIR),
        rules, config.buckets)
    user_batches = (joined.joined, state) | "WithState" >> beam.Flatten()
    state_boundary = pipeline | "StateBoundary" >> beam.Create([window.end_ms])
  elif writes_state:  # A backfill: the state after the last day.
    state_boundary = max_ts | "StateBoundary" >> beam.Map(
        lambda ts: (ts // day_window.DAY_MS + 1) * day_window.DAY_MS)
  side_inputs = [beam.pvalue.AsSingleton(eval_start)]
  if writes_state:
    side_inputs.append(beam.pvalue.AsSingleton(state_boundary))
  examples = (user_batches
              | "GroupByUserBucket" >> beam.GroupByKey()
              | "AddUserHistory" >> beam.ParDo(
                  user_examples.AddHistoryFn(spec, rules), *side_inputs
              ).with_outputs(user_examples.AddHistoryFn.FACTS,
                             user_examples.AddHistoryFn.STATE, *layout.SPLITS))
  facts.append(examples[user_examples.AddHistoryFn.FACTS])
  if writes_state:
    directory = posixpath.join(staging_dir, user_state.STATE_DIR)
    _ = examples[user_examples.AddHistoryFn.STATE] | "WriteState" >> (
        user_state.WriteState(directory, rules))
    _ = state_boundary | "WriteStateInfo" >> beam.Map(
        lambda boundary: user_state.write_info(directory, boundary, rules))
  for split in layout.SPLITS:
    facts.append(examples[split] | f"Write[{split}]" >> dataset_writer.WriteSplit(
        spec, staging_dir, config.dataset_name, split,
        vocabularies=split == layout.TRAIN,
        base_vocabulary_dir=config.base_vocabulary_dir))

  all_dead = dead_letters | "FlattenDeadLetters" >> beam.Flatten()
  _ = (all_dead
       | "DeadLetterJson" >> beam.Map(DeadLetter.to_json)
       | "WriteDeadLetters" >> beam.io.WriteToText(
           posixpath.join(staging_dir, DEAD_LETTER_DIR, "dead_letter"),
           file_name_suffix=".jsonl"))
  facts.append(all_dead | "DeadLetterFacts" >> beam.Map(
      lambda d: run_report.fact(run_report.dead_letter(d.log, d.reason))))
  _ = (facts
       | "FlattenFacts" >> beam.Flatten()
       | "SumFacts" >> beam.CombinePerKey(sum)
       | "FactJson" >> beam.Map(lambda kv: json.dumps({kv[0]: kv[1]}))
       | "WriteFacts" >> beam.io.WriteToText(
           posixpath.join(staging_dir, dataset_writer.FACTS_FILE),
           shard_name_template=""))


def _log_files(config: JoinConfig) -> dict[str, Log]:
  """Every input file and its log; the globs are expanded once, here.

  Raises:
    ValueError: a glob that matches no file, or a file that two globs match.
  """
  files: dict[str, Log] = {}
  for log, pattern in config.log_patterns().items():
    matched = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    if not matched:
      raise ValueError(f"--{log.value}={pattern!r} matches no file.")
    for path in matched:
      if files.setdefault(path, log) is not log:
        raise ValueError(f"{path} matches both --{files[path].value} and "
                         f"--{log.value}.")
  return files


def _day_files(config: JoinConfig, window: day_window.DayWindow
               ) -> tuple[dict[str, Log], set[str]]:
  """A daily join's files and those of them that are another day's.

  A glob with `{date}` is expanded for each day of `window.dates(log)`, and must
  match on the day itself; one without it is every matched file, all the day's.

  Raises:
    ValueError: as `_log_files`, naming the day's glob.
  """
  files: dict[str, Log] = {}
  context: set[str] = set()
  for log, pattern in config.log_patterns().items():
    dated = _DATE in pattern
    for date in window.dates(log) if dated else [window.date]:
      day_pattern = pattern.replace(_DATE, date)
      matched = [m.path for m in FileSystems.match([day_pattern])[0].metadata_list]
      if not matched and date == window.date:
        raise ValueError(f"--{log.value}={pattern!r} matches no file for --date="
                         f"{window.date} ({day_pattern!r}).")
      if not matched and date > window.date:
        logging.warning("No %s file for %s: the labels of %s are final only once "
                        "the logs through %s are in.", log.value, date, window.date,
                        window.dates(log)[-1])
      for path in matched:
        if files.setdefault(path, log) is not log:
          raise ValueError(f"{path} matches both --{files[path].value} and "
                           f"--{log.value}.")
        if date != window.date:
          context.add(path)
  return files, context


def _pipeline_options(pipeline_args: Sequence[str]) -> PipelineOptions:
  """Beam options; without --runner, the FnApiRunner with 2 local worker processes.

  Not the DirectRunner, which first tries Prism (a binary download). A run that lost
  records in a runner would not reconcile and would not be published.
  `--direct_running_mode=in_memory`, or `--runner=FnApiRunner` alone, runs in this
  process.
  """
  args = list(pipeline_args)
  if not any(a.startswith("--runner") for a in args):
    args.append(f"--runner={DEFAULT_LOCAL_RUNNER}")
    if not any(a.startswith("--direct_running_mode") for a in args):
      args += [f"--direct_running_mode={DEFAULT_RUNNING_MODE}",
               f"--direct_num_workers={DEFAULT_LOCAL_WORKERS}"]
  return PipelineOptions(args)


def run(config: JoinConfig, pipeline_args: Sequence[str] = ()) -> dict[str, Any]:
  """Runs the job, checks the report and publishes the dataset.

  Returns:
    The run report (also written as run_report.json in the dataset).

  Raises:
    ValueError: a missing input, or an output that exists without --overwrite.
    dataset_writer.BadInputError: the bad fraction exceeds config.max_bad_fraction
      (the dataset is then kept at `<output_dir>.rejected-<run id>`, unpublished).
  """
  dataset_writer.check_publishable(config.output_dir, config.overwrite)
  # Inputs are checked before the staging directory exists.
  window, context_files = config.window(), set()
  if window is None:
    files = _log_files(config)
  else:
    files, context_files = _day_files(config, window)
    if config.state_from:
      user_state.check_info(posixpath.join(config.state_from, user_state.STATE_DIR),
                            window, _snapshot_rules(config.feature_spec))
      if not config.base_vocabulary_dir:
        config = dataclasses.replace(config, base_vocabulary_dir=config.state_from)
  run_id = uuid.uuid4().hex[:12]
  staging_dir = f"{config.output_dir}.staging-{run_id}"
  logging.info("Staging into %s", staging_dir)
  with beam.Pipeline(options=_pipeline_options(pipeline_args)) as pipeline:
    build_pipeline(pipeline, config, staging_dir, files, context_files)
  return dataset_writer.finalize(config, staging_dir, run_id)


# What the job is doing as the local runner starts each step (pipelines.runner_output).
STEP_LINES = {read_logs.ReadLogFileFn.__name__: "reading and parsing the logs",
               join_events.JoinImpressionFn.__name__: "joining events to impressions",
               user_examples.AddHistoryFn.__name__: "adding user history, writing examples"}


def main(argv: Sequence[str]) -> None:
  config = config_flags.from_flags(JoinConfig)
  with runner_output.readable(STEP_LINES) as lines, cli.quiet_child_processes():
    report = run(config, pipeline_args=argv[1:])
    lines.log(f"published {config.output_dir}")
  print("\n".join([*run_report.RunReport(report).headline(),
                   f"report: {posixpath.join(config.output_dir, layout.REPORT_FILE)}"]))


if __name__ == "__main__":
  config_flags.define(JoinConfig, required=["impressions", "clicks", "detail_pages",
                                            "output_dir"])
  # Flags absl does not know are Beam's pipeline options.
  cli.run(main, known_only=True, user_errors=[dataset_writer.BadInputError])
