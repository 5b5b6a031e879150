r"""Proposes a feature spec from a sample of the raw logs, for a person to edit.

  python -m features.infer_spec --impressions='raw/impressions/*' \
      --detail_pages='raw/detail_pages/*' --output=spec.yaml [--sample_lines=1000000]

Reads the first `--sample_lines` lines of each log (files in name order) and counts
what every top-level impression field and every `user.<key>` / `item.<key>` holds, and
which detail-page event types carry which numeric fields. From that it writes a
version-2 spec (features/spec.py) whose every entry carries a comment: what the sample
showed and why it is proposed so. The file loads with `features.spec.load_spec_file`,
so the join job can read it as written.

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

from absl import app
from apache_beam.io.filesystems import FileSystems
import numpy as np
import yaml

import config_flags
from config_flags import knob
from features import spec as spec_lib
from pipelines import log_files

DEFAULT_SAMPLE_LINES = 1_000_000
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
# Item attributes whose click history and clicks-sharing counts are proposed: coarse
# enough that a user's clicks repeat in them, fine enough to say something.
GROUPING_DISTINCT = (3, 10_000)
GROUPING_ATTRIBUTES = 2
# A detail-page field on at least this share of its event's lines is proposed required.
REQUIRED_SHARE = 0.999
CONVERSION_NAMES = re.compile(r"purchase|order|buy|pay|convert|checkout")
CLICK_WINDOW = "30m"
ATTRIBUTION_WINDOW = "24h"
CROSS_WINDOW = "24h"
HISTORY_LENGTH = 50
# For an id space past DISTINCT_CAP: a few buckets per id seen keeps collisions rare.
_HASH_BINS = 1 << math.ceil(math.log2(4 * DISTINCT_CAP))
_BOUNDS_WHY = ("Numeric bounds: 0 (or below the sample's min) to max(2 x p99.9, max): "
               "no sampled value falls outside, with room for what the sample missed; "
               "a value outside is a dead letter. A numeric default is the sample's "
               "median, so a record lacking the value looks typical.")

# Lines whose values are held before they are counted, in C, a key at a time.
_BATCH_RECORDS = 65_536
_WIDTH = 88  # Of the written file's lines.
_NESTED = ("user", "item")  # The impression's objects whose keys are features.
_METADATA = {"impression_id": spec_lib.DType.STRING,
             "request_id": spec_lib.DType.STRING, "ts_ms": spec_lib.DType.INT64}
_IDENTITY = {"user": "user_id", "item": "item_id"}
_REQUEST = "request_id"  # The metadata key that groups a request's impressions.
_POSITION = "position"
_EVENT_KEYS = {"impression_id", "ts_ms", "event"}  # Every detail line's; not fields.
_SCALARS = (str, int, float, type(None))  # Else (bool, list, object): unusable.


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


class _ValueStats:
  """What one key held over the sample, absorbed a batch of raw values at a time."""

  def __init__(self):
    self.present = 0  # Usable values: not null, not "", a string or a number.
    self.unusable = 0  # Booleans, lists, objects.
    self.strings = 0
    self.floats = 0
    self.counts: collections.Counter = collections.Counter()  # Exact until capped.
    self.capped = False
    self.numbers = array.array("d")

  def absorb(self, values: list[Any]) -> None:
    batch = None if self.capped else _counts(values)
    if batch is None:
      types = collections.Counter(map(type, values))
    else:  # From the distinct values: far fewer than the values, for most keys.
      types = collections.Counter()
      for value, n in batch.items():
        types[type(value)] += n
    unusable = sum(n for t, n in types.items() if t not in _SCALARS)
    if unusable:
      values = [v for v in values if type(v) in _SCALARS]
    if not types[str]:
      empty = 0
    elif batch is not None:
      empty = batch.get("", 0)
    else:
      empty = values.count("")
    self.unusable += unusable
    self.present += len(values) - types[type(None)] - empty
    self.strings += types[str] - empty
    self.floats += types[float]
    if types[int] or types[float]:
      self.numbers.extend(values if types[int] + types[float] == len(values) else
                          [v for v in values if type(v) in (int, float)])
    if batch is not None:
      batch.pop(None, None)
      batch.pop("", None)
      self.counts.update(batch)
      self.capped = len(self.counts) > DISTINCT_CAP

  @property
  def is_string(self) -> bool:
    return self.strings > 0

  def distinct_text(self) -> str:
    return f">{DISTINCT_CAP // 1000}k" if self.capped else f"{len(self.counts):,}"

  def singletons(self) -> int:
    return sum(1 for n in self.counts.values() if n == 1)


def _counts(values: list[Any]) -> collections.Counter | None:
  """Each value's count (in C), or None when a list or an object is among them."""
  try:
    return collections.Counter(values)
  except TypeError:  # Unhashable.
    return None


@dataclasses.dataclass(frozen=True)
class _Range:
  """The finite numbers of a key, summarised; `bounds` is what the spec proposes."""
  low: float
  high: float
  median: float
  p001: float
  p999: float
  non_finite: int
  integral: bool

  @classmethod
  def of(cls, stats: _ValueStats) -> _Range | None:
    numbers = np.frombuffer(stats.numbers, dtype=np.float64)
    finite = numbers[np.isfinite(numbers)]
    if not finite.size:
      return None
    p001, median, p999 = np.quantile(finite, [0.001, 0.5, 0.999])
    return cls(float(finite.min()), float(finite.max()), float(median), float(p001),
               float(p999), int(numbers.size - finite.size), stats.floats == 0)

  @property
  def bounds(self) -> list[float | int]:
    """[0 or below the sample, 2 x p99.9 or the sample's max]: a value no sampled
    record breaks, with room for what a sample misses; mirrored for negatives."""
    low = 0.0 if self.low >= 0 else min(self.low, 2 * self.p001)
    high = 0.0 if self.high <= 0 else max(self.high, 2 * self.p999)
    return [self._number(_round_sig(low, math.floor)),
            self._number(_round_sig(high, math.ceil))]

  @property
  def default(self) -> float | int:
    return self._number(_round_sig(self.median, round))

  def _number(self, x: float) -> float | int:
    return int(x) if self.integral else x

  def describe(self) -> str:
    text = (f"range [{_fmt(self.low)}, {_fmt(self.high)}], median {_fmt(self.median)}, "
            f"p99.9 {_fmt(self.p999)}")
    if self.non_finite:
      text += f"; {self.non_finite:,} non-finite values (dead letters in the job)"
    return text


def _round_sig(x: float, rounding: Callable[[float], float], digits: int = 2) -> float:
  """x to `digits` significant digits, rounded by `rounding`: bounds people can read."""
  if x == 0:
    return 0.0
  exponent = math.floor(math.log10(abs(x))) - digits + 1
  # Through the decimal text, so that 1.3 is 1.3 and not 13 * 0.1.
  return float(f"{int(rounding(x / 10.0 ** exponent))}e{exponent}")


def _fmt(x: float) -> str:
  return f"{x:,.0f}" if abs(x) >= 1000 or float(x).is_integer() else f"{x:.4g}"


def _percent(part: int, whole: int) -> str:
  return f"{part:,} of {whole:,} ({part / whole:.1%})" if whole else f"{part:,}"


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
  except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors.
    return None


class _ImpressionSample:
  """The values of every top-level field and `user.` / `item.` key, by source."""

  def __init__(self):
    self.records = 0
    self.stats: dict[str, _ValueStats] = collections.defaultdict(_ValueStats)
    self.not_objects: collections.Counter = collections.Counter()  # user/item

  def read(self, pattern: str, limit: int) -> LogSample:
    sample = LogSample(pattern)
    # Values by key until the batch is counted: one append per value, in the loop
    # that has the record at hand (keyed by the raw key: no string built per value).
    top: dict[str, list] = collections.defaultdict(list)
    nested = {obj: collections.defaultdict(list) for obj in _NESTED}
    for path, number, record in _lines(pattern, "impressions", limit, sample):
      if type(record) is not dict:
        sample.skip(path, number)
        continue
      self.records += 1
      for key, value in record.items():
        bucket = nested.get(key)
        if bucket is None:
          top[key].append(value)
        elif type(value) is dict:
          for sub, v in value.items():
            bucket[sub].append(v)
        elif value is not None:
          self.not_objects[key] += 1
      if self.records % _BATCH_RECORDS == 0:
        self._absorb(top, nested)
    self._absorb(top, nested)
    return sample

  def _absorb(self, top: dict[str, list], nested: dict[str, dict[str, list]]) -> None:
    for obj, pending in [("impression", top), *nested.items()]:
      for key, values in pending.items():
        self.stats[f"{obj}.{key}"].absorb(values)
      pending.clear()


class _DetailSample:
  """Lines per event type, and the values of each of its fields."""

  def __init__(self):
    self.lines: collections.Counter = collections.Counter()
    self.fields: dict[str, dict[str, _ValueStats]] = collections.defaultdict(
        lambda: collections.defaultdict(_ValueStats))

  def read(self, pattern: str, limit: int) -> LogSample:
    sample = LogSample(pattern)
    pending: dict[tuple[str, str], list] = collections.defaultdict(list)
    for path, number, record in _lines(pattern, "detail_pages", limit, sample):
      event = record.get("event") if type(record) is dict else None
      if type(event) is not str or not event:
        sample.skip(path, number)
        continue
      self.lines[event] += 1
      for key, value in record.items():
        if key not in _EVENT_KEYS:
          pending[event, key].append(value)
      if sample.lines % _BATCH_RECORDS == 0:
        self._absorb(pending)
    self._absorb(pending)
    return sample

  def _absorb(self, pending: dict[tuple[str, str], list]) -> None:
    for (event, key), values in pending.items():
      self.fields[event][key].absorb(values)
    pending.clear()


def _sanitize(key: str) -> str:
  name = re.sub(r"[^a-z0-9_]+", "_", key.lower()).strip("_") or "field"
  return f"f_{name}" if name[0].isdigit() else name


class _Names:
  """Unique feature names: the sanitized key, else prefixed by its object, else
  numbered."""

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


class _Proposer:
  """Turns the two samples into a `_Proposal`."""

  def __init__(self, impressions: _ImpressionSample, details: _DetailSample):
    self.imp = impressions
    self.details = details
    self.names = _Names()
    self.out = _Proposal()
    self.conversion_label: str | None = None
    # Logged item categories (feature name -> stats): history and cross candidates.
    self.item_categories: dict[str, _ValueStats] = {}

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
    for obj, n in sorted(self.imp.not_objects.items()):
      self.out.notes.append(f"`{obj}` is not an object on "
                            f"{_percent(n, self.imp.records)} sampled records; their "
                            "keys count as absent.")
    return self.out

  # --- events, tasks and labels -------------------------------------------------
  def _events(self) -> str | None:
    """Declares every event type; returns the conversion event (None without one)."""
    total = sum(self.details.lines.values())
    for event, lines in self.details.lines.most_common():
      fields, comments = {}, [f"{event}: {_percent(lines, total)} detail-page lines."]
      for key, stats in sorted(self.details.fields[event].items()):
        numbers = None if stats.is_string or stats.unusable else _Range.of(stats)
        if numbers is None:
          comments.append(f"  Not a field: `{key}` is not always a finite number.")
          continue
        required = stats.present >= REQUIRED_SHARE * lines
        fields[key] = {"dtype": "int64" if numbers.integral else "float32",
                       "bounds": numbers.bounds}
        if required:
          fields[key]["required"] = True
        comments.append(
            f"  {key}: on {_percent(stats.present, lines)} lines; "
            f"{numbers.describe()}. " + (
                "Required: a line without it is a dead letter." if required
                else "Optional: some lines lack it."))
      self.out.events[event] = _Entry({"fields": fields} if fields else {}, comments)
    if not self.details.lines:
      self.out.notes.append("No detail-page event in the sample: no conversion task, "
                            "no post-event features.")
      return None
    named = sorted(e for e in self.details.lines if CONVERSION_NAMES.search(e.lower()))
    conversion = named[0] if named else min(self.details.lines,
                                            key=lambda e: (self.details.lines[e], e))
    self.out.events[conversion].comments.append(
        "  The conversion label's event: " + (
            "its name says so." if named else
            "no event is named like purchase/order/buy/pay, so the rarest one."))
    return conversion

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
    lacking = self.imp.records - stats.present - stats.unusable
    return f"{_percent(lacking, self.imp.records)} sampled records lack it"

  def _metadata(self) -> list[_Entry]:
    entries = []
    for key, dtype in _METADATA.items():
      stats = self.imp.stats.get(f"impression.{key}")
      if stats is not None and stats.present:
        name = self.names.take(key)
        notes = [f"{self._lacking(stats)}; the job requires it on every line."]
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
      stats = self.imp.stats.get(f"impression.{key}")
      if stats is None or not stats.present:
        raise ValueError(f"no sampled impression has `{key}`: a spec's identity.{role} "
                         "names the feature read from it (LOG_CONTRACT.md).")
      self.out.identity[role] = self.names.take(key)
      groups[role].append(self._categorical(
          self.out.identity[role], f"impression.{key}", stats, role,
          f"identity.{role}: ids are categories, whatever their type."))
    skip = {f"impression.{k}" for k in [*_METADATA, *_IDENTITY.values()]}
    for source, stats in sorted(self.imp.stats.items(), key=_source_order):
      if source in skip:
        continue
      obj, key = source.split(".", 1)
      group = obj if obj in _NESTED else "context"
      numbers = None if stats.is_string or stats.unusable else _Range.of(stats)
      if not stats.present:
        self.out.notes.append(f"Not proposed: {source}, null or \"\" on every sampled "
                              "record that has it.")
      elif stats.unusable or not (stats.is_string or numbers):
        self.out.notes.append(
            f"Not proposed: {source}, which holds {stats.unusable:,} booleans, lists "
            "or objects, or only non-finite numbers: neither a category nor a number.")
      elif obj == "impression" and stats.present < self.imp.records:
        self.out.notes.append(
            f"Not proposed: {source}; {self._lacking(stats)}, and the job requires "
            "an impression.<field> feature on every line.")
      else:
        groups[group].append(self._logged_feature(
            self.names.take(key, prefix=obj), source, stats, group, numbers))
    return groups["user"], groups["item"], groups["context"]

  def _logged_feature(self, name: str, source: str, stats: _ValueStats, group: str,
                      numbers: _Range | None) -> _Entry:
    """Categorical or numeric, by what the values are; position privileged."""
    if source == f"impression.{_POSITION}" and numbers is not None:
      return self._numeric(name, source, stats, group, numbers, list(self.out.tasks), (
          "Position: privileged for every task. A ranker scores before positions "
          "exist, so only the teacher may see it (and the position bias it explains "
          "stays out of the student)."))
    if numbers is None:
      return self._categorical(name, source, stats, group, "Categorical: strings.")
    if numbers.integral and len(stats.counts) <= MAX_CODES:
      return self._categorical(
          name, source, stats, group,
          f"Categorical: integers with at most {MAX_CODES} distinct values are codes, "
          "not quantities (make it numeric if their order matters).")
    if numbers.integral and (name == "id" or name.endswith("_id")):
      return self._categorical(name, source, stats, group,
                               "Categorical: integers named like an id.")
    return self._numeric(name, source, stats, group, numbers, [], "Numeric: " + (
        f"integers with more than {MAX_CODES} distinct values." if numbers.integral
        else "floats."))

  def _categorical(self, name: str, source: str, stats: _ValueStats, group: str,
                   why: str) -> _Entry:
    summary = f"{stats.distinct_text()} distinct values; {self._lacking(stats)}"
    row: dict[str, Any] = {"name": name, "kind": "categorical", "source": source}
    if source.startswith("impression."):  # user./item. sources imply their group.
      row["group"] = group
    comments = [f"{summary}.", why]
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
    if stats.is_string and stats.strings < stats.present:
      comments.append(f"Mixed: {stats.present - stats.strings:,} values are numbers, "
                      "read as their decimal strings.")
    if source.startswith("item."):
      self.item_categories[name] = stats
    return _Entry(row, comments)

  def _numeric(self, name: str, source: str, stats: _ValueStats, group: str,
               numbers: _Range, privileged: list[str], why: str) -> _Entry:
    summary = f"{numbers.describe()}; {self._lacking(stats)}"
    row: dict[str, Any] = {"name": name, "kind": "numeric",
                           "dtype": "int64" if numbers.integral else "float32",
                           "source": source}
    if source.startswith("impression."):
      row["group"] = group
    row.update({"bounds": numbers.bounds, "default": numbers.default})
    if privileged:
      row["privileged_in"] = privileged
    return _Entry(row, [f"{summary}.", why])

  # --- derived features ---------------------------------------------------------
  def _grouping_attributes(self) -> list[str]:
    """Logged item categories coarse enough to repeat in a user's clicks: those on
    every record first (a missing value would match every other missing one), then
    the coarsest."""
    low, high = GROUPING_DISTINCT
    candidates = sorted((stats.present < self.imp.records, len(stats.counts), name)
                        for name, stats in self.item_categories.items()
                        if not stats.capped and low <= len(stats.counts) <= high)
    return [name for *_, name in candidates[:GROUPING_ATTRIBUTES]]

  def _behaviour(self, attributes: list[str]) -> list[_Entry]:
    return [_Entry(
        {"name": self.names.take(f"hist_{of}s"), "kind": "sequence",
         "derive": {"op": "history", "of": of}, "max_length": HISTORY_LENGTH,
         "description": f"The {of} of the user's last {HISTORY_LENGTH} clicks before "
                        "the impression."},
        [f"The user's clicked {of}s; they share {of}'s vocabulary."])
            for of in [self.out.identity["item"], *attributes]]

  def _cross(self, attributes: list[str]) -> list[_Entry]:
    """`user_<attribute>_clicks_24h`, as the default spec names them."""
    return [_Entry(
        {"name": self.names.take(
            f"user_{re.sub(r'_id$', '', of)}_clicks_{CROSS_WINDOW}"),
         "kind": "numeric",
         "derive": {"op": "clicks_sharing", "of": of, "window": CROSS_WINDOW},
         "privileged_in": ["ctr"],
         "description": f"The user's clicks in the item's {of} in the last "
                        f"{CROSS_WINDOW}."},
        [f"Privileged for ctr: a user x item cross "
         f"({self.item_categories[of].distinct_text()} {of} values in the sample), "
         "which a two-tower student cannot compute."])
            for of in attributes]

  def _post_event(self, conversion: str | None) -> list[_Entry]:
    if conversion is None:
      return []
    roles = {"privileged_in": ["cvr"], "excluded_from": ["ctr"]}
    why = ("Privileged for cvr (known after the click, before the conversion), "
           "excluded from ctr (it would leak the click).")
    entries = []
    for event, entry in self.out.events.items():
      if event == conversion:
        continue
      entries.append(_Entry(
          {"name": self.names.take(f"{event}_count"), "kind": "numeric",
           "derive": {"op": "count", "event": event}, **roles,
           "description": f"How many {event!r} events after the click, before the "
                          f"{conversion!r}."},
          [why]))
      entries += [_Entry(
          {"name": self.names.take(f"{event}_{field}_total"), "kind": "numeric",
           "derive": {"op": "sum", "event": event, "field": field}, **roles,
           "description": f"The total {field} of the {event!r} events after the "
                          f"click, before the {conversion!r}."}, [why])
                  for field in entry.body.get("fields", {})]
    return entries


def _source_order(item: tuple[str, _ValueStats]) -> tuple[int, str]:
  """user. keys, then item. keys, then top-level fields; by name within each."""
  return ({"user": 0, "item": 1}.get(item[0].split(".")[0], 2), item[0])


def _ctr_model_defaults() -> dict[str, Any]:
  """The default spec's CTR deployment (`model_defaults`): the contract's user_id
  and item_id name the identity here as there."""
  defaults = {k: list(v) if isinstance(v, tuple) else v
              for k, v in spec_lib.DEFAULT_SPEC.task("ctr").model_defaults}
  return {"model_defaults": defaults} if defaults else {}


def _render(proposal: _Proposal, impressions: LogSample, details: LogSample) -> str:
  """The proposal as YAML, each entry under its comment."""
  out = _comment([
      "A feature spec proposed by `python -m features.infer_spec` from a sample of",
      f"  impressions: {impressions.describe()};",
      f"  detail_pages: {details.describe()}.",
      "Skipped: lines that are not a JSON object, and detail-page lines without an "
      "`event` string.",
      "A proposal to edit, not a verdict: each entry's comment says what the sample "
      "showed and why it is proposed so. The format: WORKSPACE.md, \"The feature spec "
      "file\"; check an edit with features.spec.load_spec_file.",
      _BOUNDS_WHY, *proposal.notes], 0)
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
               sample_lines: int = DEFAULT_SAMPLE_LINES) -> InferredSpec:
  """Proposes a spec from the first `sample_lines` lines of each log.

  Raises:
    ValueError: a glob that matches no file, no usable impression, or impressions
      without user_id or item_id (a spec needs both for its identity).
  """
  if sample_lines < 1:
    raise ValueError(f"--sample_lines must be >= 1, got {sample_lines}.")
  imp, details = _ImpressionSample(), _DetailSample()
  imp_sample = imp.read(impressions, sample_lines)
  detail_sample = details.read(detail_pages, sample_lines)
  proposal = _Proposer(imp, details).propose()
  text = _render(proposal, imp_sample, detail_sample)
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


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(InferJob)
  inferred = infer_spec(job.impressions, job.detail_pages, job.sample_lines)
  write(inferred, job.output)
  print(f"impressions: {inferred.impressions.describe()}")
  print(f"detail_pages: {inferred.detail_pages.describe()}")
  print(f"Wrote {len(inferred.spec)} features to {job.output}.")


if __name__ == "__main__":
  config_flags.define(InferJob, required=["impressions", "detail_pages", "output"])
  app.run(main)
