"""Vocabularies for categorical features, built on the train split.

A vocabulary is named by the spec (`Feature.vocabulary`); features that share a name share
the file (the behaviour sequence of clicked items looks up in `item_id`'s). Tokens are
counted on the owning feature (the first one naming the vocabulary) over train examples
only, so eval ids unseen in training are OOV exactly as they will be at serving time.
File: one token per line, most frequent first (ties by token), without an OOV entry:
StringLookup adds its OOV buckets in front.
"""

from __future__ import annotations

import collections
from typing import Any, Iterable, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from features import layout
from features import spec as spec_lib


def select_tokens(counts: Iterable[tuple[str, int]], min_count: int,
                  max_tokens: int | None) -> list[str]:
  """Most frequent first, ties by token; drops rare tokens, caps the size."""
  kept = sorted(((-n, t) for t, n in counts if n >= min_count))
  if max_tokens is not None:
    kept = kept[:max_tokens]
  return [t for _, t in kept]


class _TokenCountsFn(beam.CombineFn):
  """Batches of example dicts -> {vocabulary name: Counter of its owner's tokens}.

  Counting a batch's column with Counter.update keeps the per-token work in C, so the
  job never emits one element per token. Accumulators are bounded by the
  vocabularies, which the files hold anyway.
  """

  def __init__(self, owners: Mapping[str, str]):
    super().__init__()
    self._owners = dict(owners)

  def create_accumulator(self) -> dict[str, collections.Counter]:
    return {vocab_name: collections.Counter() for vocab_name in self._owners}

  def add_input(self, accumulator: dict[str, collections.Counter],
                batch: list[Mapping[str, Any]]) -> dict[str, collections.Counter]:
    for vocab_name, feature_name in self._owners.items():
      accumulator[vocab_name].update([example[feature_name] for example in batch])
    return accumulator

  def merge_accumulators(self, accumulators: Iterable[dict[str, collections.Counter]]
                         ) -> dict[str, collections.Counter]:
    accumulators = iter(accumulators)
    merged = next(accumulators)
    for accumulator in accumulators:
      for vocab_name, counts in accumulator.items():
        merged[vocab_name].update(counts)
    return merged

  def extract_output(self, accumulator: dict[str, collections.Counter]
                     ) -> dict[str, collections.Counter]:
    return accumulator


class BuildVocabularies(beam.PTransform):
  """Batches of train example dicts (`statistics.batch_examples`) -> vocabulary
  files; outputs ("vocab_size/<name>", size) for every vocabulary of the spec."""

  def __init__(self, spec: spec_lib.FeatureSpec, output_dir: str):
    super().__init__()
    self._spec = spec
    self._output_dir = output_dir

  def expand(self, batches):
    owners = {name: features[0].name
              for name, features in self._spec.vocabularies().items()}
    if any(self._spec[f].is_sequence for f in owners.values()):
      raise ValueError("A vocabulary must be owned by a scalar categorical feature; "
                       f"owners: {owners}.")
    return (batches
            | "CountTokens" >> beam.CombineGlobally(_TokenCountsFn(owners))
            | "ByVocabulary" >> beam.FlatMap(lambda counts: counts.items())
            | "WriteVocabulary" >> beam.Map(self._write))

  def _write(self, vocab_and_counts):
    vocab_name, counts = vocab_and_counts
    owner = self._spec.vocabulary_settings(vocab_name)
    tokens = select_tokens(counts.items(), owner.min_count, owner.max_tokens)
    path = layout.vocabulary_path(self._output_dir, vocab_name)
    with FileSystems.create(path) as f:
      f.write("".join(f"{t}\n" for t in tokens).encode("utf-8"))
    return f"vocab_size/{vocab_name}", len(tokens)
