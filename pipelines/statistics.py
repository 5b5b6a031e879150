"""Per-split dataset statistics in tensorflow-metadata's format, computed in Beam.

The output is a `statistics_pb2.DatasetFeatureStatisticsList`, what TFDV
(`tfdv.load_stats_binary`, `tfdv.validate_statistics`) and Facets read; TFDV itself is
not a dependency, so the protos are filled here. The statistics are a `beam.CombineFn`
over the job's example dicts (before encoding), so no worker holds the examples:
accumulators are per-feature counters that merge in any order.

Numeric features (int64 and float32) get min/max/mean/std_dev/num_zeros. The mean and the
(population, as TFDV) standard deviation are merged with Chan et al.'s pairwise update of
(count, mean, sum of squared deviations) rather than from a sum of squares, which loses
all precision for values like millisecond timestamps (~1.7e12, squares ~3e24).

String features get the number of values, the average value length in bytes (TFDV's
`avg_length`) and, for vocabulary features (categorical and sequence), the number of
unique values and the top values. Token counts are kept exactly: vocabularies are bounded
in practice (the Beam job holds them to build the vocabulary files anyway). Metadata
strings (impression and request ids) are unique per example, so their values are not
counted. Sequence lengths are in `common_stats` (min/max/avg/total number of values).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
import numpy as np
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import statistics_pb2

from features import example_columns
from features import spec as spec_lib

NUM_TOP_VALUES = 20

_STATS_TYPES = {
    spec_lib.DType.STRING: statistics_pb2.FeatureNameStatistics.STRING,
    spec_lib.DType.INT64: statistics_pb2.FeatureNameStatistics.INT,
    spec_lib.DType.FLOAT32: statistics_pb2.FeatureNameStatistics.FLOAT,
}


@dataclasses.dataclass
class _FeatureAccumulator:
  """Running statistics of one feature; `merge` is associative and commutative."""
  num_non_missing: int = 0
  num_missing: int = 0
  # Values per present example.
  tot_num_values: int = 0
  min_num_values: int | None = None
  max_num_values: int | None = None
  # Numeric values.
  count: int = 0
  mean: float = 0.0
  m2: float = 0.0  # Sum of squared deviations from the mean.
  min: float | None = None
  max: float | None = None
  num_zeros: int = 0
  # String values.
  total_length: int = 0
  token_counts: Counter[str] | None = None

  def add_column(self, feature: spec_lib.Feature, column: Sequence[Any]) -> None:
    """Adds one feature's values from a batch of examples (None where missing).

    Columnar on purpose: numpy and Counter do the per-value work, which keeps the
    statistics cheap next to the rest of the job. The set of the values' types
    (`map(type, ...)` runs in C) is read once, for the missing values and the type
    checks alike, rather than each value.
    """
    types = set(map(type, column))
    present = column
    if type(None) in types:
      present = [v for v in column if v is not None]
      types.discard(type(None))
    self.num_missing += len(column) - len(present)
    if not present:
      return
    values, lengths, types = _flatten(feature, present, types)
    self.num_non_missing += len(present)
    self.tot_num_values += len(values)
    low, high = (min(lengths), max(lengths)) if lengths else (1, 1)
    self.min_num_values = low if self.min_num_values is None else min(
        self.min_num_values, low)
    self.max_num_values = high if self.max_num_values is None else max(
        self.max_num_values, high)
    if not values:
      return
    if feature.dtype is spec_lib.DType.STRING:
      values = _as_strings(feature, values, types)
      self.total_length += len("".join(values).encode("utf-8"))
      if self.token_counts is not None:
        self.token_counts.update(values)
      return
    array = _as_numbers(feature, values)
    mean = float(array.mean())
    self._merge_numeric(_FeatureAccumulator(
        count=len(array), mean=mean, m2=float(((array - mean) ** 2).sum()),
        min=_as_python(array.min()), max=_as_python(array.max()),
        num_zeros=int((array == 0).sum())))

  def merge(self, other: _FeatureAccumulator) -> None:
    self.num_non_missing += other.num_non_missing
    self.num_missing += other.num_missing
    self.tot_num_values += other.tot_num_values
    for name, pick in (("min_num_values", min), ("max_num_values", max)):
      mine, theirs = getattr(self, name), getattr(other, name)
      setattr(self, name, theirs if mine is None else
              mine if theirs is None else pick(mine, theirs))
    self._merge_numeric(other)
    self.total_length += other.total_length
    if self.token_counts is not None and other.token_counts:
      self.token_counts.update(other.token_counts)

  def _merge_numeric(self, other: _FeatureAccumulator) -> None:
    if other.count == 0:
      return
    if self.count == 0:
      self.count, self.mean, self.m2 = other.count, other.mean, other.m2
      self.min, self.max = other.min, other.max
    else:
      count = self.count + other.count
      delta = other.mean - self.mean
      self.mean += delta * other.count / count
      self.m2 += other.m2 + delta * delta * self.count * other.count / count
      self.count = count
      self.min, self.max = min(self.min, other.min), max(self.max, other.max)
    self.num_zeros += other.num_zeros


_Accumulator = dict[str, _FeatureAccumulator]


class FeatureStatsCombineFn(beam.CombineFn):
  """Combines example dicts into one `DatasetFeatureStatistics` (without a name).

  An example maps every spec feature name to a scalar, or to a list for sequence
  features; a missing name or None counts as missing.
  """

  def __init__(self, spec: spec_lib.FeatureSpec):
    super().__init__()
    self._spec = spec
    self._names = tuple(spec.names)

  def create_accumulator(self) -> _Accumulator:
    return {
        f.name: _FeatureAccumulator(
            token_counts=Counter() if f.vocabulary is not None else None)
        for f in self._spec
    }

  def add_input(self, accumulator: _Accumulator,
                example: Mapping[str, Any]) -> _Accumulator:
    return self.add_inputs(accumulator, [example])

  def add_inputs(self, accumulator: _Accumulator,
                 examples: Iterable[Mapping[str, Any]]) -> _Accumulator:
    self._add_columns(accumulator,
                      example_columns.columns(self._names, list(examples)))
    return accumulator

  def _add_columns(self, accumulator: _Accumulator,
                   columns: list[Sequence[Any]]) -> None:
    """Adds a batch's values, one column per feature in spec order."""
    for feature, column in zip(self._spec, columns):
      accumulator[feature.name].add_column(feature, column)

  def merge_accumulators(self, accumulators: Iterable[_Accumulator]) -> _Accumulator:
    accumulators = iter(accumulators)
    merged = next(accumulators)
    for accumulator in accumulators:
      for name, feature_accumulator in accumulator.items():
        merged[name].merge(feature_accumulator)
    return merged

  def extract_output(self, accumulator: _Accumulator
                    ) -> statistics_pb2.DatasetFeatureStatistics:
    stats = statistics_pb2.DatasetFeatureStatistics()
    # Every example adds to every feature, present or missing.
    first = accumulator[self._spec.names[0]]
    stats.num_examples = first.num_non_missing + first.num_missing
    for feature in self._spec:
      _add_feature_stats(stats.features.add(), feature, accumulator[feature.name])
    return stats


def _flatten(feature: spec_lib.Feature, present: Sequence[Any], types: set[type]
             ) -> tuple[Sequence[Any], list[int] | None, set[type]]:
  """(all values, values per example or None when every example has one, the
  values' types), from the examples' values and their types."""
  is_list = [issubclass(t, (list, tuple)) for t in types]
  if feature.is_sequence:
    if not all(is_list):
      bad = next(v for v in present if not isinstance(v, (list, tuple)))
      raise ValueError(f"Sequence feature {feature.name!r} needs a list, got "
                       f"{bad!r}.")
    values = list(itertools.chain.from_iterable(present))
    return values, list(map(len, present)), set(map(type, values))
  if any(is_list):
    bad = next(v for v in present if isinstance(v, (list, tuple)))
    raise ValueError(f"Scalar feature {feature.name!r} got a list: {bad!r}.")
  return present, None, types


def _as_strings(feature: spec_lib.Feature, values: Sequence[Any], types: set[type]
                ) -> Sequence[str]:
  if types == {str}:
    return values  # The common case, checked without a per-value Python loop.
  values = [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
  for v in values:
    if not isinstance(v, str):
      raise ValueError(f"Feature {feature.name!r} of dtype {feature.dtype.value} got "
                       f"{v!r}.")
  return values


def _as_numbers(feature: spec_lib.Feature, values: list[Any]) -> np.ndarray:
  array = np.asarray(values)
  if array.dtype.kind not in "biuf":  # Bool, signed, unsigned, float.
    bad = next(v for v in values if isinstance(v, (str, bytes)) or v != v + 0)
    raise ValueError(f"Feature {feature.name!r} of dtype {feature.dtype.value} got "
                     f"{bad!r}.")
  return array.astype(np.float64)


def _as_python(value: np.floating) -> float | int:
  as_float = float(value)
  return int(as_float) if as_float.is_integer() else as_float


def _add_feature_stats(proto: statistics_pb2.FeatureNameStatistics,
                       feature: spec_lib.Feature, acc: _FeatureAccumulator) -> None:
  proto.path.step.append(feature.name)
  proto.type = _STATS_TYPES[feature.dtype]
  if feature.dtype is spec_lib.DType.STRING:
    string_stats = proto.string_stats
    common = string_stats.common_stats
    if acc.tot_num_values:
      string_stats.avg_length = acc.total_length / acc.tot_num_values
    if acc.token_counts is not None:
      string_stats.unique = len(acc.token_counts)
      # Ties broken by value so the output does not depend on merge order.
      for value, frequency in heapq.nsmallest(
          NUM_TOP_VALUES, acc.token_counts.items(), key=lambda kv: (-kv[1], kv[0])):
        string_stats.top_values.add(value=value, frequency=frequency)
  else:
    num_stats = proto.num_stats
    common = num_stats.common_stats
    if acc.count:
      num_stats.mean = acc.mean
      num_stats.std_dev = math.sqrt(max(acc.m2, 0.0) / acc.count)
      num_stats.min, num_stats.max = acc.min, acc.max
      num_stats.num_zeros = acc.num_zeros
  common.num_non_missing = acc.num_non_missing
  common.num_missing = acc.num_missing
  common.tot_num_values = acc.tot_num_values
  if acc.num_non_missing:
    common.min_num_values = acc.min_num_values
    common.max_num_values = acc.max_num_values
    common.avg_num_values = acc.tot_num_values / acc.num_non_missing


class _BatchAccumulateFn(FeatureStatsCombineFn):
  """The same accumulation over lists of examples, giving the accumulator itself: the
  statistics (`to_statistics`) and the vocabularies (`token_counts`) both read it.

  Each list is split into columns as it comes (`example_columns`; transposing a
  large pool of lists costs more per value) and the columns are pooled until
  `MIN_COLUMN_LENGTH` examples before they are added (see `add_column`): the join
  hands on one user's examples at a time, often a few dozen, and numpy's per-call
  cost would dominate columns that short. Its accumulator is (statistics, pooled
  columns); the pool is emptied before an accumulator leaves a worker (`compact`)
  or is read.
  """
  MIN_COLUMN_LENGTH = 1024

  def create_accumulator(self) -> tuple[_Accumulator, list[list[Any]]]:
    return super().create_accumulator(), [[] for _ in self._names]

  def add_input(self, accumulator, batch: list[Mapping[str, Any]]):
    _, pool = accumulator
    for pooled, column in zip(pool, example_columns.columns(self._names, batch)):
      pooled.extend(column)
    if len(pool[0]) >= self.MIN_COLUMN_LENGTH:
      self.compact(accumulator)
    return accumulator

  def add_inputs(self, accumulator, batches: Iterable[list[Mapping[str, Any]]]):
    for batch in batches:
      self.add_input(accumulator, batch)
    return accumulator

  def compact(self, accumulator):
    stats, pool = accumulator
    if pool[0]:
      self._add_columns(stats, pool)
      pool[:] = [[] for _ in pool]
    return accumulator

  def merge_accumulators(self, accumulators):
    merged = super().merge_accumulators(
        self.compact(accumulator)[0] for accumulator in accumulators)
    return merged, [[] for _ in self._names]

  def extract_output(self, accumulator) -> _Accumulator:
    return self.compact(accumulator)[0]


def to_statistics(accumulator: _Accumulator, spec: spec_lib.FeatureSpec,
                  name: str) -> statistics_pb2.DatasetFeatureStatistics:
  """A split's accumulator (`AccumulateStatistics`) -> its statistics, named `name`."""
  stats = FeatureStatsCombineFn(spec).extract_output(accumulator)
  stats.name = name
  return stats


def token_counts(accumulator: _Accumulator, feature_name: str) -> Counter[str]:
  """The exact count of every value of a vocabulary feature in the accumulator."""
  counts = accumulator[feature_name].token_counts
  if counts is None:
    raise ValueError(f"{feature_name!r} has no vocabulary, so its values are not "
                     "counted.")
  return counts


class AccumulateStatistics(beam.PTransform):
  """Lists of one split's example dicts (the join's are a user's each) -> the split's
  single accumulator (feature name -> running statistics, token counts included).

  An empty input gives an empty accumulator, whose `to_statistics` has
  `num_examples` 0, so every split has an entry.
  """

  def __init__(self, spec: spec_lib.FeatureSpec):
    super().__init__()
    self._spec = spec

  def expand(self, batches: beam.PCollection) -> beam.PCollection:
    return batches | "Combine" >> beam.CombineGlobally(_BatchAccumulateFn(self._spec))


def write_statistics(stats_list: statistics_pb2.DatasetFeatureStatisticsList,
                     path: str) -> None:
  """Writes `stats_list` as a binary proto (`stats.pb`), or as text if path ends `.pbtxt`.

  The binary form is what `tfdv.load_stats_binary` reads; text is for people.
  """
  if path.endswith(".pbtxt"):
    payload = text_format.MessageToString(stats_list).encode("utf-8")
  else:
    payload = stats_list.SerializeToString()
  with FileSystems.create(path) as f:
    f.write(payload)


def read_statistics(path: str) -> statistics_pb2.DatasetFeatureStatisticsList:
  """Reads statistics written by `write_statistics` (binary, or text for `.pbtxt`)."""
  stats_list = statistics_pb2.DatasetFeatureStatisticsList()
  with FileSystems.open(path) as f:
    payload = f.read()
  if path.endswith(".pbtxt"):
    return text_format.Parse(payload.decode("utf-8"), stats_list)
  stats_list.ParseFromString(payload)
  return stats_list
