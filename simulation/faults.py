"""Fault injection: extra bad lines the join must survive, each with its exact outcome.

Every fault ADDS a line (a broken copy of a clean record, a duplicate, an orphan event,
a blank line...) at a random place in the shard; clean lines are never touched, so the
job's examples are identical to the no-fault run, and `faults.jsonl` lists what the job
must do with each added line: `dead_letter:<reason>` per LOG_CONTRACT.md's reason table,
or `duplicate`. Each fault copies a different clean line, so no two added lines parse to
the same record (which would turn one of them into a duplicate instead), and every
broken copy fails the earliest check of the contract's precedence it is meant to fail:

| kind | the added line |
| --- | --- |
| empty_line | "" |
| malformed_json | a clean line cut short |
| missing_field | a clean record without one required field |
| wrong_type | a clean record with `ts_ms` as a string |
| invalid_value | position -1 / ts_ms at 2100-01-01 / event "teleport" (by log) |
| duplicate | a clean line, again |
| conflicting_duplicate | an impression's copy with `user_id` + "x" (the clean one is kept) |
| orphan_event | a clean event with an impression_id no impression has |
| event_before_impression | a clean event mirrored to before its impression |
| detail_without_click | a view on an impression that has no click |
"""

import dataclasses
import json
from collections.abc import Sequence

import numpy as np

from simulation import config as config_lib

FAULT_KINDS = ("empty_line", "malformed_json", "missing_field", "wrong_type",
               "invalid_value", "duplicate", "conflicting_duplicate", "orphan_event",
               "event_before_impression", "detail_without_click")
_COMMON_KINDS = FAULT_KINDS[:6]
KINDS_BY_LOG = {
    "impressions": _COMMON_KINDS + ("conflicting_duplicate",),
    "clicks": _COMMON_KINDS + ("orphan_event", "event_before_impression"),
    "detail_pages": _COMMON_KINDS + ("orphan_event", "event_before_impression",
                                     "detail_without_click"),
}
# Required fields a missing_field copy may lose: what is left still names one source
# line (event ids and timestamps stay), so two copies never parse to the same record.
_REMOVABLE_FIELDS = {
    "impressions": ("impression_id", "user_id", "item_id", "ts_ms"),
    "clicks": ("ts_ms",),
    "detail_pages": ("event",),
}


@dataclasses.dataclass(frozen=True)
class FaultConfig:
  """Which faults to add, and how many.

  Attributes:
    fraction: each clean line is, with this probability, the source of one added faulty
      line (of a kind drawn uniformly from those in `kinds` that apply to its log).
    kinds: names from FAULT_KINDS.
  """
  fraction: float
  kinds: tuple[str, ...] = FAULT_KINDS

  def __post_init__(self):
    if not 0 <= self.fraction <= 1:
      raise ValueError(f"FaultConfig.fraction={self.fraction!r} must be in [0, 1].")
    unknown = sorted(set(self.kinds) - set(FAULT_KINDS))
    if unknown or not self.kinds:
      raise ValueError(f"FaultConfig.kinds={self.kinds!r}: expected a non-empty subset "
                       f"of {FAULT_KINDS}.")


@dataclasses.dataclass(frozen=True)
class Fault:
  """One added line: where it is, what it is, and what the join must make of it.

  Attributes:
    log: "impressions", "clicks" or "detail_pages".
    file: the shard's path relative to the output directory.
    line: 1-based line number in the (decompressed) shard.
    kind: a name from FAULT_KINDS.
    expected: "dead_letter:<reason>" or "duplicate".
  """
  log: str
  file: str
  line: int
  kind: str
  expected: str


class FaultInjector:
  """Adds faulty lines to shards; one instance (one random stream) per run."""

  def __init__(self, config: FaultConfig, rng: np.random.Generator):
    self._config = config
    self._rng = rng
    self._orphans = 0

  def inject(self, log: str, file: str, lines: Sequence[str],
             impression_ts_ms: np.ndarray | None = None,
             unclicked: tuple[Sequence[str], np.ndarray] | None = None,
             ) -> tuple[list[str], list[Fault]]:
    """Returns `lines` with faulty lines inserted, and the list of those faults.

    Args:
      log: which log the shard belongs to (a key of KINDS_BY_LOG).
      file: the shard's path relative to the output directory, for `Fault.file`.
      lines: [n] the clean lines.
      impression_ts_ms: [n] int64, for event logs: the timestamp of each line's
        impression (to move a copy before it).
      unclicked: for detail pages: ids and [u] timestamps of impressions without a
        click (to hang a detail event on).
    """
    rng = self._rng
    kinds = [kind for kind in self._config.kinds if kind in KINDS_BY_LOG[log]]
    if not kinds or not lines:
      return list(lines), []
    count = rng.binomial(len(lines), self._config.fraction)
    sources = rng.choice(len(lines), count, replace=False)
    drawn = rng.choice(kinds, count)
    spare_unclicked = iter(rng.permutation(len(unclicked[1])) if unclicked else ())
    added, added_kinds = [], []
    for source, kind in zip(sources.tolist(), drawn.tolist()):
      if kind == "detail_without_click":
        target = next(spare_unclicked, None)
        if target is None:
          continue
        added.append(self._view_without_click(unclicked[0][target],
                                              int(unclicked[1][target])))
      else:
        ts = None if impression_ts_ms is None else int(impression_ts_ms[source])
        added.append(self._broken_copy(log, kind, lines[source], ts))
      added_kinds.append(kind)

    # Insert each added line before a random clean line (or at the end).
    before = rng.integers(0, len(lines) + 1, len(added))
    order = np.lexsort((np.arange(len(lines) + len(added)),
                        np.concatenate([2 * np.arange(len(lines)) + 1, 2 * before])))
    merged = list(lines) + added
    line_numbers = np.empty(len(order), np.int64)
    line_numbers[order] = np.arange(1, len(order) + 1)
    faults = [Fault(log=log, file=file, line=int(number), kind=kind,
                    expected="duplicate" if kind == "duplicate" else f"dead_letter:{kind}")
              for number, kind in sorted(zip(line_numbers[len(lines):].tolist(),
                                             added_kinds))]
    return [merged[index] for index in order.tolist()], faults

  def _broken_copy(self, log: str, kind: str, line: str, impression_ts: int | None) -> str:
    """A faulty line of `kind` made from the clean `line`."""
    if kind == "empty_line":
      return ""
    if kind == "malformed_json":
      return line[:self._rng.integers(1, len(line))]
    if kind == "duplicate":
      return line
    record = json.loads(line)
    if kind == "missing_field":
      removable = _REMOVABLE_FIELDS[log] + (("dwell_ms",) if record.get("event") == "view"
                                            else ())
      del record[removable[self._rng.integers(len(removable))]]
    elif kind == "wrong_type":
      record["ts_ms"] = str(record["ts_ms"])
    elif kind == "invalid_value":
      if log == "impressions":
        record["position"] = -1
      elif log == "clicks":
        record["ts_ms"] = config_lib.MAX_TS_MS
      else:
        record["event"] = "teleport"
    elif kind == "conflicting_duplicate":
      # `user_id` sorts last among the contract's keys and a longer id with the same
      # prefix sorts after it, so the clean record stays the canonically smallest.
      record["user_id"] += "x"
    elif kind == "orphan_event":
      self._orphans += 1
      record["impression_id"] = f"orphan{self._orphans:09d}"
    elif kind == "event_before_impression":
      # Mirrored around the impression: before it, and distinct for distinct sources.
      record["ts_ms"] = 2 * impression_ts - record["ts_ms"] - 1
    return json.dumps(record, separators=(",", ":"))

  def _view_without_click(self, impression_id: str, impression_ts: int) -> str:
    ts = impression_ts + int(self._rng.integers(1_000, 600_000))
    return json.dumps({"impression_id": impression_id, "ts_ms": ts, "event": "view",
                       "dwell_ms": 5_000}, separators=(",", ":"))
