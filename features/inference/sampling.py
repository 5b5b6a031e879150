"""Reading a sample of the raw logs: what every key held, by JSON type.

The first lines of each log (files in name order) are read once; a line that is not a
JSON object is skipped and counted (`LogSample`), not sent to a dead letter. Per line
the work is one `json.loads` and a list append per key; the counting happens in
batches, in C (`collections.Counter`), which keeps 1M impressions within the
`spec.infer_s_1m` goal. No TensorFlow: files go through Beam's FileSystems, so gs://
works.
"""

from __future__ import annotations

import array
import collections
import dataclasses
import json
import math
from typing import Any, Iterator

from apache_beam.io.filesystems import FileSystems
import numpy as np

from features import log_files
from features.log_contract import (EVENT, IMPRESSION_ID, IMPRESSION_SCOPE,
                                   LOGGED_OBJECTS, TS_MS, USER_ID)

# Past this many distinct values a key's exact counting stops (reported as ">100k"):
# an id space that large wants hashing more than an exact vocabulary size.
DISTINCT_CAP = 100_000
# Lines whose values are held before they are counted, in C, a key at a time.
_BATCH_RECORDS = 65_536
# Objects nested deeper than this under `user` / `item` are not walked (a record is
# not a document store; a spec names a few levels at most).
MAX_DEPTH = 8
NESTED = LOGGED_OBJECTS  # The impression's objects whose keys are features.
_EVENT_KEYS = {IMPRESSION_ID, TS_MS, EVENT}  # Every detail line's; not fields.

Path = tuple[str, ...]  # ("impression", field), or (object, key, key...).


@dataclasses.dataclass
class LogSample:
  """What was read of one log."""
  pattern: str
  files: int = 0  # Matched by the pattern.
  files_read: int = 0
  lines: int = 0
  skipped: int = 0  # Not a JSON object (or, on detail pages, without an `event`).
  first_skipped: str = ""  # "path line N", for the header.

  def skip(self, path: str, line_number: int) -> None:
    self.skipped += 1
    self.first_skipped = self.first_skipped or f"{path} line {line_number}"

  def describe(self) -> str:
    files = (f"all {self.files} files" if self.files_read == self.files
             else f"{self.files_read} of {self.files} files")
    text = f"{self.lines:,} lines of {self.pattern} ({files}), {self.skipped:,} skipped"
    if self.skipped:
      text += f" (the first: {self.first_skipped})"
    return text


_CATEGORY_TYPES = (str, int, bool, type(None))  # None and "" are dropped once counted.


def _token(value: Any) -> Any:
  """A boolean as the token the job reads it as; other values as they are."""
  return ("true" if value else "false") if type(value) is bool else value


def _as_double(value: int | float) -> float:
  try:
    return float(value)
  except OverflowError:  # An integer past what a double holds: not a usable number.
    return math.inf


class ValueStats:
  """What one key held over the sample, by JSON type, a batch of raw values at a time.

  Each type is counted apart because the job reads each differently: null and "" are
  missing values, a string is a category (a dead letter under a numeric feature), a
  boolean is the category "true" or "false", an object holds keys of its own.
  """

  def __init__(self):
    self.nulls = 0
    self.empties = 0  # "".
    self.strings = 0  # Non-empty.
    self.ints = 0
    self.floats = 0  # Finite or not (`Range` tells them apart).
    self.bools = 0
    self.objects = 0
    self.lists = 0
    # Of the strings, integers and booleans: exact until capped.
    self.counts: collections.Counter = collections.Counter()
    self.capped = False
    self.numbers = array.array("d")  # Every int and float, in sample order.

  def absorb(self, values: list[Any]) -> list[dict]:
    """Counts `values`; returns those that are objects, whose keys the caller walks."""
    types = collections.Counter(map(type, values))
    empties = values.count("") if types[str] else 0
    self.nulls += types[type(None)]
    self.empties += empties
    self.strings += types[str] - empties
    self.ints += types[int]
    self.floats += types[float]
    self.bools += types[bool]
    self.objects += types[dict]
    self.lists += types[list]
    numeric = types[int] + types[float]
    if numeric:
      numbers = values if numeric == len(values) else [
          v for v in values if type(v) is int or type(v) is float]
      size = len(self.numbers)
      try:
        self.numbers.extend(numbers)
      except OverflowError:
        del self.numbers[size:]
        self.numbers.extend(map(_as_double, numbers))
    if not self.capped and types[str] + types[int] + types[bool]:
      # The categories a categorical feature would read; True == 1 in a Counter, so
      # booleans are counted as their tokens.
      hashable = values if not (types[float] or types[bool] or types[dict]
                                or types[list]) else [
          _token(v) for v in values if type(v) in _CATEGORY_TYPES]
      batch = collections.Counter(hashable)
      batch.pop(None, None)
      batch.pop("", None)
      self.counts.update(batch)
      self.capped = len(self.counts) > DISTINCT_CAP
    return [v for v in values if type(v) is dict] if types[dict] else []

  @property
  def seen(self) -> int:
    """Values, whatever they are (the key was there)."""
    return self.nulls + self.empties + self.carried

  @property
  def carried(self) -> int:
    """Values that are neither null nor ""."""
    return (self.strings + self.ints + self.floats + self.bools + self.objects
            + self.lists)

  @property
  def categories(self) -> int:
    """Values a categorical feature reads: strings, integers, booleans."""
    return self.strings + self.ints + self.bools

  def distinct_text(self) -> str:
    return f">{DISTINCT_CAP // 1000}k" if self.capped else f"{len(self.counts):,}"

  def distinct_ints(self) -> int:
    return sum(1 for value in self.counts if type(value) is int)

  def singletons(self) -> int:
    return sum(1 for n in self.counts.values() if n == 1)



def percent(part: int, whole: int) -> str:
  """Like "3 of 1,000 (0.3%)"; a share that rounds to 0% or 100% but is not says so."""
  if not whole:
    return f"{part:,}"
  share = f"{part / whole:.1%}"
  if 0 < part < whole and share in ("0.0%", "100.0%"):
    share = "<0.1%" if share == "0.0%" else ">99.9%"
  return f"{part:,} of {whole:,} ({share})"



def _lines(pattern: str, flag: str, limit: int, sample: LogSample
           ) -> Iterator[tuple[str, int, Any]]:
  """(path, line number, parsed JSON or None) for the first `limit` lines overall."""
  paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
  if not paths:
    raise ValueError(f"--{flag}={pattern!r} matches no file.")
  sample.files = len(paths)
  for path in paths:
    if sample.lines >= limit:
      return
    sample.files_read += 1
    for number, line in enumerate(log_files.read_lines(path), 1):
      if sample.lines >= limit:
        return
      sample.lines += 1
      yield path, number, _parse(line)


_RAW_DECODE = json.JSONDecoder().raw_decode


def _parse(line: bytes) -> Any:
  """json.loads(line), or None for a line that is not UTF-8 JSON; a line without
  padding (the usual one) skips json.loads' two whitespace scans."""
  try:
    text = line.decode("utf-8")
    if text[:1] == "{" and text[-1:] == "}":
      value, end = _RAW_DECODE(text)
      if end == len(text):
        return value
    return json.loads(text)
  except (ValueError, RecursionError):  # Unicode and JSON errors are ValueErrors.
    return None


class ImpressionSample:
  """The values of every top-level field and `user.` / `item.` key, by path."""

  def __init__(self):
    self.records = 0
    self.stats: dict[Path, ValueStats] = collections.defaultdict(ValueStats)
    self.objects: collections.Counter = collections.Counter()  # user/item: records
    # Per sampled record, for the measures (`Measures`): its impression id, user id
    # and time as logged, and each item key's category code.
    self.ids: list[Any] = []
    self.users: list[Any] = []
    self.times: list[Any] = []
    self.item_codes: dict[Path, Codes] = collections.defaultdict(Codes)

  def read(self, pattern: str, limit: int) -> LogSample:
    sample = LogSample(pattern)
    # Values by key until the batch is counted: one append per value, in the loop
    # that has the record at hand (keyed by the raw key: no string built per value).
    top: dict[str, list] = collections.defaultdict(list)
    nested = {obj: collections.defaultdict(list) for obj in NESTED}
    item_rows: dict[str, list] = collections.defaultdict(list)  # Of nested["item"].
    objects = self.objects
    ids, users, times = self.ids, self.users, self.times
    for path, number, record in _lines(pattern, "impressions", limit, sample):
      if type(record) is not dict:
        sample.skip(path, number)
        continue
      row = self.records
      self.records += 1
      ids.append(record.get(IMPRESSION_ID))
      users.append(record.get(USER_ID))
      times.append(record.get(TS_MS))
      for key, value in record.items():
        bucket = nested.get(key)
        if bucket is None:
          top[key].append(value)
        elif type(value) is dict:
          objects[key] += 1
          for sub, v in value.items():
            bucket[sub].append(v)
          if key == "item":
            for sub in value:
              item_rows[sub].append(row)
      if self.records % _BATCH_RECORDS == 0:
        self._absorb(top, nested, item_rows)
    self._absorb(top, nested, item_rows)
    return sample

  def _absorb(self, top: dict[str, list], nested: dict[str, dict[str, list]],
              item_rows: dict[str, list]) -> None:
    for obj, pending in [(IMPRESSION_SCOPE, top), *nested.items()]:
      for key, values in pending.items():
        self._absorb_path((obj, key), values, walk=obj != IMPRESSION_SCOPE,
                          rows=item_rows[key] if obj == "item" else None)
      pending.clear()
    item_rows.clear()

  def _absorb_path(self, path: Path, values: list[Any], walk: bool,
                   rows: list[int] | None = None) -> None:
    """Counts `values` at `path`, then (under user / item) the keys of its objects;
    under item, codes them by record (`rows`: each value's record)."""
    stats = self.stats[path]
    strings = stats.strings + stats.empties
    objects = stats.absorb(values)
    if rows is not None:
      self.item_codes[path].absorb(
          values, rows, stats.strings + stats.empties - strings == len(values))
    if not (objects and walk and len(path) < MAX_DEPTH):
      return
    children: dict[str, list] = collections.defaultdict(list)
    child_rows: dict[str, list] = collections.defaultdict(list)
    object_rows = (None if rows is None else
                   [r for v, r in zip(values, rows) if type(v) is dict])
    for n, obj in enumerate(objects):
      for key, value in obj.items():
        children[key].append(value)
        if object_rows is not None:
          child_rows[key].append(object_rows[n])
    for key, child_values in children.items():
      self._absorb_path((*path, key), child_values, walk,
                        None if rows is None else child_rows[key])


class DetailSample:
  """Lines per event type, and the values of each of its fields."""

  def __init__(self):
    self.lines: collections.Counter = collections.Counter()
    self.fields: dict[str, dict[str, ValueStats]] = collections.defaultdict(
        lambda: collections.defaultdict(ValueStats))
    # Per kept line, for the measures: its impression id, time and event, and each
    # field's finite numbers by line.
    self.ids: list[Any] = []
    self.times: list[Any] = []
    self.events: list[str] = []
    self.numbers: dict[tuple[str, str], tuple[array.array, array.array]] = (
        collections.defaultdict(lambda: (array.array("q"), array.array("d"))))

  def read(self, pattern: str, limit: int) -> LogSample:
    sample = LogSample(pattern)
    pending: dict[tuple[str, str], list] = collections.defaultdict(list)
    for path, number, record in _lines(pattern, "detail_pages", limit, sample):
      event = record.get(EVENT) if type(record) is dict else None
      if type(event) is not str or not event:
        sample.skip(path, number)
        continue
      self.lines[event] += 1
      line = len(self.events)
      self.ids.append(record.get(IMPRESSION_ID))
      self.times.append(record.get(TS_MS))
      self.events.append(event)
      for key, value in record.items():
        if key not in _EVENT_KEYS:
          pending[event, key].append(value)
          number = (_as_double(value) if type(value) is int or type(value) is float
                    else math.nan)
          if math.isfinite(number):
            lines, numbers = self.numbers[event, key]
            lines.append(line)
            numbers.append(number)
      if sample.lines % _BATCH_RECORDS == 0:
        self._absorb(pending)
    self._absorb(pending)
    return sample

  def _absorb(self, pending: dict[tuple[str, str], list]) -> None:
    for (event, key), values in pending.items():
      self.fields[event][key].absorb(values)
    pending.clear()


class ClickSample:
  """The impression id and time of each sampled click line."""

  def __init__(self):
    self.ids: list[Any] = []
    self.times: list[Any] = []

  def read(self, pattern: str, limit: int) -> LogSample:
    sample = LogSample(pattern)
    for path, number, record in _lines(pattern, "clicks", limit, sample):
      if type(record) is not dict:
        sample.skip(path, number)
        continue
      self.ids.append(record.get(IMPRESSION_ID))
      self.times.append(record.get(TS_MS))
    return sample


class Codes:
  """One item key's categories as integer codes, by sampled record: what the cross
  and history measure reads (`Measures.lift`). Coding stops past DISTINCT_CAP
  values (such a key is no cross candidate)."""

  def __init__(self):
    self.index: collections.defaultdict = collections.defaultdict()
    self.index.default_factory = self.index.__len__  # A new value: the next code.
    self.codes: list[np.ndarray] = []
    self.rows: list[np.ndarray] = []
    self.capped = False

  def absorb(self, values: list[Any], rows: list[int], strings: bool) -> None:
    """`values` of records `rows`; `strings`: every value is a string."""
    if self.capped:
      return
    if not strings:  # Read as the job reads them.
      values = [v if type(v) is str else _token(v) if type(v) in _CATEGORY_TYPES
                else None for v in values]
    self.codes.append(np.fromiter(map(self.index.__getitem__, values), np.int64,
                                  len(values)))
    self.rows.append(np.asarray(rows, np.int64))
    if len(self.index) > DISTINCT_CAP + 2:  # (None and "" take a code each.)
      self.capped, self.codes, self.rows = True, [], []

  def by_record(self, records: int) -> np.ndarray:
    """[records] int64: each record's code, -1 where it lacks a category."""
    out = np.full(records, -1, np.int64)
    if self.capped or not self.codes:
      return out
    out[np.concatenate(self.rows)] = np.concatenate(self.codes)
    for missing in (None, ""):
      code = self.index.get(missing)
      if code is not None:
        out[out == code] = -1
    return out

