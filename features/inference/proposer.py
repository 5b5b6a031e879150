"""The Proposer: turns the samples and their measures into a `Proposal`.

It proposes the logged features itself (metadata, identity, user, item and context
keys, each numeric or categorical by what the job would read of it) and takes the
events, tasks and labels from `features.inference.tasks`, the derived features from
`features.inference.derived`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from features import spec as spec_lib
from features.inference import derived
from features.inference import tasks
from features.inference.measures import Measures
from features.inference.proposal import Entry, Grouping, Names, Proposal
from features.inference.readings import Range, Reading, categorical_dead, numeric_dead
from features.inference.sampling import (DISTINCT_CAP, MAX_DEPTH, NESTED, DetailSample,
                                         ImpressionSample, Path, ValueStats, percent)
from features.log_contract import (IMPRESSION_ID, IMPRESSION_SCOPE, ITEM_ID, REQUEST_ID,
                                   TS_MS, USER_ID)

# An integer key with at most this many distinct values is a code (city_tier 1/2/3),
# not a quantity.
MAX_CODES = 20
# min_count 2 for an id space this large where this share of the values is seen once:
# a token seen once trains an embedding row on one example, which is noise.
MIN_COUNT_DISTINCT = 1_000
MIN_COUNT_SINGLETON_SHARE = 0.1
# For an id space past DISTINCT_CAP: a few buckets per id seen keeps collisions rare.
_HASH_BINS = 1 << math.ceil(math.log2(4 * DISTINCT_CAP))
_METADATA = {IMPRESSION_ID: spec_lib.DType.STRING, REQUEST_ID: spec_lib.DType.STRING,
             TS_MS: spec_lib.DType.INT64}
_IDENTITY = {"user": USER_ID, "item": ITEM_ID}
_POSITION = "position"


class Proposer:
  """Turns the two samples into a `Proposal`."""

  def __init__(self, impressions: ImpressionSample, details: DetailSample,
               measures: Measures, min_share: float, label_event: str = ""):
    self.imp = impressions
    self.details = details
    self.measures = measures
    self.min_share = min_share
    self.label_event = label_event
    self.names = Names()
    self.out = Proposal()
    self.conversion_label: str | None = None
    # Logged item categories: history and cross candidates.
    self.item_categories: list[Grouping] = []

  def propose(self) -> Proposal:
    if not self.imp.records:
      raise ValueError("no impression line in the sample is a JSON object: nothing "
                       "to propose a spec from.")
    conversion = tasks.events(self)
    tasks.tasks(self, conversion)
    metadata, labels = self._metadata(), tasks.labels(self, conversion)
    user, item, context = self._logged()
    attributes = derived.grouping_attributes(self)
    self.out.sections = [
        ("Metadata: tracing, time and grouping; never model inputs.", metadata),
        ("Labels.", labels), ("User.", user), ("Item.", item), ("Context.", context),
        ("Behaviour: point-in-time correct, most recent click first.",
         derived.behaviour(self, attributes)),
        ("Cross: cheap for a fine ranker, unaffordable for a two-tower pre-ranker.",
         derived.cross(self, attributes)),
        ("Post-event: after the click, before the label event. They would leak the "
         "CTR label.", derived.post_event(self, conversion))]
    for obj in NESTED:
      n = self.imp.records - self.imp.objects[obj]
      if n:
        self.out.notes.append(
            f"`{obj}` is absent or not an object on {percent(n, self.imp.records)} "
            "sampled records: the job requires an object, so those lines are dead "
            "letters at join time.")
    return self.out

  # --- logged features ----------------------------------------------------------
  def _lacking(self, stats: ValueStats) -> str:
    lacking = self.imp.records - stats.carried
    return f"{percent(lacking, self.imp.records)} sampled records lack it"

  def _reading(self, path: Path, stats: ValueStats, read: int,
               dead: dict[str, int]) -> Reading:
    """A top-level field is required on every line: a record lacking it is a dead
    letter. A user / item key a record lacks takes the default, as does one below an
    absent or null object; below any other value (a string, "") it is a dead letter."""
    if path[0] == IMPRESSION_SCOPE:
      return Reading(read, self.imp.records, {
          "lack it": self.imp.records - stats.carried, **dead},
                      "sampled records")
    outer = {}
    for depth in range(2, len(path)):
      outer_stats = self.imp.stats[path[:depth]]
      outer[f"under a {'.'.join(path[:depth])} that is not an object"] = (
          outer_stats.seen - outer_stats.nulls - outer_stats.objects)
    return Reading(read, stats.carried + sum(outer.values()), {**dead, **outer},
                    "sampled records that carry it")

  def _metadata(self) -> list[Entry]:
    entries = []
    for key, dtype in _METADATA.items():
      stats = self.imp.stats.get((IMPRESSION_SCOPE, key))
      if stats is None or not stats.carried:
        continue
      name = self.names.take(key)
      if dtype is spec_lib.DType.STRING:
        read, dead = stats.categories, categorical_dead(stats, None)
      else:  # The impression's time: an integer in the contract's range.
        numbers = np.frombuffer(stats.numbers, dtype=np.float64)
        read = min(stats.ints, int(np.count_nonzero(
            (numbers >= spec_lib.MIN_TS_MS) & (numbers < spec_lib.MAX_TS_MS))))
        dead = {"not an integer ms time in the contract's range":
                stats.carried - read}
      notes = [f"{self._lacking(stats)}; the job requires it on every line.",
               *self._reading((IMPRESSION_SCOPE, key), stats, read, dead).comment()]
      if key == REQUEST_ID:
        self.out.identity["request"] = name
        notes.append("identity.request: ranking losses and metrics rank within it.")
      entries.append(Entry(
          {"name": name, "kind": "metadata", "dtype": dtype.value,
           "source": f"impression.{key}"}, notes))
    return entries

  def _logged(self) -> tuple[list[Entry], list[Entry], list[Entry]]:
    groups: dict[str, list[Entry]] = {"user": [], "item": [], "context": []}
    for role, key in _IDENTITY.items():
      path = (IMPRESSION_SCOPE, key)
      stats = self.imp.stats.get(path)
      if stats is None or not stats.carried:
        raise ValueError(f"no sampled impression has `{key}`: a spec's identity.{role} "
                         "names the feature read from it (LOG_CONTRACT.md).")
      self.out.identity[role] = self.names.take(key)
      reading = self._reading(path, stats, stats.categories,
                              categorical_dead(stats, None))
      groups[role].append(self._categorical(
          self.out.identity[role], path, stats, role, reading,
          f"identity.{role}: ids are categories, whatever their type."))
    skip = {(IMPRESSION_SCOPE, k) for k in [*_METADATA, *_IDENTITY.values()]}
    object_paths = {
        path for path, stats in self.imp.stats.items()
        if stats.carried and stats.objects >= self.min_share * stats.carried}
    for path, stats in sorted(self.imp.stats.items(), key=source_order):
      if path in skip or not all(path[:n] in object_paths for n in range(2, len(path))):
        continue  # Keys of the few objects of a key that mostly holds values.
      group = path[0] if path[0] in NESTED else "context"
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

  def _object_note(self, path: Path, stats: ValueStats) -> None:
    source = ".".join(path)
    if path[0] == IMPRESSION_SCOPE:
      self.out.notes.append(
          f"Not proposed: {source}, an object on "
          f"{percent(stats.objects, stats.carried)} sampled records that carry it: "
          "only `user` / `item` keys are read at depth (user.<key>.<key>).")
      return
    if len(path) >= MAX_DEPTH:
      self.out.notes.append(f"Not proposed: the keys of {source}: objects nested "
                            "this deep are not walked (name a key by hand if it "
                            "matters).")
      return
    other = stats.seen - stats.nulls - stats.objects
    if other:  # Else its keys' dotted sources say it all.
      self.out.notes.append(
          f"{source}: an object on {percent(stats.objects, stats.seen)} sampled "
          f"records that have it, its keys proposed as {source}.<key>; the other "
          f"{other:,} values (neither objects nor null) are dead letters at join time "
          "for each key read below it.")

  def _logged_feature(self, path: Path, stats: ValueStats, group: str
                      ) -> Entry | None:
    """Numeric where numbers are what the job would read (integer codes and ids
    excepted), else categorical where strings, integers and booleans are; None (with
    a header note) where either reading leaves too many dead letters. Position
    privileged."""
    source = ".".join(path)
    numbers = (Range.of(stats, self.min_share) if stats.ints + stats.floats
               >= self.min_share * stats.carried else None)
    name = self.names.take(".".join(path[1:]), prefix=path[0])
    coded = False
    if numbers is not None and path == (IMPRESSION_SCOPE, _POSITION):
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
    reading = (self._reading(path, stats, numbers.inside, numeric_dead(stats, numbers))
               if numeric else
               self._reading(path, stats, stats.categories,
                             categorical_dead(stats, numbers)))
    if not reading.enough(self.min_share):
      self.names.taken.discard(name)
      self.out.notes.append(f"Not proposed: {source}, read as "
                            f"{'numeric' if numeric else 'categorical'}. "
                            f"{reading.describe()}")
      return None
    if numeric:
      privileged = list(self.out.tasks) if path == (IMPRESSION_SCOPE, _POSITION) else []
      return self._numeric(name, path, stats, group, numbers, reading, privileged, why)
    return self._categorical(name, path, stats, group, reading, why, coded)

  def _categorical(self, name: str, path: Path, stats: ValueStats, group: str,
                   reading: Reading, why: str, coded: bool = False) -> Entry:
    summary = f"{stats.distinct_text()} distinct values; {self._lacking(stats)}"
    row: dict[str, Any] = {"name": name, "kind": "categorical",
                           "source": ".".join(path)}
    if path[0] == IMPRESSION_SCOPE:  # user./item. sources imply their group.
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
      self.item_categories.append(Grouping(
          name, path, DISTINCT_CAP + 1 if stats.capped else distinct,
          reading.read >= self.min_share * self.imp.records, coded))
    return Entry(row, comments)

  def _numeric(self, name: str, path: Path, stats: ValueStats, group: str,
               numbers: Range, reading: Reading, privileged: list[str], why: str
               ) -> Entry:
    row: dict[str, Any] = {"name": name, "kind": "numeric",
                           "dtype": numbers.dtype.value, "source": ".".join(path)}
    if path[0] == IMPRESSION_SCOPE:
      row["group"] = group
    row.update({"bounds": list(numbers.bounds), "default": numbers.default})
    if privileged:
      row["privileged_in"] = privileged
    return Entry(row, [f"{numbers.describe()}; {self._lacking(stats)}.", why,
                        *reading.comment()])


def source_order(item: tuple[Path, ValueStats]) -> tuple[int, Path]:
  """user. keys, then item. keys, then top-level fields; by path within each."""
  path = item[0]
  return ({"user": 0, "item": 1}.get(path[0], 2), path)

