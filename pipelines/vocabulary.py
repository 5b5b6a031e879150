"""Vocabularies for categorical features, built on the train split.

A vocabulary is named by the spec (`Feature.vocabulary`); features that share a name share
the file (the behaviour sequence of clicked items looks up in `item_id`'s). Tokens are
counted on the owning feature (the first one naming the vocabulary) over train examples
only, so eval ids unseen in training are OOV exactly as they will be at serving time.
File: one token per line, most frequent first (ties by token), without an OOV entry:
StringLookup adds its OOV buckets in front. Extending a base dataset's vocabularies
(`--base_vocabulary_dir`), every base token keeps its line, so a model trained on the
base finds its rows where they were, and the new tokens follow.

A vocabulary whose owner declares `min_count_days` or `retire_after_days` grows from
counts by day (`grow`, `pipelines.vocabulary_counts`): new tokens must reach
`min_count` over the window, and a base token unseen for the horizon is retired: its
line becomes `[RETIRED]<index>`, which no counted token may equal, so the index of
every other line stays and the token's ids fall to the OOV bucket, in training, at
serving and in a warm start (whose rows follow tokens: the retired line is a new one).
"""

from __future__ import annotations

import json
import posixpath
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from features import layout
from features import run_report
from features import spec as spec_lib
from pipelines import statistics
from pipelines import vocabulary_counts
from pipelines.vocabulary_counts import TokenDays

# A retired line starts with this; the index that follows keeps the lines unique.
RETIRED = "[RETIRED]"


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


def is_retired(token: str) -> bool:
  return token.startswith(RETIRED)


def counts_by_day(settings: spec_lib.Feature) -> bool:
  """Whether the vocabulary `settings` owns grows from counts by day (`grow`)."""
  return settings.min_count_days is not None or settings.retire_after_days is not None


class Grown(NamedTuple):
  """A vocabulary grown from counts by day, and the counts its next day needs."""
  tokens: list[str]
  carried: dict[str, TokenDays]


def grow(base: Sequence[str], carried: Mapping[str, TokenDays] | None,
         counted: Mapping[str, Mapping[int, int]],
         settings: spec_lib.Feature) -> Grown:
  """`base` line for line, each token unseen for `retire_after_days` retired, then
  the new tokens that reach `min_count` over the last `min_count_days` days (over
  the split's own days without a window), most frequent first (`select_tokens`).

  Days end at the split's last day. A day the split counted replaces the carried
  count of that day (a join over days its base also counted).

  Args:
    base: The base vocabulary, retired lines included ([] without a base).
    carried: The base's counts by day; None where it kept none: its tokens count as
      seen the day before the split's first.
    counted: The split's counts: token -> day (since the epoch) -> count.
    settings: The owner feature (min_count, max_tokens and the two day knobs).

  Raises:
    ValueError: a counted token is written like a retired line.
  """
  reserved = sorted(t for t in counted if is_retired(t))
  if reserved:
    raise ValueError(f"Vocabulary {settings.vocabulary!r}: tokens {reserved[:3]} start "
                     f"with {RETIRED!r}, which marks a retired line; rename these ids "
                     "in the logs.")
  carried = dict(carried or {})
  days = {day for by_day in counted.values() for day in by_day}
  if not days:
    return Grown(list(base), carried)
  last = max(days)
  start = last - settings.min_count_days + 1 if settings.min_count_days else min(days)
  unknown = TokenDays(min(days) - 1, {})
  merged = {}
  for token in {*base, *carried, *counted}:
    old, new = carried.get(token, unknown), counted.get(token, {})
    counts = {d: n for d, n in old.counts.items() if d >= start and d not in days}
    counts.update((d, n) for d, n in new.items() if d >= start)
    merged[token] = TokenDays(max([old.last_seen, *new]), counts)
  horizon = settings.retire_after_days
  live = {token: seen for token, seen in merged.items() if not is_retired(token)
          and (horizon is None or seen.last_seen > last - horizon)}
  kept = [t if t in live or is_retired(t) else f"{RETIRED}{i}"
          for i, t in enumerate(base)]
  tokens = select_tokens(((t, sum(d.counts.values())) for t, d in live.items()),
                         settings.min_count, settings.max_tokens, kept)
  in_vocabulary = set(tokens)
  return Grown(tokens, {t: d for t, d in live.items()
                        if t in in_vocabulary or d.counts})


def version_record(base_dir: str | None) -> dict[str, Any]:
  """The run report's record of which vocabularies a dataset's are: version 1 when
  new, the base's + 1 when they extend it; `vocabulary_base` names the base and its
  run, so a model trained on it warm-starts on this dataset."""
  if not base_dir:
    return {"vocabulary_version": 1}
  with FileSystems.open(posixpath.join(base_dir, layout.REPORT_FILE)) as f:
    base = json.load(f)
  version = base.get("vocabulary_version", 1)  # Published before versions: the first.
  return {"vocabulary_version": version + 1,
          "vocabulary_base": {"data_dir": base_dir, "run_id": base["run_id"],
                              "vocabulary_version": version}}


def read_tokens(data_dir: str, vocab_name: str) -> list[str]:
  """A published dataset's vocabulary, in its order; [] where it has none of that
  name (a vocabulary the spec added since)."""
  path = layout.vocabulary_path(data_dir, vocab_name)
  if not FileSystems.exists(path):
    return []
  with FileSystems.open(path) as f:
    return f.read().decode("utf-8").splitlines()


class BuildVocabularies(beam.PTransform):
  """(The train split's statistics accumulator, its lists of example dicts) ->
  vocabulary files; outputs ("vocab_size/<name>", size) for every vocabulary of the
  spec.

  A vocabulary grows from the accumulator's exact token counts, or, where its owner
  declares a window or horizon (`counts_by_day`), from the examples' counts by day
  (`grow`), and then also writes the counts its next day reads.
  """

  def __init__(self, spec: spec_lib.FeatureSpec, output_dir: str,
               base_dir: str | None = None):
    super().__init__()
    self._spec = spec
    self._output_dir = output_dir
    self._owners = {name: features[0].name
                    for name, features in spec.vocabularies().items()}
    if any(spec[f].is_sequence for f in self._owners.values()):
      raise ValueError("A vocabulary must be owned by a scalar categorical feature; "
                       f"owners: {self._owners}.")
    self._by_day = {name: owner for name, owner in self._owners.items()
                    if counts_by_day(spec[owner])}
    if self._by_day and spec.time_feature is None:
      raise ValueError(f"Vocabularies {sorted(self._by_day)} count by day "
                       "(min_count_days or retire_after_days), which needs the "
                       "impression time: declare a metadata feature with source "
                       f"{spec_lib.IMPRESSION_TIME_SOURCE!r}.")
    # Read when the graph is built: a base that cannot be read fails before any work.
    self._base = {name: read_tokens(base_dir, name) if base_dir else []
                  for name in self._owners}
    self._carried = {name: vocabulary_counts.read(base_dir, name) if base_dir else None
                     for name in self._by_day}

  def expand(self, inputs):
    accumulator, example_lists = inputs
    sizes = [accumulator
             | "ByVocabulary" >> beam.FlatMap(
                 lambda acc: [(name, statistics.token_counts(acc, owner))
                              for name, owner in self._owners.items()
                              if name not in self._by_day])
             | "WriteVocabulary" >> beam.Map(self._write)]
    if self._by_day:
      sizes.append(
          example_lists
          | "CountTokensByDay" >> beam.CombineGlobally(
              vocabulary_counts.CountTokensByDayFn(self._by_day,
                                                   self._spec.time_feature))
          | "GrowVocabularies" >> beam.FlatMap(
              lambda counted: [self._write_grown(name, counted[name])
                               for name in self._by_day]))
    return sizes | "VocabularySizes" >> beam.Flatten()

  def _write(self, vocab_and_counts):
    vocab_name, counts = vocab_and_counts
    owner = self._spec.vocabulary_settings(vocab_name)
    return self._write_tokens(vocab_name, select_tokens(
        counts.items(), owner.min_count, owner.max_tokens, self._base[vocab_name]))

  def _write_grown(self, vocab_name: str, counted: Mapping[str, Mapping[int, int]]):
    grown = grow(self._base[vocab_name], self._carried[vocab_name], counted,
                 self._spec.vocabulary_settings(vocab_name))
    vocabulary_counts.write(self._output_dir, vocab_name, grown.carried)
    return self._write_tokens(vocab_name, grown.tokens)

  def _write_tokens(self, vocab_name: str, tokens: Sequence[str]):
    path = layout.vocabulary_path(self._output_dir, vocab_name)
    with FileSystems.create(path) as f:
      f.write("".join(f"{t}\n" for t in tokens).encode("utf-8"))
    return run_report.vocabulary_size(vocab_name), len(tokens)
