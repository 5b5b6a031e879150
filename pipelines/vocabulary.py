"""Vocabularies for categorical features, built on the train split.

A vocabulary is named by the spec (`Feature.vocabulary`); features that share a name share
the file (the behaviour sequence of clicked items looks up in `item_id`'s). Tokens are
counted on the owning feature (the first one naming the vocabulary) over train examples
only, so eval ids unseen in training are OOV exactly as they will be at serving time.
File: one token per line, most frequent first (ties by token), without an OOV entry:
StringLookup adds its OOV buckets in front. Extending a base dataset's vocabularies
(`--base_vocabulary_dir`), every base token keeps its line, so a model trained on the
base finds its rows where they were, and the new tokens follow.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from features import layout
from features import spec as spec_lib
from pipelines import statistics


def select_tokens(counts: Iterable[tuple[str, int]], min_count: int,
                  max_tokens: int | None, base: Sequence[str] = ()) -> list[str]:
  """`base` as it is, then the other tokens most frequent first, ties by token;
  drops rare tokens, caps the size (base tokens are never dropped)."""
  known = set(base)
  kept = sorted(((-n, t) for t, n in counts if n >= min_count and t not in known))
  if any(not t for _, t in kept):
    # StringLookup rejects an empty line; a missing value is spec.MISSING_TOKEN.
    raise ValueError("A vocabulary token is empty; missing values must map to "
                     f"{spec_lib.MISSING_TOKEN!r}.")
  if max_tokens is not None:
    kept = kept[:max(0, max_tokens - len(base))]
  return [*base, *(t for _, t in kept)]


def read_tokens(data_dir: str, vocab_name: str) -> list[str]:
  """A published dataset's vocabulary, in its order; [] where it has none of that
  name (a vocabulary the spec added since)."""
  path = layout.vocabulary_path(data_dir, vocab_name)
  if not FileSystems.exists(path):
    return []
  with FileSystems.open(path) as f:
    return f.read().decode("utf-8").splitlines()


class BuildVocabularies(beam.PTransform):
  """The train split's statistics accumulator (`statistics.AccumulateStatistics`,
  which counts every vocabulary feature's values exactly) -> vocabulary files;
  outputs ("vocab_size/<name>", size) for every vocabulary of the spec."""

  def __init__(self, spec: spec_lib.FeatureSpec, output_dir: str,
               base_dir: str | None = None):
    super().__init__()
    self._spec = spec
    self._output_dir = output_dir
    # Read when the graph is built: a base that cannot be read fails before any work.
    self._base = {name: read_tokens(base_dir, name) if base_dir else []
                  for name in spec.vocabularies()}

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
    tokens = select_tokens(counts.items(), owner.min_count, owner.max_tokens,
                           self._base[vocab_name])
    path = layout.vocabulary_path(self._output_dir, vocab_name)
    with FileSystems.create(path) as f:
      f.write("".join(f"{t}\n" for t in tokens).encode("utf-8"))
    return f"vocab_size/{vocab_name}", len(tokens)
