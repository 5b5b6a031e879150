"""A user-state snapshot: what the next day's join needs of every earlier day.

The history and cross features read only a user's counted clicks, each as (click
ts, the clicked impression's `HistoryRules.attributes`). An impression of day D at
ts sees the newest `max_length` clicks before ts and counts the clicks in
[ts - window, ts). So the snapshot at `boundary_ms` = start(D) keeps, per user,

* the newest `max_length` (the longest sequence's) clicks before the boundary, and
* every click at or after `boundary_ms - window_ms` (the longest cross window's),
  which includes the clicks of earlier impressions landing on day D or later,

and then every day-D impression's history and crosses are those of a full join
(`prune`). Day D's snapshot is `prune(D-1's snapshot + D's clicks, start(D + 1))`.

On disk, `<dataset>/user_state/`: Parquet shards of one row per click (`user_id`,
`click_ts_ms`, one string column per attribute) and `state.json` (the boundary and
the rules it was pruned with, checked by the next run).
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from typing import Iterable, Sequence

import apache_beam as beam
from apache_beam.io import parquetio
from apache_beam.io.filesystems import FileSystems
import pyarrow as pa
from pyarrow import parquet

from features import run_report
from pipelines import day_window
from pipelines import user_history
from pipelines import wire
from pipelines.user_history import HistoryClick

STATE_DIR = "user_state"
INFO_FILE = "state.json"
_SHARDS = "state"
_USER, _TS = "user_id", "click_ts_ms"


@dataclasses.dataclass(frozen=True)
class SnapshotRules:
  """What a snapshot keeps (module docstring).

  Attributes:
    attributes: The click attributes, in `HistoryRules.attributes` order.
    max_length: Newest clicks kept before the boundary.
    window_ms: Clicks kept from this long before the boundary on.
  """
  attributes: tuple[str, ...]
  max_length: int
  window_ms: int

  @classmethod
  def from_history(cls, rules: user_history.HistoryRules) -> SnapshotRules:
    return cls(attributes=rules.attributes,
               max_length=max((n for _, n in rules.sequences), default=0),
               window_ms=max((w for _, w in rules.crosses), default=0))

  def covers(self, needed: SnapshotRules) -> bool:
    """Whether a snapshot pruned by these rules holds what `needed` reads."""
    return (self.attributes == needed.attributes
            and self.max_length >= needed.max_length
            and self.window_ms >= needed.window_ms)


def prune(clicks: Iterable[HistoryClick], boundary_ms: int, rules: SnapshotRules
          ) -> list[HistoryClick]:
  """The clicks a snapshot at `boundary_ms` keeps, in the history's order.

  Ties at the `max_length` cut follow `user_history`'s order of clicks (ts, then
  attributes), so the kept clicks are exactly those the history would show.
  """
  ordered = sorted(clicks)
  before = sum(1 for c in ordered if c.ts_ms < boundary_ms)
  first_newest = before - rules.max_length
  window_start = boundary_ms - rules.window_ms
  return [c for i, c in enumerate(ordered)
          if i >= first_newest or c.ts_ms >= window_start]


def write_info(directory: str, boundary_ms: int, rules: SnapshotRules) -> None:
  """`state.json`: the snapshot's boundary, the day it ends, and its rules."""
  date = run_report.utc_day(boundary_ms - day_window.DAY_MS)
  with FileSystems.create(posixpath.join(directory, INFO_FILE)) as f:
    f.write(json.dumps({"date": date, "boundary_ms": boundary_ms,
                        **dataclasses.asdict(rules)}, indent=2).encode("utf-8"))


def check_info(directory: str, window: day_window.DayWindow,
               needed: SnapshotRules) -> None:
  """Refuses a snapshot that is not the day before `window`'s or that the spec's
  history reads beyond.

  Raises:
    ValueError: naming the snapshot, what it holds and what the run needs.
  """
  path = posixpath.join(directory, INFO_FILE)
  if not FileSystems.exists(path):
    raise ValueError(f"--state_from: {path} does not exist; pass a dataset that "
                     "pipelines.join_logs --date (or a full join with --write_state) "
                     "published.")
  with FileSystems.open(path) as f:
    info = json.load(f)
  if info["boundary_ms"] != window.start_ms:
    raise ValueError(
        f"--state_from: {path} is the state after {info['date']}, but --date="
        f"{window.date} needs the state after {window.previous_date()}.")
  held = SnapshotRules(tuple(info["attributes"]), info["max_length"],
                       info["window_ms"])
  if not held.covers(needed):
    raise ValueError(
        f"--state_from: {path} keeps {held}, but the feature spec's history and "
        f"cross features read {needed}; rebuild the state with a full join "
        "(a backfill) under this spec.")


def _schema(rules: SnapshotRules) -> pa.Schema:
  return pa.schema([(_USER, pa.string()), (_TS, pa.int64()),
                    *((a, pa.string()) for a in rules.attributes)])


def _to_table(rows: Sequence[tuple], schema: pa.Schema) -> pa.Table:
  """Rows (user, click ts_ms, attributes) -> one Arrow table of `schema`."""
  columns = [[row[0] for row in rows], [row[1] for row in rows]]
  columns += [[row[2][i] for row in rows] for i in range(len(schema.names) - 2)]
  return pa.Table.from_arrays(
      [pa.array(c, type=t) for c, t in zip(columns, schema.types)], schema=schema)


class WriteState(beam.PTransform):
  """Lists of snapshot rows (user, click ts_ms, attributes) -> Parquet shards under
  `directory`."""

  def __init__(self, directory: str, rules: SnapshotRules):
    super().__init__()
    self._directory = directory
    self._schema = _schema(rules)

  def expand(self, row_lists):
    return (row_lists
            | "ToTable" >> beam.Map(_to_table, self._schema)
            | "WriteParquet" >> parquetio.WriteToParquetBatched(
                posixpath.join(self._directory, _SHARDS), self._schema,
                file_name_suffix=".parquet"))


@beam.typehints.with_input_types(str)
@beam.typehints.with_output_types(tuple[int, wire.WireBatch])
class ReadStateFileFn(beam.DoFn):
  """A snapshot shard -> (user bucket, `wire.state_batch_to_wire` of its rows)."""

  def __init__(self, rules: SnapshotRules, buckets: int):
    super().__init__()
    self._columns = [_USER, _TS, *rules.attributes]
    self._buckets = buckets

  def process(self, path: str):
    with FileSystems.open(path) as f:
      table = parquet.read_table(f, columns=self._columns)
    users, timestamps, *attributes = (table.column(c).to_pylist()
                                      for c in self._columns)
    batches = wire.Batches(wire.state_batch_to_wire)
    rows = zip(users, timestamps, zip(*attributes) if attributes else [()] * len(users))
    yield from batches.extend(wire.buckets(users, self._buckets), rows)
    yield from batches.drain()


class ReadState(beam.PTransform):
  """A snapshot directory -> its rows as state batches keyed by user bucket (none
  for `directory` None: the first day starts from an empty state)."""

  def __init__(self, directory: str | None, rules: SnapshotRules, buckets: int):
    super().__init__()
    self._directory = directory
    self._rules = rules
    self._buckets = buckets

  def expand(self, pbegin):
    files = []
    if self._directory is not None:
      pattern = posixpath.join(self._directory, f"{_SHARDS}*.parquet")
      files = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    return (pbegin
            | "StateFiles" >> beam.Create(files)
            | "ReadStateFile" >> beam.ParDo(ReadStateFileFn(self._rules,
                                                            self._buckets)))
