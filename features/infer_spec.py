r"""Proposes a feature spec from a sample of the raw logs, for a person to edit.

  python -m features.infer_spec --impressions='raw/impressions/*' \
      --detail_pages='raw/detail_pages/*' --output=spec.yaml [--clicks='raw/clicks/*'] \
      [--sample_lines=1000000] [--min_well_typed_fraction=0.99] [--label_event=NAME]

Reads the first `--sample_lines` lines of each log (files in name order) and counts,
by JSON type, what every top-level impression field and every `user.<key>` /
`item.<key>` holds (at any depth: `user.geo.country`), and which detail-page event
types carry which numeric fields. From that it writes a version-2 spec
(features/spec.py) whose every entry carries a comment: what the sample showed and
why it is proposed so. The file loads with `features.spec.load_spec_file`, so the
join job can read it as written.

Logs are dirty: a field is proposed when the job would read at least
`--min_well_typed_fraction` of its sampled values (of every sampled record, for a
top-level field the job requires on each line), and its comment counts the others,
which the job sends to the dead letter. Bounds leave room for values the sample
missed (`_proposed_bounds`), so an unusual value is an example, not a dead letter.

Choices are measured on the sample, the logs joined by impression id (`_Measures`;
without --clicks, an impression with a detail page counts as clicked): the item
attributes of the histories and crosses by how much "the user clicked this value
before" tells about the click (`_Lift`), not by their number of values; the
conversion label among events with enough positives (MIN_LABEL_POSITIVES); each
post-event aggregate with its univariate AUC against the label, one that nearly
determines it proposed as a leak, excluded (LEAK_AUC). The header and each entry's
comment give the figures.

A sample, not the job: a line that is not a JSON object is skipped and counted in the
file's header, not sent to a dead letter. Per line the work is one `json.loads` and a
list append per key; the counting happens in batches, in C (`collections.Counter`),
which keeps 1M impressions within the `spec.infer_s_1m` goal. No TensorFlow: files go
through Beam's FileSystems, so gs:// works.
"""

from __future__ import annotations

import array
import collections
import dataclasses
import itertools
import json
import math
import re
import textwrap
from typing import Any, Callable, Iterator, Sequence

from apache_beam.io.filesystems import FileSystems
import numpy as np
import yaml

import cli
import config_flags
from config_flags import knob
from features import spec as spec_lib
from features import log_files

DEFAULT_SAMPLE_LINES = 1_000_000
# A field is proposed when the job would read this share of its sampled values; the
# rest are dead letters. Logs carry a little garbage: a stricter bar drops the
# strongest fields for a few broken lines.
DEFAULT_MIN_WELL_TYPED_FRACTION = 0.99
# Past this many distinct values a key's exact counting stops (reported as ">100k"):
# an id space that large wants hashing more than an exact vocabulary size.
DISTINCT_CAP = 100_000
# An integer key with at most this many distinct values is a code (city_tier 1/2/3),
# not a quantity.
MAX_CODES = 20
# min_count 2 for an id space this large where this share of the values is seen once:
# a token seen once trains an embedding row on one example, which is noise.
MIN_COUNT_DISTINCT = 1_000
MIN_COUNT_SINGLETON_SHARE = 0.1
# Item attributes whose click history and clicks-sharing counts are proposed are
# chosen by a measure on the sample (`_Measures.lift`): how much "the user clicked
# this value before" tells about the click. Kept: a lift above 1 that a G-test finds
# at p < 0.001 (G, chi-squared with 1 degree of freedom, at or above this) and that
# within users is not reversed beyond chance (a Mantel-Haenszel odds ratio below 1
# at p < 0.05: the pooled lift is then the users' activity, an active user having
# clicked every coarse value before); the CROSSES of most mutual information.
LIFT_G_CRITICAL = 10.83
WITHIN_CHI2_CRITICAL = 3.84
CROSSES = 2
# Without a measured one (no click in the sample, or no attribute passes), a coarse
# and a fine one by their number of values, as before the measure.
GROUPING_DISTINCT = (3, 10_000)
# A conversion label needs positives to learn from and to evaluate on: an event is a
# candidate when it follows at least this many sampled clicks or this share of them
# (on fewer, a CVR task's eval AUC is noise: KuaiRand's `forward`, 179 positives).
MIN_LABEL_POSITIVES = 1_000
MIN_LABEL_SHARE = 0.01
# Among candidates: named like a conversion (in the name), else an engagement (the
# whole name: `comment_page` is a page, `comment` the reaction), the most positives of
# the tier, else the rarest on at most this share of the clicks (an event on most
# clicks, the detail view itself, is the click again). Rare events so named are
# declared however rare (not read as garbage).
CONVERSION_NAMES = re.compile(r"purchase|order|buy|pay|convert|checkout")
ENGAGEMENT_NAMES = re.compile(r"(is_)?(like|favou?rite|follow|subscribe|share|forward|"
                              r"comment|collect|save|star)(s|d|ed)?")
MAX_LABEL_SHARE = 0.5
# A post-event aggregate whose univariate AUC against its label is this far from 0.5
# (either way) nearly determines the label: a teacher that sees it reads the label off
# it ("teacher cheating") and teaches the student nothing it can use; too predictive
# a privileged feature makes a worse teacher (Yang et al., "Toward Understanding
# Privileged Features Distillation in Learning-to-Rank", NeurIPS 2022; ByteDance's
# HA-PFD, KDD 2025). Proposed excluded from every task, the reason in its comment.
LEAK_AUC = 0.98
# ... judged only on this many sampled positives and negatives each: on fewer, an AUC
# of 1 is chance.
MIN_LEAK_EVIDENCE = 30
# A bound is the power of ten at or above this multiple of the largest magnitude
# sampled: a value outside it dead-letters the whole impression, so it is there to
# catch garbage (a unit bug, an overflow), not what a sample of one period missed.
BOUNDS_HEADROOM = 10
# What the dtype stores: float32 tops out near 3.4e38, int64 near 9.2e18.
_DTYPE_CEILING = {spec_lib.DType.FLOAT32: 10 ** 38, spec_lib.DType.INT64: 10 ** 18}
CLICK_WINDOW = "30m"
ATTRIBUTION_WINDOW = "24h"
CROSS_WINDOW = "24h"
HISTORY_LENGTH = 50
# For an id space past DISTINCT_CAP: a few buckets per id seen keeps collisions rare.
_HASH_BINS = 1 << math.ceil(math.log2(4 * DISTINCT_CAP))

# Lines whose values are held before they are counted, in C, a key at a time.
_BATCH_RECORDS = 65_536
_WIDTH = 88  # Of the written file's lines.
# Objects nested deeper than this under `user` / `item` are not walked (a record is
# not a document store; a spec names a few levels at most).
_MAX_DEPTH = 8
_NESTED = ("user", "item")  # The impression's objects whose keys are features.
_METADATA = {"impression_id": spec_lib.DType.STRING,
             "request_id": spec_lib.DType.STRING, "ts_ms": spec_lib.DType.INT64}
_IDENTITY = {"user": "user_id", "item": "item_id"}
_REQUEST = "request_id"  # The metadata key that groups a request's impressions.
_POSITION = "position"
_EVENT_KEYS = {"impression_id", "ts_ms", "event"}  # Every detail line's; not fields.

Path = tuple[str, ...]  # ("impression", field), or (object, key, key...).


def _policy(min_share: float) -> list[str]:
  """The header's statement of the rules every entry follows."""
  return [
      f"Dirty logs: a field is proposed when the job reads at least {min_share:.1%} "
      "of its sampled values (of every sampled record for a top-level field, which "
      "the job requires on each line; of the lines of its event for a required "
      "event field); its comment counts the others, which the job sends to the dead "
      "letter (--min_well_typed_fraction).",
      f"Numeric bounds: [0, C], or [-C, C] when over {1 - min_share:.1%} of the "
      f"sampled numbers are negative; C is the power of ten at or above "
      f"{BOUNDS_HEADROOM} x the largest magnitude sampled. A value outside "
      "dead-letters the whole line, so bounds catch garbage (a unit bug, an "
      "overflow), not a position or a price the sample happened to miss. A numeric "
      "default is the sample's median, so a record lacking the value looks typical."]


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


class _ValueStats:
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
    self.floats = 0  # Finite or not (`_Range` tells them apart).
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


@dataclasses.dataclass(frozen=True)
class _Range:
  """The numbers of a key, summarised, with the bounds and default proposed."""
  low: float  # Of the finite sampled numbers.
  high: float
  median: float  # Of those within `bounds`.
  p999: float
  non_finite: int
  integral: bool  # No finite float among them.
  bounds: tuple[int | float, int | float]
  inside: int  # Finite numbers within `bounds`: what the job reads.
  outside: int  # Finite numbers outside `bounds`: dead letters.

  @classmethod
  def of(cls, stats: _ValueStats, min_share: float) -> _Range | None:
    numbers = np.frombuffer(stats.numbers, dtype=np.float64)
    finite = numbers[np.isfinite(numbers)]
    if not finite.size:
      return None
    non_finite = int(numbers.size - finite.size)
    integral = stats.floats <= non_finite
    bounds = _proposed_bounds(finite, integral, min_share)
    inside = finite[(finite >= bounds[0]) & (finite <= bounds[1])]
    median = float(np.median(inside if inside.size else finite))
    return cls(float(finite.min()), float(finite.max()), median,
               float(np.quantile(finite, 0.999)), non_finite, integral, bounds,
               int(inside.size), int(finite.size - inside.size))

  @property
  def dtype(self) -> spec_lib.DType:
    return spec_lib.DType.INT64 if self.integral else spec_lib.DType.FLOAT32

  @property
  def default(self) -> float | int:
    rounded = _round_sig(self.median, round)
    return int(rounded) if self.integral else rounded

  def describe(self) -> str:
    return (f"range [{_fmt(self.low)}, {_fmt(self.high)}], median {_fmt(self.median)}, "
            f"p99.9 {_fmt(self.p999)}")


def _proposed_bounds(finite: np.ndarray, integral: bool, min_share: float
                     ) -> tuple[int | float, int | float]:
  """The bounds policy, in one place (the header states it: `_policy`).

  [0, C], or [-C, C] for a field whose sampled numbers are negative beyond the share
  that may be garbage; C is the power of ten at or above BOUNDS_HEADROOM x the
  largest magnitude within, at least BOUNDS_HEADROOM: no well-signed sampled value
  falls outside, and a later one an order of magnitude past the sample still fits.

  Args:
    finite: [n] float64, n > 0: the sample's finite numbers.
    integral: the bounds of an int64 field are integers.
    min_share: the share of values that must be read for a field to be proposed.
  """
  signed = np.count_nonzero(finite < 0) > (1 - min_share) * finite.size
  kept = finite if signed else finite[finite >= 0]
  magnitude = max(float(np.abs(kept).max()) if kept.size else 0.0, 1.0)
  dtype = spec_lib.DType.INT64 if integral else spec_lib.DType.FLOAT32
  ceiling = min(10 ** math.ceil(math.log10(BOUNDS_HEADROOM * magnitude)),
                _DTYPE_CEILING[dtype])
  ceiling = ceiling if integral else float(ceiling)
  return (-ceiling if signed else 0 if integral else 0.0, ceiling)


def _round_sig(x: float, rounding: Callable[[float], float], digits: int = 2) -> float:
  """x to `digits` significant digits, rounded by `rounding`: values people can read."""
  if x == 0:
    return 0.0
  exponent = math.floor(math.log10(abs(x))) - digits + 1
  # Through the decimal text, so that 1.3 is 1.3 and not 13 * 0.1.
  return float(f"{int(rounding(x / 10.0 ** exponent))}e{exponent}")


def _fmt(x: float) -> str:
  return f"{x:,.0f}" if abs(x) >= 1000 or float(x).is_integer() else f"{x:.4g}"


def _percent(part: int, whole: int) -> str:
  """Like "3 of 1,000 (0.3%)"; a share that rounds to 0% or 100% but is not says so."""
  if not whole:
    return f"{part:,}"
  share = f"{part / whole:.1%}"
  if 0 < part < whole and share in ("0.0%", "100.0%"):
    share = "<0.1%" if share == "0.0%" else ">99.9%"
  return f"{part:,} of {whole:,} ({share})"


@dataclasses.dataclass(frozen=True)
class _Reading:
  """What the job would make of one key's sampled values, read as one proposal.

  Attributes:
    read: Values the job reads as the feature.
    of: What the share is of: the sampled records (a top-level field), the records
      that carry the key (user / item keys: a record lacking it takes the default),
      the lines of an event (a required event field) or those that carry it.
    dead: What the others are -> how many; each is a dead letter at join time.
    what: "sampled records", "sampled records that carry it", "... lines".
  """
  read: int
  of: int
  dead: dict[str, int]
  what: str

  def enough(self, min_share: float) -> bool:
    return self.of > 0 and self.read >= min_share * self.of

  def comment(self) -> list[str]:
    """For an entry's comment: what the job dead-letters, if anything."""
    return [self.describe()] if any(self.dead.values()) else []

  def describe(self) -> str:
    text = f"Read on {_percent(self.read, self.of)} {self.what}"
    dead = {what: n for what, n in self.dead.items() if n}
    if not dead:
      return text + "."
    parts = ", ".join(f"{n:,} {what}" for what, n in dead.items())
    n = sum(dead.values())
    verb = "is a dead letter" if n == 1 else "are dead letters"
    return f"{text}; the other {n:,} {verb} at join time ({parts})."


def _categorical_dead(stats: _ValueStats, numbers: _Range | None) -> dict[str, int]:
  non_finite = numbers.non_finite if numbers else 0
  return {"numbers with a fraction": max(stats.floats - non_finite, 0),
          "non-finite numbers": non_finite,
          "objects or lists": stats.objects + stats.lists}


def _numeric_dead(stats: _ValueStats, numbers: _Range) -> dict[str, int]:
  low, high = numbers.bounds
  return {"strings": stats.strings, "booleans": stats.bools,
          "objects or lists": stats.objects + stats.lists,
          "non-finite numbers": numbers.non_finite,
          f"outside [{low}, {high}]": numbers.outside}


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


class _ImpressionSample:
  """The values of every top-level field and `user.` / `item.` key, by path."""

  def __init__(self):
    self.records = 0
    self.stats: dict[Path, _ValueStats] = collections.defaultdict(_ValueStats)
    self.objects: collections.Counter = collections.Counter()  # user/item: records
    # Per sampled record, for the measures (`_Measures`): its impression id, user id
    # and time as logged, and each item key's category code.
    self.ids: list[Any] = []
    self.users: list[Any] = []
    self.times: list[Any] = []
    self.item_codes: dict[Path, _Codes] = collections.defaultdict(_Codes)

  def read(self, pattern: str, limit: int) -> LogSample:
    sample = LogSample(pattern)
    # Values by key until the batch is counted: one append per value, in the loop
    # that has the record at hand (keyed by the raw key: no string built per value).
    top: dict[str, list] = collections.defaultdict(list)
    nested = {obj: collections.defaultdict(list) for obj in _NESTED}
    item_rows: dict[str, list] = collections.defaultdict(list)  # Of nested["item"].
    objects = self.objects
    ids, users, times = self.ids, self.users, self.times
    for path, number, record in _lines(pattern, "impressions", limit, sample):
      if type(record) is not dict:
        sample.skip(path, number)
        continue
      row = self.records
      self.records += 1
      ids.append(record.get("impression_id"))
      users.append(record.get("user_id"))
      times.append(record.get("ts_ms"))
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
    for obj, pending in [("impression", top), *nested.items()]:
      for key, values in pending.items():
        self._absorb_path((obj, key), values, walk=obj != "impression",
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
    if not (objects and walk and len(path) < _MAX_DEPTH):
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


class _DetailSample:
  """Lines per event type, and the values of each of its fields."""

  def __init__(self):
    self.lines: collections.Counter = collections.Counter()
    self.fields: dict[str, dict[str, _ValueStats]] = collections.defaultdict(
        lambda: collections.defaultdict(_ValueStats))
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
      event = record.get("event") if type(record) is dict else None
      if type(event) is not str or not event:
        sample.skip(path, number)
        continue
      self.lines[event] += 1
      line = len(self.events)
      self.ids.append(record.get("impression_id"))
      self.times.append(record.get("ts_ms"))
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


class _ClickSample:
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
      self.ids.append(record.get("impression_id"))
      self.times.append(record.get("ts_ms"))
    return sample


class _Codes:
  """One item key's categories as integer codes, by sampled record: what the cross
  and history measure reads (`_Measures.lift`). Coding stops past DISTINCT_CAP
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


def _id_keys(values: list[Any]) -> list[str | None]:
  """Ids as the job reads them: strings, integers as their decimal string."""
  if all(type(v) is str for v in values):
    return values
  return [v if type(v) is str else str(v) if type(v) is int and type(v) is not bool
          else None for v in values]


def _times(values: list[Any]) -> np.ndarray:
  """[n] int64 ms; -1 where a value is no integer time in the contract's range."""
  return np.fromiter((v if type(v) is int and spec_lib.MIN_TS_MS <= v
                      < spec_lib.MAX_TS_MS else -1 for v in values), np.int64,
                     len(values))


def _coded(values: list[Any]) -> tuple[np.ndarray, int]:
  """([n] int64 codes, -1 for None; how many codes) of hashable `values`."""
  index = collections.defaultdict()
  index.default_factory = index.__len__
  codes = np.fromiter(map(index.__getitem__, values), np.int64, len(values))
  if None in index:
    codes[codes == index[None]] = -1
  return codes, len(index)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
  """Rank-sum (Mann-Whitney) AUC, ties counting one half; NaN with one class.

  The formula of simulation.metrics.auc and models.metrics.auc, written again here:
  features sits below both packages, and importing either loads TensorFlow.

  Args:
    labels: [n] bool.
    scores: [n] float.
  """
  n_pos = int(labels.sum())
  n_neg = labels.size - n_pos
  if not n_pos or not n_neg:
    return math.nan
  _, group, counts = np.unique(scores, return_inverse=True, return_counts=True)
  average_rank = np.cumsum(counts) - (counts - 1) / 2.0
  rank_sum = average_rank[group.reshape(-1)][labels].sum()
  return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@dataclasses.dataclass(frozen=True)
class _Lift:
  """How much "the user clicked this value of the attribute before" tells about the
  click, on the sampled impressions (`_Measures.lift`): pooled (click rates, lift,
  mutual information) and within each user (a Mantel-Haenszel odds ratio over
  per-user 2x2 tables). The pooled figures alone would credit a user's activity: an
  active user has clicked every coarse value before, and clicks more anyway."""
  impressions: int  # Measured: with a user id and a time.
  repeat: int  # Of them, where the user had clicked the value before.
  repeat_clicks: int
  other_clicks: int
  odds_ratio: float  # Within users: Mantel-Haenszel, users as strata.
  within_chi2: float  # Cochran-Mantel-Haenszel, 1 degree of freedom.

  @property
  def rate_repeat(self) -> float:
    return self.repeat_clicks / self.repeat if self.repeat else 0.0

  @property
  def rate_other(self) -> float:
    other = self.impressions - self.repeat
    return self.other_clicks / other if other else 0.0

  @property
  def lift(self) -> float:
    return self.rate_repeat / self.rate_other if self.rate_other else math.inf

  @property
  def bits(self) -> float:
    """The mutual information of the two binary variables, in bits."""
    n, clicks = self.impressions, self.repeat_clicks + self.other_clicks
    cells = [(self.repeat_clicks, self.repeat, clicks),
             (self.repeat - self.repeat_clicks, self.repeat, n - clicks),
             (self.other_clicks, n - self.repeat, clicks),
             (n - self.repeat - self.other_clicks, n - self.repeat, n - clicks)]
    return sum(c / n * math.log2(c * n / (row * col)) for c, row, col in cells if c)

  @property
  def significant(self) -> bool:
    """G = 2 N I (in nats) is chi-squared, 1 degree of freedom, under independence."""
    return 2 * self.impressions * self.bits * math.log(2) >= LIFT_G_CRITICAL

  @property
  def contradicted(self) -> bool:
    """Within users, clicking the value before goes with fewer clicks, beyond chance:
    the pooled lift is the users' activity."""
    return self.odds_ratio < 1 and self.within_chi2 >= WITHIN_CHI2_CRITICAL

  @property
  def chosen(self) -> bool:
    return self.lift > 1 and self.significant and not self.contradicted

  def describe(self, of: str) -> str:
    return (f"click rate {self.rate_repeat:.2f} when the user clicked this {of} "
            f"before (on {_percent(self.repeat, self.impressions)} sampled "
            f"impressions) vs {self.rate_other:.2f} otherwise, lift {self.lift:.2f}, "
            f"{self.bits:.4f} bits" + ("" if self.significant else " (not significant)")
            + f"; within users, odds ratio {self.odds_ratio:.2f} (chi-square "
            f"{self.within_chi2:,.1f}" + (", below 1 beyond chance)" if self.contradicted
                                          else ")"))


@dataclasses.dataclass(frozen=True)
class _Candidate:
  """A post-event aggregate's univariate AUC against its task's label."""
  auc: float
  clicked: int  # Sampled clicked impressions it is measured on.
  positives: int

  @property
  def judged(self) -> bool:
    return min(self.positives, self.clicked - self.positives) >= MIN_LEAK_EVIDENCE

  @property
  def leak(self) -> bool:
    return self.judged and abs(self.auc - 0.5) >= LEAK_AUC - 0.5

  def describe(self, label: str) -> str:
    if math.isnan(self.auc):
      return (f"Univariate AUC against {label!r}: undefined on this sample "
              f"({self.positives:,} positives of {self.clicked:,} clicked "
              "impressions).")
    return (f"Univariate AUC {self.auc:.3f} against {label!r} on {self.clicked:,} "
            f"sampled clicked impressions ({self.positives:,} positives)" + (
                "." if self.judged else f"; too few of each class (under "
                f"{MIN_LEAK_EVIDENCE}) to judge a leak."))


class _Measures:
  """The samples joined by impression id: who clicked what, when, and what followed.

  A click is a click line within CLICK_WINDOW after its impression (with --clicks),
  else, without a clicks log, an impression with a detail-page line at or after it
  (the contract: a detail page is on a clicked impression), its first line standing
  for the click's time. Everything is per sampled impression, in numpy.
  """

  def __init__(self, imp: _ImpressionSample, details: _DetailSample,
               clicks: _ClickSample | None):
    n = imp.records
    self.records = n
    ids = _id_keys(imp.ids)
    row_of = dict(zip(ids, range(n)))
    row_of.pop(None, None)
    self.ts = _times(imp.times)
    self.user, self.users = _coded(_id_keys(imp.users))
    self.measured = (self.user >= 0) & (self.ts >= 0)
    # Detail lines: their impression's row (-1: not sampled) and time.
    self.detail_row = self._rows(row_of, details.ids)
    self.detail_ts = _times(details.times)
    self.detail_event = np.asarray(details.events, dtype=object)
    on_time = self._on_time(self.detail_row, self.detail_ts)
    self.click_at = np.full(n, np.iinfo(np.int64).max)
    if clicks is not None:
      rows, ts = self._rows(row_of, clicks.ids), _times(clicks.times)
      counted = self._on_time(rows, ts)
      counted[counted] &= ts[counted] <= (self.ts[rows[counted]]
                                          + spec_lib.duration_ms(CLICK_WINDOW))
      np.minimum.at(self.click_at, rows[counted], ts[counted])
      self.click_source = "the sampled click lines"
    else:
      np.minimum.at(self.click_at, self.detail_row[on_time], self.detail_ts[on_time])
      self.click_source = ("the sampled detail-page lines (no --clicks: an impression "
                           "with a detail page was clicked, at its first line)")
    self.clicked = self.click_at < np.iinfo(np.int64).max
    # A detail line in its impression's attribution window after the click.
    after = on_time.copy()
    after[after] &= self.clicked[self.detail_row[after]]
    since = self.detail_ts[after] - self.click_at[self.detail_row[after]]
    after[after] &= (since >= 0) & (since <= spec_lib.duration_ms(ATTRIBUTION_WINDOW))
    self.after_click = after
    self.details = details

  def _rows(self, row_of: dict[str, int], ids: list[Any]) -> np.ndarray:
    return np.fromiter(map(row_of.get, _id_keys(ids), itertools.repeat(-1)),
                       np.int64, len(ids))

  def _on_time(self, rows: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Lines on a sampled impression, at or after it."""
    ok = (rows >= 0) & (ts >= 0)
    ok[ok] &= (self.ts[rows[ok]] >= 0) & (ts[ok] >= self.ts[rows[ok]])
    return ok

  @property
  def clicks(self) -> int:
    return int(self.clicked.sum())

  def positives(self, event: str) -> int:
    """Clicked impressions with `event` in the attribution window after the click."""
    return int(np.unique(self.detail_row[self.after_click
                                         & (self.detail_event == event)]).size)

  def lift(self, codes: np.ndarray) -> _Lift:
    """Whether the user had clicked, strictly before the impression, an item with the
    impression's value of the attribute (`codes`: [records], -1 without one), as the
    cross feature counts; 0 where the impression lacks a value, as the cross is."""
    keep = self.measured & (codes >= 0)
    x = np.zeros(self.records, bool)
    x[keep] = self._clicked_before(keep, self.user, codes) > 0
    x, y, users = x[self.measured], self.clicked[self.measured], self.user[
        self.measured]
    a, b, c, d = (np.bincount(users[mask], minlength=self.users).astype(np.float64)
                  for mask in (x & y, x & ~y, ~x & y, ~x & ~y))
    n = a + b + c + d
    a, b, c, d, n = (t[n > 1] for t in (a, b, c, d, n))  # Users with 2+ impressions.
    concordant, discordant = float((a * d / n).sum()), float((b * c / n).sum())
    odds_ratio = (concordant / discordant if discordant else
                  math.inf if concordant else 1.0)
    expected = float(((a + b) * (a + c) / n).sum())
    variance = float(((a + b) * (c + d) * (a + c) * (b + d) / (n * n * (n - 1))).sum())
    within_chi2 = (max(abs(float(a.sum()) - expected) - 0.5, 0.0) ** 2 / variance
                   if variance else 0.0)
    repeat_clicks = int((x & y).sum())
    return _Lift(int(x.size), int(x.sum()), repeat_clicks, int(y.sum()) - repeat_clicks,
                 odds_ratio, within_chi2)

  def _clicked_before(self, rows: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """[rows.sum()] int64: per selected impression, the user's counted clicks with the
    same `keys` values at a time strictly before it. Impressions and clicks sorted by
    (keys, time), clicks after the impressions of their time; a running count of the
    clicks in each run of equal keys."""
    query = np.flatnonzero(rows)
    add = np.flatnonzero(rows & self.clicked)
    columns = [np.concatenate([key[query], key[add]]) for key in keys]
    time = np.concatenate([self.ts[query], self.click_at[add]])
    is_add = np.concatenate([np.zeros(query.size, np.int64),
                             np.ones(add.size, np.int64)])
    order = np.lexsort((is_add, time, *reversed(columns)))
    is_add = is_add[order]
    before = np.cumsum(is_add) - is_add  # Clicks earlier in the sort.
    start = np.zeros(order.size, bool)
    start[:1] = True
    for column in columns:
      column = column[order]
      start[1:] |= column[1:] != column[:-1]
    before -= before[start][np.cumsum(start) - 1]  # ... earlier in the run.
    out = np.empty(query.size, np.int64)
    queries = is_add == 0
    out[order[queries]] = before[queries]
    return out

  def candidate(self, label_event: str, event: str, field: str | None) -> _Candidate:
    """The univariate AUC of a post-event aggregate (the count of `event`, or the sum
    of its `field`) against the label, on the sampled clicked impressions: their
    `event` lines after the click, before the first label event, within the
    attribution window, as the join counts them."""
    n = self.records
    is_label = self.after_click & (self.detail_event == label_event)
    label_at = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(label_at, self.detail_row[is_label], self.detail_ts[is_label])
    counted = self.after_click & (self.detail_event == event)
    counted[counted] &= (self.detail_ts[counted]
                         < label_at[self.detail_row[counted]])
    if field is None:
      score = np.bincount(self.detail_row[counted], minlength=n).astype(np.float64)
    else:
      lines, numbers = (np.frombuffer(a, dtype=t) for a, t in zip(
          self.details.numbers[event, field], (np.int64, np.float64)))
      keep = counted[lines]
      score = np.bincount(self.detail_row[lines[keep]], weights=numbers[keep],
                          minlength=n)
    labels = label_at[self.clicked] < np.iinfo(np.int64).max
    return _Candidate(_auc(labels, score[self.clicked]), self.clicks,
                      int(labels.sum()))


def _sanitize(key: str) -> str:
  name = re.sub(r"[^a-z0-9_]+", "_", key.lower()).strip("_") or "field"
  return f"f_{name}" if name[0].isdigit() else name


class _Names:
  """Unique feature names: the sanitized key (a nested one's path, joined by _),
  else prefixed by its object, else numbered."""

  def __init__(self):
    self.taken: set[str] = set()

  def take(self, key: str, prefix: str = "") -> str:
    base = _sanitize(key)
    candidates = itertools.chain(
        [base], [f"{_sanitize(prefix)}_{base}"] if prefix else [],
        (f"{base}_{i}" for i in itertools.count(2)))
    name = next(c for c in candidates if c not in self.taken)
    self.taken.add(name)
    return name


@dataclasses.dataclass
class _Entry:
  """One proposal (a feature row, an event's or a task's body) and its comment."""
  body: Any
  comments: list[str]


@dataclasses.dataclass
class _Proposal:
  """The spec being proposed, section by section, with its comments."""
  notes: list[str] = dataclasses.field(default_factory=list)  # For the header.
  identity: dict[str, str] = dataclasses.field(default_factory=dict)
  events: dict[str, _Entry] = dataclasses.field(default_factory=dict)
  tasks: dict[str, _Entry] = dataclasses.field(default_factory=dict)
  sections: list[tuple[str, list[_Entry]]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _Grouping:
  """A logged item category, as a candidate for histories and crosses."""
  name: str
  path: Path
  distinct: int
  covered: bool  # Read on at least the well-typed share of all sampled records.
  coded: bool  # Integer codes, which are often a bucketed quantity (a rating).


class _Proposer:
  """Turns the two samples into a `_Proposal`."""

  def __init__(self, impressions: _ImpressionSample, details: _DetailSample,
               measures: _Measures, min_share: float, label_event: str = ""):
    self.imp = impressions
    self.details = details
    self.measures = measures
    self.min_share = min_share
    self.label_event = label_event
    self.names = _Names()
    self.out = _Proposal()
    self.conversion_label: str | None = None
    # Logged item categories: history and cross candidates.
    self.item_categories: list[_Grouping] = []

  def propose(self) -> _Proposal:
    if not self.imp.records:
      raise ValueError("no impression line in the sample is a JSON object: nothing "
                       "to propose a spec from.")
    conversion = self._events()
    self._tasks(conversion)
    metadata, labels = self._metadata(), self._labels(conversion)
    user, item, context = self._logged()
    attributes = self._grouping_attributes()
    self.out.sections = [
        ("Metadata: tracing, time and grouping; never model inputs.", metadata),
        ("Labels.", labels), ("User.", user), ("Item.", item), ("Context.", context),
        ("Behaviour: point-in-time correct, most recent click first.",
         self._behaviour(attributes)),
        ("Cross: cheap for a fine ranker, unaffordable for a two-tower pre-ranker.",
         self._cross(attributes)),
        ("Post-event: after the click, before the label event. They would leak the "
         "CTR label.", self._post_event(conversion))]
    for obj in _NESTED:
      n = self.imp.records - self.imp.objects[obj]
      if n:
        self.out.notes.append(
            f"`{obj}` is absent or not an object on {_percent(n, self.imp.records)} "
            "sampled records: the job requires an object, so those lines are dead "
            "letters at join time.")
    return self.out

  # --- events, tasks and labels -------------------------------------------------
  def _declared_events(self) -> list[str]:
    """Event types by frequency, less the rarest ones that together hold under the
    share of lines that may be garbage (a mistyped or corrupted `event`); one named
    like a conversion or an engagement, or `--label_event`, stays however rare: a
    label candidate (`_conversion` says whether it has the positives)."""
    total = sum(self.details.lines.values())
    declared = [event for event, _ in self.details.lines.most_common()]
    dropped = 0
    for event, lines in reversed(self.details.lines.most_common()):
      if (CONVERSION_NAMES.search(event.lower()) or event == self.label_event
          or ENGAGEMENT_NAMES.fullmatch(event.lower())):
        continue
      if dropped + lines >= (1 - self.min_share) * total:
        break
      dropped += lines
      declared.remove(event)
      self.out.notes.append(
          f"Not declared: event {event!r}, on {_percent(lines, total)} detail-page "
          f"lines: with the rarer ones not declared, under {1 - self.min_share:.1%} of "
          "the lines, so read as garbage. Its lines are dead letters at join time "
          "(invalid_value); declare it under `events` if it is real.")
    return declared

  def _events(self) -> str | None:
    """Declares every event type; returns the conversion event (None without one)."""
    total = sum(self.details.lines.values())
    for event in self._declared_events():
      lines = self.details.lines[event]
      fields, comments = {}, [f"{event}: {_percent(lines, total)} detail-page lines."]
      for key, stats in sorted(self.details.fields[event].items()):
        field, comment = self._event_field(key, stats, lines)
        comments.append(comment)
        if field is not None:
          fields[key] = field
      self.out.events[event] = _Entry({"fields": fields} if fields else {}, comments)
    if not self.out.events:
      if self.label_event:
        raise ValueError(f"--label_event={self.label_event!r}: the sample has no "
                         "detail-page event.")
      self.out.notes.append("No detail-page event in the sample: no conversion task, "
                            "no post-event features.")
      return None
    return self._conversion()

  def _conversion(self) -> str | None:
    """The conversion label's event: `--label_event`, else the policy of
    MIN_LABEL_POSITIVES / MIN_LABEL_SHARE and the names (the constants say why);
    None, said in the header, when no event passes."""
    clicks = self.measures.clicks
    positives = {e: self.measures.positives(e) for e in self.out.events}
    floor = min(MIN_LABEL_POSITIVES, math.ceil(MIN_LABEL_SHARE * clicks))
    counted = ", ".join(f"{e} {_percent(n, clicks)}" for e, n in sorted(
        positives.items(), key=lambda item: (-item[1], item[0])))
    policy = (f"Conversion label: an event that follows at least {floor:,} of the "
              f"{clicks:,} sampled clicked impressions (>= {MIN_LABEL_POSITIVES:,} "
              f"or >= {MIN_LABEL_SHARE:.0%} of them) within {ATTRIBUTION_WINDOW}; "
              "named like a conversion, else like an engagement (the most positives), "
              f"else the rarest on at most {MAX_LABEL_SHARE:.0%} of the clicks. "
              f"Clicks: {self.measures.click_source}. Positives: {counted}.")
    if self.label_event:
      if self.label_event not in self.out.events:
        raise ValueError(f"--label_event={self.label_event!r} is not a declared event "
                         f"of the sample; declared: {sorted(self.out.events)}.")
      conversion, why = self.label_event, "chosen by --label_event."
    else:
      passing = [e for e in self.out.events if positives[e] >= floor and positives[e]]
      tiers = ([e for e in passing if CONVERSION_NAMES.search(e.lower())],
               [e for e in passing if ENGAGEMENT_NAMES.fullmatch(e.lower())])
      rest = [e for e in passing if positives[e] <= MAX_LABEL_SHARE * clicks]
      if tiers[0] or tiers[1]:
        tier = tiers[0] or tiers[1]
        conversion = max(tier, key=lambda e: (positives[e], e))
        why = ("named like a conversion." if tiers[0] else
               "no event over the floor is named like a conversion; this one is "
               "named like an engagement.")
      elif rest:
        conversion = min(rest, key=lambda e: (positives[e], e))
        why = ("no event over the floor is named like a conversion or an engagement, "
               "so the rarest of them.")
      else:
        self.out.notes.append(
            policy + " No event passes: no conversion task and no post-event feature "
            "proposed; choose a label with --label_event=NAME.")
        return None
    self.out.notes.append(policy + f" Proposed: {conversion!r}.")
    self.out.events[conversion].comments.append(
        f"  The conversion label's event: {why} It follows "
        f"{_percent(positives[conversion], clicks)} sampled clicked impressions.")
    return conversion

  def _event_field(self, key: str, stats: _ValueStats, lines: int
                   ) -> tuple[dict[str, Any] | None, str]:
    """(The field's declaration or None, its comment line). A null or "" under a
    declared field is a dead letter too: only a line without the key lacks it."""
    numbers = (_Range.of(stats, self.min_share)
               if stats.ints + stats.floats >= self.min_share * stats.seen else None)
    if numbers is None:
      return None, f"  Not a field: `{key}` holds " + (
          f"numbers on only {_percent(stats.ints + stats.floats, stats.seen)} of the "
          "lines that carry it." if stats.ints + stats.floats < self.min_share
          * stats.seen else "no finite number.")
    dead = {"null or \"\"": stats.nulls + stats.empties,
            **_numeric_dead(stats, numbers)}
    carrying = _Reading(numbers.inside, stats.seen, dead, "lines that carry it")
    if not carrying.enough(self.min_share):
      return None, f"  Not a field: `{key}`. {carrying.describe()}"
    required = numbers.inside >= self.min_share * lines
    field = {"dtype": numbers.dtype.value, "bounds": list(numbers.bounds)}
    if required:
      field["required"] = True
      reading = _Reading(numbers.inside, lines, {"lack it": lines - stats.seen, **dead},
                         "lines")
    else:
      reading = carrying
    return field, (
        f"  {key}: on {_percent(stats.seen, lines)} lines; {numbers.describe()}. "
        + "".join(f"{text} " for text in reading.comment()) + (
            "Required: a line without it is a dead letter." if required
            else "Optional: a line without it counts 0."))

  def _tasks(self, conversion: str | None) -> None:
    ctr = {"label": "click", "examples": "all",
           "description": "Coarse-ranking CTR on all impressions."}
    ctr.update(_ctr_model_defaults())
    self.out.tasks["ctr"] = _Entry(ctr, [
        "The default spec's CTR deployment: a two-tower student, taught by a DCN that "
        "sees the cross features."])
    self.names.taken.add("click")
    if conversion is not None:
      self.conversion_label = self.names.take(conversion)
      self.out.tasks["cvr"] = _Entry(
          {"label": self.conversion_label, "examples": "clicked",
           "description": "Fine-ranking CVR on clicked impressions."},
          [f"Conversion: a `{conversion}` after the click, learnt on clicked "
           "impressions."])

  def _labels(self, conversion: str | None) -> list[_Entry]:
    entries = [_Entry({"name": "click", "kind": "label",
                       "derive": {"op": "click", "window": CLICK_WINDOW},
                       "description": "A click within the click window."},
                      [f"A click counts up to {CLICK_WINDOW} after the impression."])]
    if conversion is not None:
      entries.append(_Entry(
          {"name": self.conversion_label, "kind": "label",
           "derive": {"op": "event", "event": conversion, "window": ATTRIBUTION_WINDOW},
           "description": f"1 when an event {conversion!r} falls within the "
                          "attribution window after the click."},
          [f"Attribution window: {ATTRIBUTION_WINDOW} after the first click."]))
    return entries

  # --- logged features ----------------------------------------------------------
  def _lacking(self, stats: _ValueStats) -> str:
    lacking = self.imp.records - stats.carried
    return f"{_percent(lacking, self.imp.records)} sampled records lack it"

  def _reading(self, path: Path, stats: _ValueStats, read: int,
               dead: dict[str, int]) -> _Reading:
    """A top-level field is required on every line: a record lacking it is a dead
    letter. A user / item key a record lacks takes the default, as does one below an
    absent or null object; below any other value (a string, "") it is a dead letter."""
    if path[0] == "impression":
      return _Reading(read, self.imp.records, {
          "lack it": self.imp.records - stats.carried, **dead},
                      "sampled records")
    outer = {}
    for depth in range(2, len(path)):
      outer_stats = self.imp.stats[path[:depth]]
      outer[f"under a {'.'.join(path[:depth])} that is not an object"] = (
          outer_stats.seen - outer_stats.nulls - outer_stats.objects)
    return _Reading(read, stats.carried + sum(outer.values()), {**dead, **outer},
                    "sampled records that carry it")

  def _metadata(self) -> list[_Entry]:
    entries = []
    for key, dtype in _METADATA.items():
      stats = self.imp.stats.get(("impression", key))
      if stats is None or not stats.carried:
        continue
      name = self.names.take(key)
      if dtype is spec_lib.DType.STRING:
        read, dead = stats.categories, _categorical_dead(stats, None)
      else:  # The impression's time: an integer in the contract's range.
        numbers = np.frombuffer(stats.numbers, dtype=np.float64)
        read = min(stats.ints, int(np.count_nonzero(
            (numbers >= spec_lib.MIN_TS_MS) & (numbers < spec_lib.MAX_TS_MS))))
        dead = {"not an integer ms time in the contract's range":
                stats.carried - read}
      notes = [f"{self._lacking(stats)}; the job requires it on every line.",
               *self._reading(("impression", key), stats, read, dead).comment()]
      if key == _REQUEST:
        self.out.identity["request"] = name
        notes.append("identity.request: ranking losses and metrics rank within it.")
      entries.append(_Entry(
          {"name": name, "kind": "metadata", "dtype": dtype.value,
           "source": f"impression.{key}"}, notes))
    return entries

  def _logged(self) -> tuple[list[_Entry], list[_Entry], list[_Entry]]:
    groups: dict[str, list[_Entry]] = {"user": [], "item": [], "context": []}
    for role, key in _IDENTITY.items():
      path = ("impression", key)
      stats = self.imp.stats.get(path)
      if stats is None or not stats.carried:
        raise ValueError(f"no sampled impression has `{key}`: a spec's identity.{role} "
                         "names the feature read from it (LOG_CONTRACT.md).")
      self.out.identity[role] = self.names.take(key)
      reading = self._reading(path, stats, stats.categories,
                              _categorical_dead(stats, None))
      groups[role].append(self._categorical(
          self.out.identity[role], path, stats, role, reading,
          f"identity.{role}: ids are categories, whatever their type."))
    skip = {("impression", k) for k in [*_METADATA, *_IDENTITY.values()]}
    object_paths = {
        path for path, stats in self.imp.stats.items()
        if stats.carried and stats.objects >= self.min_share * stats.carried}
    for path, stats in sorted(self.imp.stats.items(), key=_source_order):
      if path in skip or not all(path[:n] in object_paths for n in range(2, len(path))):
        continue  # Keys of the few objects of a key that mostly holds values.
      group = path[0] if path[0] in _NESTED else "context"
      if any("." in key or not key for key in path[1:]):
        if not any("." in key or not key for key in path[1:-1]):  # Noted once.
          self.out.notes.append(
              f"Not proposed: {path[0]} key {'.'.join(path[1:])!r}: a key that is "
              "empty or holds a dot cannot be named by a dotted source.")
      elif path in object_paths:
        self._object_note(path, stats)
      elif not stats.carried:
        self.out.notes.append(f"Not proposed: {'.'.join(path)}, null or \"\" on every "
                              "sampled record that has it.")
      else:
        entry = self._logged_feature(path, stats, group)
        if entry is not None:
          groups[group].append(entry)
    return groups["user"], groups["item"], groups["context"]

  def _object_note(self, path: Path, stats: _ValueStats) -> None:
    source = ".".join(path)
    if path[0] == "impression":
      self.out.notes.append(
          f"Not proposed: {source}, an object on "
          f"{_percent(stats.objects, stats.carried)} sampled records that carry it: "
          "only `user` / `item` keys are read at depth (user.<key>.<key>).")
      return
    if len(path) >= _MAX_DEPTH:
      self.out.notes.append(f"Not proposed: the keys of {source}: objects nested "
                            "this deep are not walked (name a key by hand if it "
                            "matters).")
      return
    other = stats.seen - stats.nulls - stats.objects
    if other:  # Else its keys' dotted sources say it all.
      self.out.notes.append(
          f"{source}: an object on {_percent(stats.objects, stats.seen)} sampled "
          f"records that have it, its keys proposed as {source}.<key>; the other "
          f"{other:,} values (neither objects nor null) are dead letters at join time "
          "for each key read below it.")

  def _logged_feature(self, path: Path, stats: _ValueStats, group: str
                      ) -> _Entry | None:
    """Numeric where numbers are what the job would read (integer codes and ids
    excepted), else categorical where strings, integers and booleans are; None (with
    a header note) where either reading leaves too many dead letters. Position
    privileged."""
    source = ".".join(path)
    numbers = (_Range.of(stats, self.min_share) if stats.ints + stats.floats
               >= self.min_share * stats.carried else None)
    name = self.names.take(".".join(path[1:]), prefix=path[0])
    coded = False
    if numbers is not None and path == ("impression", _POSITION):
      why = ("Position: privileged for every task. A ranker scores before positions "
             "exist, so only the teacher may see it (and the position bias it explains "
             "stays out of the student).")
    elif (numbers is not None and numbers.integral
          and stats.distinct_ints() <= MAX_CODES):
      why, coded = (f"Categorical: integers with at most {MAX_CODES} distinct values "
                    "are codes, not quantities (make it numeric if their order "
                    "matters)."), True
    elif numbers is not None and numbers.integral and (name == "id"
                                                       or name.endswith("_id")):
      why = "Categorical: integers named like an id."
    elif numbers is not None:
      why = "Numeric: " + (f"integers with more than {MAX_CODES} distinct values."
                           if numbers.integral else "floats.")
    elif stats.categories >= self.min_share * stats.carried:
      why = ("Categorical: booleans, read by the job as the tokens \"true\" and "
             "\"false\"." if stats.bools > stats.strings + stats.ints
             else "Categorical: strings.")
    else:
      self.names.taken.discard(name)
      self.out.notes.append(
          f"Not proposed: {source}, neither a category nor a number on "
          f"{self.min_share:.1%} of the sampled records that carry it: "
          f"{stats.strings:,} strings, {stats.ints + stats.floats:,} numbers, "
          f"{stats.bools:,} booleans, {stats.objects + stats.lists:,} objects or "
          "lists.")
      return None
    numeric = numbers is not None and why.startswith(("Position", "Numeric"))
    reading = (self._reading(path, stats, numbers.inside, _numeric_dead(stats, numbers))
               if numeric else
               self._reading(path, stats, stats.categories,
                             _categorical_dead(stats, numbers)))
    if not reading.enough(self.min_share):
      self.names.taken.discard(name)
      self.out.notes.append(f"Not proposed: {source}, read as "
                            f"{'numeric' if numeric else 'categorical'}. "
                            f"{reading.describe()}")
      return None
    if numeric:
      privileged = list(self.out.tasks) if path == ("impression", _POSITION) else []
      return self._numeric(name, path, stats, group, numbers, reading, privileged, why)
    return self._categorical(name, path, stats, group, reading, why, coded)

  def _categorical(self, name: str, path: Path, stats: _ValueStats, group: str,
                   reading: _Reading, why: str, coded: bool = False) -> _Entry:
    summary = f"{stats.distinct_text()} distinct values; {self._lacking(stats)}"
    row: dict[str, Any] = {"name": name, "kind": "categorical",
                           "source": ".".join(path)}
    if path[0] == "impression":  # user./item. sources imply their group.
      row["group"] = group
    comments = [f"{summary}.", why, *reading.comment()]
    singletons, distinct = stats.singletons(), len(stats.counts)
    if stats.capped or (distinct >= MIN_COUNT_DISTINCT
                        and singletons >= MIN_COUNT_SINGLETON_SHARE * distinct):
      row["min_count"] = 2
      comments.append(f"min_count 2: {singletons:,} values appear once in the sample; "
                      "an embedding row trained on one example is noise, so they map "
                      "to OOV.")
    elif distinct >= MIN_COUNT_DISTINCT:
      comments.append(f"min_count 1: only {singletons:,} values appear once in the "
                      "sample.")
    if stats.capped:
      comments.append(f"A very large id space: consider hashing it (models.train "
                      f"--hash_bins={name}:{_HASH_BINS}) over an exact vocabulary.")
    if stats.strings and stats.ints:
      comments.append(f"Mixed: {stats.ints:,} values are integers, read as their "
                      "decimal strings.")
    if stats.bools and stats.strings + stats.ints:
      comments.append(f"Mixed: {stats.bools:,} values are booleans, read as \"true\" "
                      "and \"false\".")
    if path[0] == "item":
      self.item_categories.append(_Grouping(
          name, path, DISTINCT_CAP + 1 if stats.capped else distinct,
          reading.read >= self.min_share * self.imp.records, coded))
    return _Entry(row, comments)

  def _numeric(self, name: str, path: Path, stats: _ValueStats, group: str,
               numbers: _Range, reading: _Reading, privileged: list[str], why: str
               ) -> _Entry:
    row: dict[str, Any] = {"name": name, "kind": "numeric",
                           "dtype": numbers.dtype.value, "source": ".".join(path)}
    if path[0] == "impression":
      row["group"] = group
    row.update({"bounds": list(numbers.bounds), "default": numbers.default})
    if privileged:
      row["privileged_in"] = privileged
    return _Entry(row, [f"{numbers.describe()}; {self._lacking(stats)}.", why,
                        *reading.comment()])

  # --- derived features ---------------------------------------------------------
  def _grouping_attributes(self) -> dict[str, str]:
    """The item categories whose histories and crosses are proposed -> why: the
    CROSSES that "the user clicked this value before" tells most about the click
    (`_Measures.lift`), else `_by_grain`."""
    candidates = [g for g in self.item_categories if 2 <= g.distinct <= DISTINCT_CAP]
    n = self.measures.records
    lifts = {g.name: self.measures.lift(self.imp.item_codes[g.path].by_record(n))
             for g in candidates} if self.measures.clicks else {}
    ranked = sorted(lifts, key=lambda name: (-lifts[name].bits, name))
    chosen = [name for name in ranked if lifts[name].chosen][:CROSSES]
    measured = "; ".join(f"{name}: {lifts[name].describe(name)}" for name in ranked)
    header = (
        "Histories and crosses: for each item category (2 or more values), whether "
        "the user clicked the impression's value before (earlier in the sample, as "
        "the cross counts) and how that moves the click: click rates, lift and "
        "mutual information in bits over the sampled impressions, and a "
        "Mantel-Haenszel odds ratio within users (a user's activity alone, which "
        "makes every coarse value one clicked before, must not count). Proposed: the "
        f"{CROSSES} of most information with a lift above 1 at p < 0.001 (G-test) "
        "whose within-user odds ratio is not below 1 beyond chance (p < 0.05, "
        "Cochran-Mantel-Haenszel). Clicks: "
        + self.measures.click_source + ". On "
        f"{_percent(int(self.measures.measured.sum()), n)} sampled impressions with "
        "a user and a time: " + (measured or "no candidate") + ".")
    if chosen:
      self.out.notes.append(header)
      return {name: f"Chosen by its measure on the sample: {lifts[name].describe(name)}."
              for name in chosen}
    by_grain = self._by_grain()
    self.out.notes.append(
        header + (" None passes (no click in the sample)" if not self.measures.clicks
                  else " None passes") + ": chosen by their number of values instead "
        f"(a coarse and a fine one, {GROUPING_DISTINCT[0]} to {GROUPING_DISTINCT[1]:,}"
        "), which measures nothing: check them.")
    return {name: ("Chosen by its number of values (no attribute passes the "
                   "measure; see the header)" + (
                       f": {lifts[name].describe(name)}." if name in lifts else "."))
            for name in by_grain}

  def _by_grain(self) -> list[str]:
    """Two logged item categories whose clicks repeat: a coarse one (a user's broad
    taste) and a fine one (a loyalty), which say more together than two of one
    grain. Preferred: those read on (nearly) every record (a missing value would
    match every other missing one), then names over integer codes (often a bucketed
    quantity, a rating or a discount, whose sharing says little about taste)."""
    low, high = GROUPING_DISTINCT
    ranked = sorted((not g.covered, g.coded, g.distinct, g.name)
                    for g in self.item_categories if low <= g.distinct <= high)
    if not ranked:
      return []
    coarse, rest = ranked[0], ranked[1:]
    same_tier = [r for r in rest if r[:2] == coarse[:2]]
    fine = same_tier[-1] if same_tier else (rest[0] if rest else None)
    return [r[-1] for r in (coarse, fine) if r is not None]

  def _behaviour(self, attributes: dict[str, str]) -> list[_Entry]:
    item = self.out.identity["item"]
    return [_Entry(
        {"name": self.names.take(f"hist_{of}s"), "kind": "sequence",
         "derive": {"op": "history", "of": of}, "max_length": HISTORY_LENGTH,
         "description": f"The {of} of the user's last {HISTORY_LENGTH} clicks before "
                        "the impression."},
        [f"The user's clicked {of}s; they share {of}'s vocabulary."]
        + ([] if of == item else [attributes[of]]))
            for of in [item, *attributes]]

  def _cross(self, attributes: dict[str, str]) -> list[_Entry]:
    """`user_<attribute>_clicks_24h`, as the default spec names them."""
    distinct = {g.name: g.distinct for g in self.item_categories}
    return [_Entry(
        {"name": self.names.take(
            f"user_{re.sub(r'_id$', '', of)}_clicks_{CROSS_WINDOW}"),
         "kind": "numeric",
         "derive": {"op": "clicks_sharing", "of": of, "window": CROSS_WINDOW},
         "privileged_in": ["ctr"],
         "description": f"The user's clicks in the item's {of} in the last "
                        f"{CROSS_WINDOW}."},
        [f"Privileged for ctr: a user x item cross ({distinct[of]:,} {of} values in "
         "the sample), which a two-tower student cannot compute.", why])
            for of, why in attributes.items()]

  def _post_event(self, conversion: str | None) -> list[_Entry]:
    """Every aggregate of another event (its count, each field's total), with its
    univariate AUC against the conversion label on the sample; one that nearly
    determines the label (LEAK_AUC) is proposed excluded from every task."""
    if conversion is None:
      return []
    label = self.conversion_label
    entries, leaks = [], []
    for event, entry in self.out.events.items():
      if event == conversion:
        continue
      for field in [None, *entry.body.get("fields", {})]:
        candidate = self.measures.candidate(conversion, event, field)
        if field is None:
          name = self.names.take(f"{event}_count")
          derive = {"op": "count", "event": event}
          description = f"How many {event!r} events after the click"
        else:
          name = self.names.take(f"{event}_{field}_total")
          derive = {"op": "sum", "event": event, "field": field}
          description = f"The total {field} of the {event!r} events after the click"
        comments = [candidate.describe(label)]
        if candidate.leak:
          leaks.append(name)
          derive["before"] = label
          roles = {"excluded_from": ["ctr", "cvr"]}
          comments.append(
              f"A leak: an AUC this far from 0.5 (>= {LEAK_AUC}) nearly determines "
              f"{label!r}; a teacher that sees it reads the label off it and teaches "
              "the student nothing (teacher cheating: Yang et al., NeurIPS 2022; "
              "ByteDance HA-PFD, KDD 2025). Excluded from every task; privilege it "
              "for cvr by hand only if it truly is known before the label.")
        else:
          roles = {"privileged_in": ["cvr"], "excluded_from": ["ctr"]}
          comments.append("Privileged for cvr (known after the click, before the "
                          "conversion), excluded from ctr (it would leak the click).")
        entries.append(_Entry(
            {"name": name, "kind": "numeric", "derive": derive, **roles,
             "description": f"{description}, before the {conversion!r}."},
            comments))
    if leaks:
      self.out.notes.append(
          f"Leaks: {', '.join(leaks)}: a univariate AUC against {label!r} at or "
          f"beyond {LEAK_AUC} (or its mirror), so excluded from every task, not "
          "privileged (see each comment).")
    return entries


def _source_order(item: tuple[Path, _ValueStats]) -> tuple[int, Path]:
  """user. keys, then item. keys, then top-level fields; by path within each."""
  path = item[0]
  return ({"user": 0, "item": 1}.get(path[0], 2), path)


def _ctr_model_defaults() -> dict[str, Any]:
  """The default spec's CTR deployment (`model_defaults`): the contract's user_id
  and item_id name the identity here as there."""
  defaults = {k: list(v) if isinstance(v, tuple) else v
              for k, v in spec_lib.DEFAULT_SPEC.task("ctr").model_defaults}
  return {"model_defaults": defaults} if defaults else {}


def _render(proposal: _Proposal, impressions: LogSample, details: LogSample,
            clicks: LogSample | None, min_share: float) -> str:
  """The proposal as YAML, each entry under its comment."""
  out = _comment([
      "A feature spec proposed by `python -m features.infer_spec` from a sample of",
      f"  impressions: {impressions.describe()};",
      *([f"  clicks: {clicks.describe()};"] if clicks else []),
      f"  detail_pages: {details.describe()}.",
      "Skipped: lines that are not a JSON object, and detail-page lines without an "
      "`event` string.",
      "A proposal to edit, not a verdict: each entry's comment says what the sample "
      "showed and why it is proposed so. The format: WORKSPACE.md, \"The feature spec "
      "file\"; check an edit with features.spec.load_spec_file.",
      *_policy(min_share), *proposal.notes], 0)
  out += [f"version: {spec_lib.SCHEMA_VERSION}", ""]
  out += _yaml_lines("identity: ", proposal.identity, 0)
  for title, entries in (("events", proposal.events), ("tasks", proposal.tasks)):
    out += ["", f"{title}:"]
    for key, entry in entries.items():
      out += _comment(entry.comments, 2) + _yaml_lines(f"{_flow(key)}: ",
                                                       entry.body, 2)
  out += ["", "evaluation:", "  slices: {}", "", "features:"]
  for title, entries in proposal.sections:
    out += ["", *_comment([title], 2)] if entries else []
    for entry in entries:
      out += _comment(entry.comments, 2) + _yaml_lines("- ", entry.body, 2)
  return "\n".join(out) + "\n"


def _comment(paragraphs: Sequence[str], indent: int) -> list[str]:
  pad = " " * indent + "# "
  return [line for text in paragraphs for line in textwrap.wrap(
      text, _WIDTH, initial_indent=pad,
      subsequent_indent=pad + " " * (len(text) - len(text.lstrip())),
      break_long_words=False, break_on_hyphens=False)]  # Paths stay whole.


def _flow(value: Any) -> str:
  """`value` as one line of flow YAML (inside a list: a lone scalar would end with
  a document end marker)."""
  return yaml.safe_dump([value], default_flow_style=True, sort_keys=False,
                        width=1 << 30).strip()[1:-1]


def _yaml_lines(prefix: str, value: Any, indent: int) -> list[str]:
  """`prefix` ("key: " or "- ") and `value`: on one line if it fits, else a mapping's
  items one per line below (recursively), as a person would write it."""
  pad = " " * indent
  inline = _flow(value)
  if len(pad + prefix + inline) <= _WIDTH or not isinstance(value, dict) or not value:
    return [pad + prefix + inline]
  inner = indent + 2
  lines = [line for key, item in value.items()
           for line in _yaml_lines(f"{_flow(key)}: ", item, inner)]
  if prefix == "- ":  # The first item goes on the bullet's line.
    return [pad + prefix + lines[0][inner:], *lines[1:]]
  return [pad + prefix.rstrip(), *lines]


@dataclasses.dataclass(frozen=True)
class InferredSpec:
  """A proposed spec: the file's text (with its comments) and what it loads as."""
  text: str
  spec: spec_lib.FeatureSpec
  impressions: LogSample
  detail_pages: LogSample


def infer_spec(impressions: str, detail_pages: str,
               sample_lines: int = DEFAULT_SAMPLE_LINES,
               min_well_typed_fraction: float = DEFAULT_MIN_WELL_TYPED_FRACTION,
               clicks: str = "", label_event: str = "") -> InferredSpec:
  """Proposes a spec from the first `sample_lines` lines of each log.

  Args:
    impressions: Glob of impression log files.
    detail_pages: Glob of detail-page log files.
    sample_lines: Read at most this many lines of each log.
    min_well_typed_fraction: A field is proposed where the job would read at least
      this share of its sampled values; the others are dead letters at join time.
    clicks: Glob of click log files, for the measures; without it, an impression
      with a detail page counts as clicked.
    label_event: The conversion label's event, instead of the proposal's choice.

  Raises:
    ValueError: a glob that matches no file, no usable impression, impressions
      without user_id or item_id (a spec needs both for its identity), a
      `label_event` the sample does not declare, or a setting out of range.
  """
  if sample_lines < 1:
    raise ValueError(f"--sample_lines must be >= 1, got {sample_lines}.")
  if not 0 < min_well_typed_fraction <= 1:
    raise ValueError(f"--min_well_typed_fraction must be in (0, 1], got "
                     f"{min_well_typed_fraction}.")
  imp, details = _ImpressionSample(), _DetailSample()
  imp_sample = imp.read(impressions, sample_lines)
  detail_sample = details.read(detail_pages, sample_lines)
  click_log, click_sample = (_ClickSample(), None) if clicks else (None, None)
  if click_log is not None:
    click_sample = click_log.read(clicks, sample_lines)
  proposal = _Proposer(imp, details, _Measures(imp, details, click_log),
                       min_well_typed_fraction, label_event).propose()
  text = _render(proposal, imp_sample, detail_sample, click_sample,
                 min_well_typed_fraction)
  # What is written is what loads: the text itself is parsed, comments and all.
  spec = spec_lib.FeatureSpec.from_dict(yaml.safe_load(text))
  return InferredSpec(text, spec, imp_sample, detail_sample)


def write(inferred: InferredSpec, path: str) -> None:
  with FileSystems.create(path) as f:
    f.write(inferred.text.encode("utf-8"))


@dataclasses.dataclass(frozen=True)
class InferJob:
  """Which logs to sample, and where the proposed spec goes."""
  impressions: str = knob(help="Glob of impression log files.")
  detail_pages: str = knob(help="Glob of detail-page log files.")
  output: str = knob(help="Where the proposed spec (YAML) is written (local or gs://).")
  sample_lines: int = knob(DEFAULT_SAMPLE_LINES, "Read at most this many lines of "
                           "each log.")
  min_well_typed_fraction: float = knob(
      DEFAULT_MIN_WELL_TYPED_FRACTION, "Propose a field where the join would read at "
      "least this share of its sampled values (of every sampled record, for a "
      "top-level field); it dead-letters the others, and each entry's comment counts "
      "them.")
  clicks: str = knob("", "Glob of click log files: the clicks the measures read "
                     "(crosses, labels, leaks). Without it, an impression with a "
                     "detail page counts as clicked.")
  label_event: str = knob("", "The detail-page event of the conversion label, "
                          "instead of the proposal's choice (by its positives and "
                          "name).")


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(InferJob)
  inferred = infer_spec(job.impressions, job.detail_pages, job.sample_lines,
                        job.min_well_typed_fraction, job.clicks, job.label_event)
  write(inferred, job.output)
  print(f"impressions: {inferred.impressions.describe()}")
  print(f"detail_pages: {inferred.detail_pages.describe()}")
  print(f"Wrote {len(inferred.spec)} features to {job.output}.")


if __name__ == "__main__":
  config_flags.define(InferJob, required=["impressions", "detail_pages", "output"])
  cli.run(main)
