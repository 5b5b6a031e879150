"""Writing a dataset: TFRecord shards, metadata beside them, and atomic publication.

The Beam side (`WriteSplit`) writes one split's shards and reports their lengths as
facts. The launcher side (`finalize`) turns the job's facts into the run report,
checks that every input line is accounted for, writes the metadata that needs the
whole run (spec, schema, tensorflow-datasets metadata, report) and only then publishes
the staging directory under the output name, with `_SUCCESS` written last.
"""

from __future__ import annotations

import itertools
import json
import operator
import os
import posixpath
import struct
from typing import Any, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from tensorflow_metadata.proto.v0 import statistics_pb2

from features import example_serializer
from features import layout
from features import run_report
from features import schema as schema_lib
from features import spec as spec_lib
from features import tfds_metadata
from pipelines import day_checks
from pipelines import drift
from pipelines import statistics
from pipelines import tfrecord_sink
from pipelines import vocabulary
from pipelines.log_records import Log

_TFRECORD_HEADER_BYTES = 12
_TFRECORD_FOOTER_BYTES = 4
FACTS_FILE = "_facts.jsonl"


class BadInputError(RuntimeError):
  """Too many input lines were rejected, a declared feature is (almost) never logged,
  a file could not be read whole, or a day is anomalous; the dataset was not
  published."""


def _count_records(path: str, chunk_bytes: int = 1 << 22) -> tuple[str, int]:
  """Counts one written shard's records on a worker: tfds' metadata needs them.

  Walks the TFRecord framing (uint64 length, uint32 CRC, data, uint32 CRC) through
  chunks read whole, without parsing the payloads: a read and a seek per record
  would be slow on a large split, counted on one worker at the job's end. A record
  that runs past its chunk is skipped with a seek.
  """
  count = 0
  with FileSystems.open(path, compression_type="uncompressed") as f:
    buffer, offset = b"", 0  # `offset`: the next header's position in `buffer`.
    while True:
      if len(buffer) - offset < _TFRECORD_HEADER_BYTES:
        chunk = f.read(chunk_bytes)
        buffer, offset = buffer[offset:] + chunk, 0
        if not chunk:
          break
        continue
      (length,) = struct.unpack_from("<Q", buffer, offset)
      offset += _TFRECORD_HEADER_BYTES + length + _TFRECORD_FOOTER_BYTES
      count += 1
      if offset > len(buffer):
        f.seek(offset - len(buffer), os.SEEK_CUR)
        buffer, offset = b"", 0
    if buffer:
      raise ValueError(f"{path}: truncated TFRecord header after {count} records.")
  return run_report.shard(posixpath.basename(path)), count


def _label_facts(batch: list[Mapping[str, Any]], split: str,
                 labels: tuple[str, ...]):
  """Counts per batch: one fact per label, not one per example, crosses the shuffle."""
  yield run_report.examples(split), len(batch)
  for label in labels:
    positives = sum(map(bool, map(operator.itemgetter(label), batch)))
    if positives:
      yield run_report.positives(split, label), positives


@beam.typehints.with_input_types(list[dict[str, Any]])
@beam.typehints.with_output_types(bytes)
class SerializeFn(beam.DoFn):
  """Lists of example dicts -> their serialized Examples as one batch of TFRecords
  (`tfrecord_sink.frame`); the clicked ones also on 'clicked' (each example is
  serialized once for both views)."""
  CLICKED = "clicked"

  def __init__(self, spec: spec_lib.FeatureSpec):
    super().__init__()
    self._spec = spec
    self._click = spec.click_label
    self._serialize = None

  def setup(self):
    self._serialize = example_serializer.ExampleSerializer(self._spec)

  def process(self, examples):
    serialized = self._serialize.serialize_batch(examples)
    yield tfrecord_sink.frame(serialized)
    clicks = map(operator.itemgetter(self._click), examples)
    clicked = list(itertools.compress(serialized,
                                      map(operator.eq, clicks, itertools.repeat(1))))
    if clicked:
      yield beam.pvalue.TaggedOutput(self.CLICKED, tfrecord_sink.frame(clicked))


def _write_tfrecords(data_dir: str, dataset_name: str, split: str) -> beam.PTransform:
  """Batches of framed serialized Examples -> `<dataset_name>-<split>.tfrecord-SSSSS-
  of-NNNNN` shards under `data_dir` (tfds' file names)."""
  return beam.io.Write(tfrecord_sink.FramedRecordSink(
      layout.shard_prefix(data_dir, dataset_name, split),
      shard_name_template="-SSSSS-of-NNNNN"))


class WriteSplit(beam.PTransform):
  """Lists of one split's example dicts (a user's, from the join) -> TFRecord
  shards, its clicked view (the same Examples with click == 1, for clicked-only
  tasks), statistics and, with `vocabularies` (the train split), the vocabulary
  files; outputs facts."""

  def __init__(self, spec: spec_lib.FeatureSpec, data_dir: str, dataset_name: str,
               split: str, vocabularies: bool = False,
               base_vocabulary_dir: str | None = None):
    super().__init__()
    self._base_vocabulary_dir = base_vocabulary_dir
    self._spec = spec
    self._data_dir = data_dir
    self._dataset_name = dataset_name
    self._split = split
    self._vocabularies = vocabularies

  def expand(self, example_lists):
    spec = self._spec
    labels = tuple(sorted({t.label for t in spec.tasks.values()}))

    serialized = example_lists | "Serialize" >> beam.ParDo(
        SerializeFn(spec)).with_outputs(SerializeFn.CLICKED, main="all")
    shards = [
        serialized.all | "WriteTFRecord" >> _write_tfrecords(
            self._data_dir, self._dataset_name, self._split),
        serialized[SerializeFn.CLICKED] | "WriteClickedTFRecord" >> _write_tfrecords(
            self._data_dir, self._dataset_name, layout.clicked_view(self._split))]
    # The passes that count (statistics, labels, vocabularies) work on the lists as
    # batches, and the vocabularies read the statistics' exact token counts.
    accumulated = example_lists | "Accumulate" >> statistics.AccumulateStatistics(spec)
    _ = (accumulated
         | "Statistics" >> beam.Map(statistics.to_statistics, spec, self._split)
         | "WriteStatistics" >> beam.Map(
             lambda s: statistics.write_statistics(
                 statistics_pb2.DatasetFeatureStatisticsList(datasets=[s]),
                 posixpath.join(self._data_dir, layout.STATS_DIR, f"{self._split}.pb"))))
    shard_lengths = (shards
                     | "AllShards" >> beam.Flatten()
                     | "CountShardRecords" >> beam.Map(_count_records))
    facts = [shard_lengths,
             example_lists | "LabelFacts" >> beam.FlatMap(_label_facts, self._split,
                                                          labels)]
    if self._vocabularies:
      facts.append((accumulated, example_lists)
                   | "BuildVocabularies" >> vocabulary.BuildVocabularies(
                       spec, self._data_dir, self._base_vocabulary_dir))
    return facts | "Facts" >> beam.Flatten()


def _exists(path: str) -> bool:
  return FileSystems.exists(path)


def check_publishable(output_dir: str, overwrite: bool) -> None:
  if _exists(output_dir) and not overwrite:
    raise ValueError(f"--output_dir={output_dir!r} already exists; pass --overwrite "
                     "to replace it.")


def read_facts(staging_dir: str) -> dict[str, int]:
  facts: dict[str, int] = {}
  with FileSystems.open(posixpath.join(staging_dir, FACTS_FILE)) as f:
    for line in f.read().decode("utf-8").splitlines():
      facts.update(json.loads(line))
  return facts


def _write_text(path: str, text: str) -> None:
  with FileSystems.create(path) as f:
    f.write(text.encode("utf-8"))


def _write_report(staging_dir: str, report: Mapping[str, Any]) -> None:
  _write_text(posixpath.join(staging_dir, layout.REPORT_FILE),
              json.dumps(report, indent=2, sort_keys=True))


def _write_empty_vocabularies(staging_dir: str, spec: spec_lib.FeatureSpec,
                              report: dict[str, Any]) -> None:
  """A vocabulary with no train tokens still gets its (empty) file."""
  for vocab_name in spec.vocabularies():
    if vocab_name not in report["vocabulary_sizes"]:
      _write_text(layout.vocabulary_path(staging_dir, vocab_name), "")
      report["vocabulary_sizes"][vocab_name] = 0


def _coverage_problems(spec: spec_lib.FeatureSpec, report: Mapping[str, Any],
                       min_coverage: float) -> list[str]:
  """A declared logged feature that no parsed impression carries (likely a typo in
  the spec, or a key the logs spell otherwise), or fewer than `min_coverage` do."""
  problems = []
  declared = report["coverage"]["declared"]
  for feature in spec.logged():
    carried = declared[feature.name]
    if carried["records"] == 0 or carried["fraction"] < min_coverage:
      undeclared = report["coverage"]["logged_not_declared"]
      problems.append(
          f"feature {feature.name!r} (source {feature.source!r}) is carried by "
          f"{carried['records']} of {report['coverage']['parsed_impressions']} "
          f"parsed impressions ({carried['fraction']:.2%}), below "
          f"--min_feature_coverage={min_coverage:.2%}"
          + (f"; logged keys no feature declares: {sorted(undeclared)}"
             if carried["records"] == 0 and undeclared else ""))
  return problems


def _publish(staging_dir: str, output_dir: str) -> None:
  """Moves staging to output; the previous dataset is removed only after the move."""
  previous = None
  if _exists(output_dir):
    previous = f"{staging_dir}.previous"
    FileSystems.rename([output_dir], [previous])
  FileSystems.rename([staging_dir], [output_dir])
  if previous:
    FileSystems.delete([previous])


def finalize(config, staging_dir: str, run_id: str) -> dict[str, Any]:
  """Report, metadata and publication after the Beam job finished.

  Args:
    config: The job's JoinConfig.
    staging_dir: Where the job wrote.
    run_id: This run's id (names the rejected directory on failure).

  Returns:
    The run report.
  """
  spec = config.feature_spec
  facts = read_facts(staging_dir)
  report = run_report.build_report(
      facts, [log.value for log in Log], Log.IMPRESSIONS.value,
      [f.name for f in spec.logged()], config.max_bad_fraction)
  report["run_id"] = run_id
  report.update(vocabulary.version_record(config.base_vocabulary_dir))
  _write_empty_vocabularies(staging_dir, spec, report)
  FileSystems.delete([posixpath.join(staging_dir, FACTS_FILE)])
  if not report["reconciled"]:
    _write_report(staging_dir, report)
    raise RuntimeError(f"Input lines do not reconcile (a bug in the job, not in the "
                       f"data): {json.dumps(report['inputs'])}; staging kept at "
                       f"{staging_dir}.")
  problems = []
  if report["bad_fraction"] > config.max_bad_fraction:
    reasons = sorted(((n, f"{log} {reason}") for log, entry in report["inputs"].items()
                      for reason, n in entry["dead_letter"].items()), reverse=True)
    problems.append(
        f"{report['dead_letter_lines']} of "
        f"{sum(e['lines'] for e in report['inputs'].values())} input lines "
        f"({report['bad_fraction']:.2%}) went to the dead letter, above "
        f"--max_bad_fraction={config.max_bad_fraction:.2%} (most: "
        f"{', '.join(f'{what}: {n}' for n, what in reasons[:3])}; each line's "
        "detail is in the dead letter)")
  else:  # Coverage of a run that rejected most lines would only repeat that.
    problems.extend(_coverage_problems(spec, report, config.min_feature_coverage))
  problems.extend(f"{path} could not be read whole (truncated or corrupt after line "
                  f"{lines})" for path, lines in report["unreadable_files"].items())
  anomalies = day_checks.find(report["days"], spec, Log.IMPRESSIONS.value,
                              [Log.CLICKS.value, Log.DETAIL_PAGES.value],
                              config.min_day_fraction)
  report["anomalies"] = [str(a) for a in anomalies]
  report["anomalies_allowed"] = config.allow_anomalies
  if anomalies and not config.allow_anomalies:
    problems.append(f"{'; '.join(report['anomalies'])} (--min_day_fraction="
                    f"{config.min_day_fraction}; --allow_anomalies publishes anyway)")
  if config.baseline_dataset:
    report["drift"] = drift.compare(
        config.baseline_dataset, staging_dir, report, [f.name for f in spec.logged()],
        config.max_coverage_drop, config.max_top_value_shift, config.max_mean_shift)
    if report["drift"]["findings"] and config.fail_on_drift:
      problems.append(f"against --baseline_dataset={config.baseline_dataset}: "
                      f"{'; '.join(report['drift']['findings'])} (--fail_on_drift)")
  _write_report(staging_dir, report)
  if problems:
    rejected = f"{config.output_dir}.rejected-{run_id}"
    FileSystems.rename([staging_dir], [rejected])
    raise BadInputError(
        f"{'; '.join(problems)}. Not published; see {rejected}/{layout.REPORT_FILE} "
        f"and {rejected}/dead_letter/.")
  _write_text(posixpath.join(staging_dir, layout.SPEC_FILE), spec.to_json())
  schema_lib.write_schema(
      schema_lib.build_schema(spec, report["vocabulary_sizes"]),
      posixpath.join(staging_dir, layout.SCHEMA_FILE))
  tfds_metadata.write_tfds_metadata(
      staging_dir, spec, run_report.shard_lengths(facts, config.dataset_name),
      dataset_name=config.dataset_name,
      description=f"PFD training examples; feature spec {spec.fingerprint()}.")
  _write_text(posixpath.join(staging_dir, layout.SUCCESS_FILE), "")
  _publish(staging_dir, config.output_dir)
  return report
