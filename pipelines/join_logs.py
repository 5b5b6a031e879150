r"""Beam job: impression, click and detail-page logs -> training examples.

Reads the three logs of LOG_CONTRACT.md, rejects bad lines into a dead letter, joins
events to impressions (labels, privileged post-event features), adds point-in-time
behaviour and cross features per user, splits by time and writes TFRecords of
tf.train.Example with the feature spec, vocabularies, a tensorflow-metadata schema,
statistics, tensorflow-datasets metadata and a reconciled run report beside them.
Lines are parsed a chunk at a time into columns; records cross the job's two shuffles
in batches, first per bucket of impression_id (the event join), then per bucket of
user (history and examples); WORKSPACE.md lists the data flow.

Everything is written under a staging directory and published by rename only after the
run succeeded and its counts reconcile, so a trainer never sees a half-written dataset.

    python -m pipelines.join_logs \
      --impressions='workspace/raw/impressions/*' --clicks='workspace/raw/clicks/*' \
      --detail_pages='workspace/raw/detail_pages/*' --output_dir=workspace/examples

Flags not defined here are Beam pipeline options (e.g. --runner=DataflowRunner
--project=... --region=... --temp_location=gs://... --setup_file=./setup.py). Locally
the job runs on the FnApiRunner with 2 worker processes (see `_pipeline_options`).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import operator
import posixpath
import uuid
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from absl import logging
import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import GlobalWindows

import cli
import config_flags
from config_flags import knob
from features import layout
from features import run_report
from features import spec as spec_lib
from features import log_files
from pipelines import columnar_parse
from pipelines import dataset_writer
from pipelines import impression_join
from pipelines import log_records
from pipelines import runner_output
from features import time_split
from pipelines import user_history
from pipelines import wire
from pipelines.log_records import DeadLetter, Log

NAMESPACE = "join_logs"
DEAD_LETTER_DIR = "dead_letter"
DEFAULT_LOCAL_RUNNER = "FnApiRunner"  # DirectRunner would try Prism (downloads).
DEFAULT_RUNNING_MODE, DEFAULT_LOCAL_WORKERS = "multi_processing", 2
# Lines parsed into columns at once: long enough that Arrow's per-call cost vanishes,
# short enough that a worker holds a chunk's records and not a file's.
PARSE_LINES = 2048
# Records per shuffled batch: the runner's per-element work is paid once for them.
BATCH_RECORDS = 512
# Records a worker holds while it gathers batches.
BUFFERED_RECORDS = 1 << 16
# Examples per list handed on from the user buckets to serializing and statistics.
EXAMPLES_PER_LIST = 256
_EVENT_LOGS = (Log.CLICKS, Log.DETAIL_PAGES)


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

  def log_patterns(self) -> dict[Log, str]:
    return {Log.IMPRESSIONS: self.impressions, Log.CLICKS: self.clicks,
            Log.DETAIL_PAGES: self.detail_pages}


def _fact(key: str, value: int = 1) -> tuple[str, int]:
  return key, value


def _line_chunks(path: str) -> Iterator[
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


class _Batches:
  """Records gathered per shuffle bucket, handed on as (bucket, batch): a bucket's
  once it has `BATCH_RECORDS`, every bucket's once `BUFFERED_RECORDS` wait in all
  (which bounds a worker's memory whatever the data's size), and the rest at the
  end (`drain`)."""

  def __init__(self, to_wire: Callable[[list[tuple]], bytes]):
    self._to_wire = to_wire
    self._buckets: dict[int, list[tuple]] = collections.defaultdict(list)
    self._buffered = 0

  def add(self, bucket: int, record: tuple) -> list[tuple[int, bytes]] | None:
    records = self._buckets[bucket]
    records.append(record)
    self._buffered += 1
    if len(records) >= BATCH_RECORDS:
      del self._buckets[bucket]
      self._buffered -= len(records)
      return [(bucket, self._to_wire(records))]
    if self._buffered >= BUFFERED_RECORDS:
      return self.drain()
    return None

  def drain(self) -> list[tuple[int, bytes]]:
    batches = [(b, self._to_wire(records)) for b, records in self._buckets.items()]
    self._buckets.clear()
    self._buffered = 0
    return batches


@beam.typehints.with_input_types(str)
@beam.typehints.with_output_types(tuple[int, wire.WireBatch])
class ReadLogFileFn(beam.DoFn):
  """A log file's path -> (join bucket, `wire.batch_to_wire` of its valid records
  there), a DeadLetter per bad line on 'dead', and ("read/<log>", lines) on 'lines'.

  Lines are parsed a `PARSE_LINES` chunk at a time into columns
  (`columnar_parse`). The file is read here rather than by ReadAllFromText, whose
  per-line Python cost ~9 us per line against ~1.5 us for `log_files.read_lines`; a
  file is one worker's work either way for gzip, which cannot be split. A record's
  `source` is its file's index in `_source_ids(files)`, as a string, until the join
  has issued its dead letters: a path per line would be the largest field of the
  shuffle.
  """
  DEAD = "dead"
  LINES = "lines"

  def __init__(self, files: Mapping[str, Log], spec: spec_lib.FeatureSpec,
               buckets: int):
    super().__init__()
    self._files = dict(files)
    self._source_ids = _source_ids(files)
    self._spec = spec
    self._buckets = buckets
    self._parsers = None

  def setup(self):
    self._parsers = {log: columnar_parse.ColumnarParser(log, self._spec)
                     for log in Log}

  def process(self, path: str):
    log = self._files[path]
    parse = self._parsers[log]
    source_id = self._source_ids[path]
    batches = _Batches(functools.partial(wire.batch_to_wire, log))
    ts_field, buckets = wire.TS_FIELD[log], self._buckets
    lines = 0
    days: collections.Counter = collections.Counter()  # UTC day index -> records
    for chunk, unreadable in _line_chunks(path):
      for record in parse(chunk, source_id):
        lines += 1
        if isinstance(record, DeadLetter):
          Metrics.counter(NAMESPACE, f"dead_letter.{record.reason}").inc()
          yield beam.pvalue.TaggedOutput(self.DEAD, record._replace(
              source=path, detail=f"line {lines}: {record.detail}"))
        else:
          days[record[ts_field] // run_report.DAY_MS] += 1
          full = batches.add(wire.bucket(record[0], buckets), record)
          if full:
            yield from full
      if unreadable is not None:
        # The lines before the damage are accounted for like any others; the
        # launcher refuses to publish a run that could not read a file whole.
        logging.error("%s", unreadable)
        yield beam.pvalue.TaggedOutput(self.LINES, _fact(
            run_report.unreadable(path), unreadable.lines))
    yield from batches.drain()
    yield beam.pvalue.TaggedOutput(self.LINES, _fact(run_report.read(log.value), lines))
    for day, n in days.items():
      yield beam.pvalue.TaggedOutput(self.LINES, _fact(
          run_report.day_lines(log.value, run_report.utc_day(day * run_report.DAY_MS)),
          n))
    if log is Log.IMPRESSIONS:
      yield from (beam.pvalue.TaggedOutput(self.LINES, fact)
                  for fact in self._coverage_facts(parse.coverage))
      parse.coverage.reset()  # The next file counts afresh.

  def _coverage_facts(self, coverage: log_records.Coverage):
    """One file's coverage as facts: every declared logged feature, 0 included."""
    yield _fact(run_report.parsed_impressions(), coverage.parsed)
    for feature in self._spec.logged():
      yield _fact(run_report.declared_coverage(feature.name),
                  coverage.parsed - coverage.missing[feature.name])
    for path, n in coverage.undeclared.items():
      yield _fact(run_report.undeclared_key(path), n)


class ReadAndParseLogs(beam.PTransform):
  """The three logs' files -> (join key, tagged wire record), dead letters, and
  the lines read per log as facts.

  One read over all the files rather than one per log: the records then reach the
  impression grouping without a Flatten, which the local runner materialises (one
  more copy of every record, and the job's peak memory at 1M impressions).
  """

  def __init__(self, files: Mapping[str, Log], spec: spec_lib.FeatureSpec,
               buckets: int):
    super().__init__()
    self._files = dict(files)
    self._spec = spec
    self._buckets = buckets

  def expand(self, pbegin):
    # Create reshuffles its elements: the files spread over the workers.
    parsed = (pbegin
              | "Files" >> beam.Create(sorted(self._files))
              | "ReadAndParse" >> beam.ParDo(ReadLogFileFn(
                  self._files, self._spec, self._buckets)).with_outputs(
                      ReadLogFileFn.DEAD,
                                                           ReadLogFileFn.LINES,
                                                           main="records"))
    lines_read = parsed[ReadLogFileFn.LINES] | "CountLines" >> beam.CombinePerKey(sum)
    return parsed.records, parsed[ReadLogFileFn.DEAD], lines_read


@beam.typehints.with_input_types(tuple[int, Iterable[wire.WireBatch]])
@beam.typehints.with_output_types(tuple[int, wire.WireBatch])
class JoinImpressionFn(beam.DoFn):
  """One join bucket's batches -> (user bucket, `wire.joined_batch_to_wire` of the
  joined impressions of its users), dead letters, facts, and the latest joined
  impression's ts_ms per bundle on 'max_ts'.

  A lone impression (no duplicate, no event: ~95% of ids) is joined on its decoded
  wire form (`wire.lone_impression_joined`); every other id goes through
  `impression_join.join_impression`. Joined impressions are gathered per user bucket
  over the bundle, so a batch holds the users' impressions from many join buckets.
  """
  DEAD = "dead"
  FACTS = "facts"
  MAX_TS = "max_ts"

  def __init__(self, spec: spec_lib.FeatureSpec, files: Iterable[str], buckets: int):
    super().__init__()
    self._rules = impression_join.JoinRules.from_spec(spec)
    self._paths = {i: path for path, i in _source_ids(files).items()}
    self._value_names = [f.name for f in spec.logged()]
    self._buckets = buckets

  def start_bundle(self):
    self._max_ts = None
    self._batches = _Batches(wire.joined_batch_to_wire)

  def process(self, keyed_batches):
    _, batches = keyed_batches
    records = wire.by_log(batches)
    impressions = records[Log.IMPRESSIONS]
    # Ids with an event or a second impression line take the general join.
    joined_ids = {fields[0] for log in _EVENT_LOGS for fields in records[log]}
    ids = collections.Counter(fields[0] for fields in impressions)
    if len(ids) < len(impressions):
      joined_ids.update(i for i, n in ids.items() if n > 1)
    max_ts, add = self._max_ts, self._batches.add
    buckets = self._buckets
    for fields in impressions:
      if fields[0] not in joined_ids:
        user_id, ts_ms, joined = wire.lone_impression_joined(fields)
        if max_ts is None or ts_ms > max_ts:
          max_ts = ts_ms
        full = add(wire.bucket(user_id, buckets), joined)
        if full:
          yield from full
    for group in wire.by_impression(records, joined_ids).values():
      result = self._join(group)
      yield from self._side_outputs(result)
      if result.joined is None:
        continue
      impression = result.joined.impression
      if max_ts is None or impression.ts_ms > max_ts:
        max_ts = impression.ts_ms
      full = add(wire.bucket(impression.user_id, buckets),
                 wire.joined_fields(result.joined))
      if full:
        yield from full
    self._max_ts = max_ts

  def _join(self, group: dict[Log, list[tuple]]) -> impression_join.JoinResult:
    return impression_join.join_impression(
        [wire.impression_from_fields(i, self._value_names)
         for i in group[Log.IMPRESSIONS]],
        [wire.record_from_fields(c, log_records.Click) for c in group[Log.CLICKS]],
        [wire.record_from_fields(d, log_records.DetailEvent)
         for d in group[Log.DETAIL_PAGES]],
        self._rules)

  def _side_outputs(self, result: impression_join.JoinResult):
    for dead in result.dead_letters:
      Metrics.counter(NAMESPACE, f"dead_letter.{dead.reason}").inc()
      yield beam.pvalue.TaggedOutput(self.DEAD,
                                     dead._replace(source=self._paths[dead.source]))
    # Zero counts are common (every impression counts its clicks) and would cost a
    # shuffled element each.
    for (log, outcome), n in result.outcomes.items():
      if n:
        yield beam.pvalue.TaggedOutput(self.FACTS,
                                       _fact(run_report.outcome(log, outcome), n))
    for note, n in result.notes.items():
      if n:
        yield beam.pvalue.TaggedOutput(self.FACTS, _fact(run_report.note(note), n))

  def finish_bundle(self):
    for batch in self._batches.drain():
      yield GlobalWindows.windowed_value(batch)
    if self._max_ts is not None:
      yield beam.pvalue.TaggedOutput(self.MAX_TS,
                                     GlobalWindows.windowed_value(self._max_ts))


@beam.typehints.with_input_types(tuple[int, Iterable[wire.WireBatch]], int)
@beam.typehints.with_output_types(list[dict[str, Any]])
class AddHistoryFn(beam.DoFn):
  """One user bucket's joined impressions -> its example dicts in each split, in
  lists of about `EXAMPLES_PER_LIST`, tagged with the split.

  The split is assigned here, from a side input computed before the user grouping,
  so the examples flow straight on to encoding without another materialisation. A
  list travels on as one element: what follows (serializing, writing, statistics)
  needs no element per example.
  """

  FACTS = "facts"

  def __init__(self, spec: spec_lib.FeatureSpec):
    super().__init__()
    self._value_names = [f.name for f in spec.logged()]
    self._history = user_history.HistoryRules.from_spec(spec)
    rules = impression_join.JoinRules.from_spec(spec)
    self._click = rules.click_label
    self._labels = tuple(name for name, _, _ in rules.labels)
    # What an impression without a click has: every label and aggregate 0.
    self._no_labels = (0,) * len(self._labels)
    self._no_post_events = tuple(spec[name].parse_default for name in rules.post_events)
    # An example's values are gathered as (logged, click, labels, post events,
    # history) and keyed in the spec's order, which the statistics transpose fastest.
    gathered = (*self._value_names, self._click, *self._labels, *rules.post_events,
                *self._history.names)
    self._example_names = tuple(n for n in spec.names if n in gathered)
    self._arrange = operator.itemgetter(*(gathered.index(n)
                                          for n in self._example_names))

  def start_bundle(self):
    # (UTC day index, label or None for the examples) -> count, over the bundle: a
    # fact per user would cost a shuffled element per user, day and label.
    self._day_counts: collections.Counter = collections.Counter()

  def process(self, bucket_and_batches, eval_start: int):
    _, batches = bucket_and_batches
    by_user: dict[str, list[tuple]] = collections.defaultdict(list)
    for batch in batches:
      for joined in wire.joined_batch_from_wire(batch):
        by_user[wire.joined_user(joined)].append(joined)
    by_split: dict[str, list[dict[str, Any]]] = {}
    for user in sorted(by_user):  # Output independent of the batches' order.
      impressions = [wire.joined_from_fields(j, self._value_names)
                     for j in by_user[user]]
      self._add_examples(impressions, eval_start, by_split)
      # Handed on while the examples are fresh in the CPU's caches: what follows
      # (serializing, statistics) runs on each list at once, in this worker.
      for split, examples in list(by_split.items()):
        if len(examples) >= EXAMPLES_PER_LIST:
          yield beam.pvalue.TaggedOutput(split, by_split.pop(split))
    for split, examples in by_split.items():
      yield beam.pvalue.TaggedOutput(split, examples)

  def _add_examples(self, impressions: list[impression_join.JoinedImpression],
                    eval_start: int, by_split: dict[str, list[dict[str, Any]]]):
    """One user's examples, appended to their splits' lists."""
    day_counts = self._day_counts
    for joined, history in user_history.with_history(impressions, self._history):
      labels = joined.labels or self._no_labels
      values = dict(zip(self._example_names, self._arrange((
          *joined.impression.values.values(), joined.click, *labels,
          *(joined.post_events or self._no_post_events), *history))))
      split = time_split.split_of(joined.impression.ts_ms, eval_start)
      by_split.setdefault(split, []).append(values)
      day = joined.impression.ts_ms // run_report.DAY_MS
      day_counts[day, None] += 1
      if joined.click:
        day_counts[day, self._click] += 1
        for label, value in zip(self._labels, labels):
          if value:
            day_counts[day, label] += 1

  def finish_bundle(self):
    for (day, label), n in self._day_counts.items():
      date = run_report.utc_day(day * run_report.DAY_MS)
      key = (run_report.day_examples(date) if label is None
             else run_report.day_positives(label, date))
      yield beam.pvalue.TaggedOutput(self.FACTS,
                                     GlobalWindows.windowed_value(_fact(key, n)))


def _eval_start(max_ts: int, config: JoinConfig) -> int:
  if config.eval_start_ms is not None:
    return config.eval_start_ms
  return time_split.eval_start_ms(max_ts, config.eval_days)


def build_pipeline(pipeline: beam.Pipeline, config: JoinConfig, staging_dir: str,
                   files: Mapping[str, Log]):
  """Adds the whole job to `pipeline`, reading `files` (`_log_files(config)`) and
  writing under `staging_dir`.

  Facts (counts, vocabulary sizes, shard lengths) are written to
  `<staging_dir>/_facts.jsonl` for the launcher's report and metadata.
  """
  spec = config.feature_spec
  records, dead, lines_read = pipeline | "ReadAndParse" >> ReadAndParseLogs(
      files, spec, config.buckets)
  dead_letters, facts = [dead], [lines_read]

  # One GroupByKey over the three logs' tagged batches rather than a CoGroupByKey:
  # see `wire.batch_to_wire`.
  join_fn = JoinImpressionFn(spec, files, config.buckets)
  joined = (records
            | "GroupByJoinKey" >> beam.GroupByKey()
            | "JoinImpression" >> beam.ParDo(join_fn).with_outputs(
                JoinImpressionFn.DEAD, JoinImpressionFn.FACTS,
                JoinImpressionFn.MAX_TS, main="joined"))
  dead_letters.append(joined[JoinImpressionFn.DEAD])
  facts.append(joined[JoinImpressionFn.FACTS])

  max_ts = (joined[JoinImpressionFn.MAX_TS]
            | "MaxTimestamp" >> beam.CombineGlobally(lambda ts: max(ts, default=0)))
  eval_start = max_ts | "EvalStart" >> beam.Map(_eval_start, config)
  facts.append(eval_start | "EvalStartFact" >> beam.Map(
      lambda t: _fact(run_report.EVAL_START, t)))
  examples = (joined.joined
              | "GroupByUserBucket" >> beam.GroupByKey()
              | "AddUserHistory" >> beam.ParDo(
                  AddHistoryFn(spec), beam.pvalue.AsSingleton(eval_start)
              ).with_outputs(AddHistoryFn.FACTS, *layout.SPLITS))
  facts.append(examples[AddHistoryFn.FACTS])
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
      lambda d: _fact(run_report.dead_letter(d.log, d.reason))))
  _ = (facts
       | "FlattenFacts" >> beam.Flatten()
       | "SumFacts" >> beam.CombinePerKey(sum)
       | "FactJson" >> beam.Map(lambda kv: json.dumps({kv[0]: kv[1]}))
       | "WriteFacts" >> beam.io.WriteToText(
           posixpath.join(staging_dir, dataset_writer.FACTS_FILE),
           shard_name_template=""))


def _source_ids(files: Iterable[str]) -> dict[str, str]:
  """File path -> a short stand-in for it in shuffled records (see ParseLineFn)."""
  return {path: str(i) for i, path in enumerate(sorted(files))}


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


def _pipeline_options(pipeline_args: Sequence[str]) -> PipelineOptions:
  """Beam options; without --runner, the FnApiRunner with 2 local worker processes.

  Not the DirectRunner, which first tries Prism (a binary download). With the job's
  earlier graph (a CoGroupByKey), the FnApiRunner's multi-processing mode lost records
  on the 1.5M-impression demo world in 2 of 4 runs; the run report caught both and
  nothing was published. Since the job reads the three logs once and joins them with
  tagged GroupByKeys, every run with 2 workers has reconciled, its examples
  parse-equal to the in-process runner's; a lossy run would still be refused by the
  reconciliation. `--direct_running_mode=in_memory`, or `--runner=FnApiRunner` alone,
  runs in this process.
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
  files = _log_files(config)  # Fails before the staging directory exists.
  run_id = uuid.uuid4().hex[:12]
  staging_dir = f"{config.output_dir}.staging-{run_id}"
  logging.info("Staging into %s", staging_dir)
  with beam.Pipeline(options=_pipeline_options(pipeline_args)) as pipeline:
    build_pipeline(pipeline, config, staging_dir, files)
  return dataset_writer.finalize(config, staging_dir, run_id)


# What the job is doing as the local runner starts each step (pipelines.runner_output).
_STEP_LINES = {ReadLogFileFn.__name__: "reading and parsing the logs",
               JoinImpressionFn.__name__: "joining events to impressions",
               AddHistoryFn.__name__: "adding user history, writing examples"}


def main(argv: Sequence[str]) -> None:
  config = config_flags.from_flags(JoinConfig)
  with runner_output.readable(_STEP_LINES) as lines, cli.quiet_child_processes():
    report = run(config, pipeline_args=argv[1:])
    lines.log(f"published {config.output_dir}")
  print("\n".join([*run_report.RunReport(report).headline(),
                   f"report: {posixpath.join(config.output_dir, layout.REPORT_FILE)}"]))


if __name__ == "__main__":
  config_flags.define(JoinConfig, required=["impressions", "clicks", "detail_pages",
                                            "output_dir"])
  # Flags absl does not know are Beam's pipeline options.
  cli.run(main, known_only=True, user_errors=[dataset_writer.BadInputError])
