"""Vocabularies for categorical features, built on the train split.

A vocabulary is named by the spec (`Feature.vocabulary`); features that share a name share
the file (the behaviour sequence of clicked items looks up in `item_id`'s). Tokens are
counted on the owning feature (the first one naming the vocabulary) over train examples
only, so eval ids unseen in training are OOV exactly as they will be at serving time.
File: one token per line, most frequent first (ties by token), without an OOV entry:
StringLookup adds its OOV buckets in front.
"""

from __future__ import annotations

from typing import Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from features import layout
from features import spec as spec_lib
from pipelines import statistics


def select_tokens(counts: Iterable[tuple[str, int]], min_count: int,
                  max_tokens: int | None) -> list[str]:
  """Most frequent first, ties by token; drops rare tokens, caps the size."""
  kept = sorted(((-n, t) for t, n in counts if n >= min_count))
  if any(not t for _, t in kept):
    # StringLookup rejects an empty line; a missing value is spec.MISSING_TOKEN.
    raise ValueError("A vocabulary token is empty; missing values must map to "
                     f"{spec_lib.MISSING_TOKEN!r}.")
  if max_tokens is not None:
    kept = kept[:max_tokens]
  return [t for _, t in kept]


class BuildVocabularies(beam.PTransform):
  """The train split's statistics accumulator (`statistics.AccumulateStatistics`,
  which counts every vocabulary feature's values exactly) -> vocabulary files;
  outputs ("vocab_size/<name>", size) for every vocabulary of the spec."""

  def __init__(self, spec: spec_lib.FeatureSpec, output_dir: str):
    super().__init__()
    self._spec = spec
    self._output_dir = output_dir

  def expand(self, accumulator):
    owners = {name: features[0].name
              for name, features in self._spec.vocabularies().items()}
    if any(self._spec[f].is_sequence for f in owners.values()):
      raise ValueError("A vocabulary must be owned by a scalar categorical feature; "
                       f"owners: {owners}.")
    return (accumulator
            | "ByVocabulary" >> beam.FlatMap(
                lambda acc: [(name, statistics.token_counts(acc, owner))
                             for name, owner in owners.items()])
            | "WriteVocabulary" >> beam.Map(self._write))

  def _write(self, vocab_and_counts):
    vocab_name, counts = vocab_and_counts
    owner = self._spec.vocabulary_settings(vocab_name)
    tokens = select_tokens(counts.items(), owner.min_count, owner.max_tokens)
    path = layout.vocabulary_path(self._output_dir, vocab_name)
    with FileSystems.create(path) as f:
      f.write("".join(f"{t}\n" for t in tokens).encode("utf-8"))
    return f"vocab_size/{vocab_name}", len(tokens)
