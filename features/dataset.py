"""A published dataset, opened once: its spec, run report, shards and vocabularies.

Every stage after the join (input, training, item vectors, export, benchmarks) starts
from `PublishedDataset.open(data_dir)` instead of re-reading `feature_spec.json` and
`run_report.json` from a path, as `tfds.builder_from_directory` hands back a builder.
Files go through tf.io.gfile, so a gs:// directory reads like a local one.

A trained model is bound to the data its lookup tables were built from:
`PublishedDataset.binding(task)` is that record (`DataBinding`), which models.train
writes into its run and export.export_model checks and publishes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import posixpath
from typing import Any, Iterable, Mapping

import tensorflow as tf

from features import layout
from features import run_report
from features import spec as spec_lib


_DIGEST_CHARS = 12  # Of a sha256, where a message shows one.
_CHUNK_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class DataBinding:
  """What a trained model is bound to: its task, and the data it was built from.

  Attributes:
    task: The task the model was trained for.
    data_dir: The dataset's directory when the record was made.
    run_id: The join run that published the dataset (run_report.json's; None before
      reports recorded it).
    spec_fingerprint: `FeatureSpec.fingerprint()` of the dataset's spec.
    vocabularies: Vocabulary name -> sha256 of its file, for every vocabulary the
      task's features look up in (its regular and privileged ones): the files a
      model's lookup tables are built from, token ids being line numbers.
  """
  task: str
  data_dir: str
  run_id: str | None
  spec_fingerprint: str
  vocabularies: Mapping[str, str]

  @property
  def vocabulary_digest(self) -> str:
    """One sha256 over every vocabulary's name and digest."""
    lines = "".join(f"{name}\t{digest}\n"
                    for name, digest in sorted(self.vocabularies.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()

  def to_dict(self) -> dict[str, Any]:
    return {"task": self.task, "data_dir": self.data_dir, "run_id": self.run_id,
            "feature_spec_fingerprint": self.spec_fingerprint,
            "vocabularies": dict(sorted(self.vocabularies.items())),
            "vocabulary_digest": self.vocabulary_digest}

  @classmethod
  def from_dict(cls, record: Mapping[str, Any]) -> DataBinding:
    return cls(record["task"], record["data_dir"], record.get("run_id"),
               record["feature_spec_fingerprint"], dict(record["vocabularies"]))

  def mismatch(self, other: DataBinding) -> tuple[str, str, str] | None:
    """The first difference that keeps `other` from standing in for this binding:
    (what differs, its value here, its value in `other`), as a message shows them;
    None when a model bound here may be used with `other`.

    The task, the spec and every vocabulary are compared: they decide what a model
    predicts and which embedding row each id reads. The run id and the directory are
    not: the same logs joined again (into another directory, by another run) give
    the same vocabularies (most frequent first, ties by token), hence the same
    tables, and that dataset may stand in.
    """
    for what, here, there in (("task", self.task, other.task),
                              ("feature_spec_fingerprint", self.spec_fingerprint,
                               other.spec_fingerprint)):
      if here != there:
        return what, here, there
    for name in sorted(self.vocabularies.keys() | other.vocabularies.keys()):
      here, there = (b.vocabularies.get(name) for b in (self, other))
      if here != there:
        here, there = (f"sha256 {d[:_DIGEST_CHARS]}" if d else "absent"
                       for d in (here, there))
        return f"vocabulary {name!r}", here, there
    return None


class PublishedDataset:
  """What `pipelines.join_logs` published in one directory (WORKSPACE.md).

  Build it with `open`; the constructor takes what was already read (tests, copies).

  Attributes:
    data_dir: The directory, local or gs://.
    spec: The feature spec the examples were written with (parsing follows it, not
      the code's DEFAULT_SPEC).
    report: The join job's run report (counts per split, vocabulary sizes).
  """

  def __init__(self, data_dir: str, spec: spec_lib.FeatureSpec,
               report: run_report.RunReport):
    self.data_dir = data_dir
    self.spec = spec
    self.report = report
    # Counts within a time range or a fraction (features.input.example_count): one
    # pass over the split each, so once per dataset object.
    self.filtered_counts: dict[tuple[str, str, tuple[int, int] | None, float], int] = {}
    # features.input's in-memory caches of filtered records, shared by its pipelines.
    self.cached_blocks: dict[tuple, tf.data.Dataset] = {}
    self._vocabulary_digests: dict[str, str] = {}

  @classmethod
  def open(cls, data_dir: str) -> PublishedDataset:
    """Reads the spec and the report of a published dataset.

    Raises:
      FileNotFoundError: `data_dir` has no `_SUCCESS`. The join job writes it last,
        after its counts reconciled and its metadata was written; a directory
        without it is a run in progress, a failed run, or a copy still being made
        (object stores publish by copying): its shards may be partial.
    """
    if not tf.io.gfile.exists(posixpath.join(data_dir, layout.SUCCESS_FILE)):
      raise FileNotFoundError(
          f"{data_dir!r} is not a published dataset: it has no "
          f"{layout.SUCCESS_FILE}, so it is still being written or its run "
          "failed. Read the directory that pipelines.join_logs --output_dir published.")
    spec = spec_lib.FeatureSpec.from_json(_read(data_dir, layout.SPEC_FILE))
    report = run_report.RunReport.from_json(_read(data_dir, layout.REPORT_FILE))
    return cls(data_dir, spec, report)

  @property
  def splits(self) -> tuple[str, ...]:
    """The splits a task's examples come from (a clicked view is not one)."""
    return layout.SPLITS

  def shards(self, split: str) -> list[str]:
    """The paths of `split`'s shards (a split or a view), sorted.

    Raises:
      FileNotFoundError: None match; the message names the split and the directory.
    """
    pattern = layout.shard_glob(self.data_dir, split)
    paths = sorted(tf.io.gfile.glob(pattern))
    if not paths:
      raise FileNotFoundError(f"No shards of split {split!r} in {self.data_dir!r} "
                              f"(looked for {pattern}).")
    return paths

  def has_view(self, view: str) -> bool:
    """Whether the job wrote `view` (e.g. layout.clicked_view("train")); datasets
    published before views existed lack them."""
    return bool(tf.io.gfile.glob(layout.shard_glob(self.data_dir, view)))

  def vocabulary_path(self, vocab_name: str) -> str:
    """The file of one of the spec's vocabularies (one token per line).

    Raises:
      ValueError: The spec has no such vocabulary; the message names the known ones.
    """
    if vocab_name not in self.spec.vocabularies():
      raise ValueError(f"No vocabulary {vocab_name!r} in the spec of "
                       f"{self.data_dir!r}; its vocabularies: "
                       f"{sorted(self.spec.vocabularies())}.")
    return layout.vocabulary_path(self.data_dir, vocab_name)

  def vocabulary_digests(self, vocab_names: Iterable[str]) -> dict[str, str]:
    """Vocabulary name -> sha256 of its file, each file read once per dataset object.

    Raises:
      ValueError: A name is not a vocabulary of the spec.
    """
    digests = {}
    for name in sorted(set(vocab_names)):
      if name not in self._vocabulary_digests:
        digest = hashlib.sha256()
        with tf.io.gfile.GFile(self.vocabulary_path(name), "rb") as f:
          for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
        self._vocabulary_digests[name] = digest.hexdigest()
      digests[name] = self._vocabulary_digests[name]
    return digests

  def binding(self, task: str) -> DataBinding:
    """What a model of `task` trained on this dataset is bound to (`DataBinding`).

    Raises:
      ValueError: `task` is not a task of the spec.
    """
    self.spec.task(task)
    features = self.spec.regular(task) + self.spec.privileged(task)
    return DataBinding(task, self.data_dir, self.report.run_id, self.spec.fingerprint(),
                       self.vocabulary_digests(f.vocabulary for f in features
                                               if f.vocabulary is not None))

  def example_count(self, split: str, task: str) -> int:
    """How many examples of `task` `split` holds, as the run report counts them: a
    clicked-only task's are the split's clicks, another's all its impressions.

    Raises:
      ValueError: `task` is not a task of the spec.
    """
    if self.spec.task(task).clicked_only:
      return self.report.positives(split, self.spec.click_label)
    return self.report.examples(split)


def _read(data_dir: str, name: str) -> str:
  with tf.io.gfile.GFile(posixpath.join(data_dir, name), "r") as f:
    return f.read()


def published(dataset: str | PublishedDataset) -> PublishedDataset:
  """`dataset` itself, or the dataset published at that path, opened."""
  if isinstance(dataset, PublishedDataset):
    return dataset
  return PublishedDataset.open(dataset)
