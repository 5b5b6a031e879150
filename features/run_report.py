"""The join job's run report: its fact keys, how facts become the report, how it is read.

The job's workers emit facts (`<key>: count`, summed per key); the launcher turns them
into `run_report.json` (`build_report`), and every reader (input, summary, the trainers)
goes through `RunReport`. Keys are built and parsed here only. No Beam, no TensorFlow.
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable, Mapping

from features import layout

EVAL_START = "eval_start_ms"
RUN_ID = "run_id"  # The join run that published the dataset (its staging name).
_READ, _DEAD, _NOTE, _VOCAB, _SHARD = "read", "dead_letter", "note", "vocab_size", "shard"
_EXAMPLES, _POSITIVES = "examples", "positives"
_DECLARED, _UNDECLARED, _PARSED = "coverage", "undeclared", "parsed"
_DAY, _UNREADABLE = "day", "unreadable"
DAY_MS = 24 * 3600 * 1000
JOINED, DUPLICATE = "joined", "duplicate"  # What happened to a line that was kept.
# A daily join's lines owned by another day's run (pipelines/day_window.py): a line
# of another UTC day, and an event of the day on an earlier day's impression.
ANOTHER_DAY, JOINED_EARLIER = "another_day", "joined_earlier"


def fact(key: str, value: int = 1) -> tuple[str, int]:
  """A worker's fact: `value` to add to `key`'s sum."""
  return key, value


def read(log: str) -> str:
  return f"{_READ}/{log}"


def dead_letter(log: str, reason: str) -> str:
  return f"{_DEAD}/{log}/{reason}"


def outcome(log: str, what: str) -> str:
  """`what`: JOINED or DUPLICATE."""
  return f"{what}/{log}"


def note(name: str) -> str:
  return f"{_NOTE}/{name}"


def vocabulary_size(vocab_name: str) -> str:
  return f"{_VOCAB}/{vocab_name}"


def shard(shard_name: str) -> str:
  return f"{_SHARD}/{shard_name}"


def examples(split: str) -> str:
  return f"{_EXAMPLES}/{split}"


def positives(split: str, label: str) -> str:
  return f"{_POSITIVES}/{split}/{label}"


def parsed_impressions() -> str:
  """Valid impression records parsed: the denominator of coverage."""
  return f"{_PARSED}/impressions"


def declared_coverage(feature: str) -> str:
  """Parsed impression records that carry the declared logged `feature`."""
  return f"{_DECLARED}/{feature}"


def undeclared_key(path: str) -> str:
  """Parsed impression records that carry `path` (`user.<key>`, ...), which no feature
  declares."""
  return f"{_UNDECLARED}/{path}"


def utc_day(ts_ms: int) -> str:
  """The UTC calendar day of `ts_ms`, as YYYY-MM-DD."""
  return time.strftime("%Y-%m-%d", time.gmtime(ts_ms // DAY_MS * 86_400))


def day_lines(log: str, day: str) -> str:
  """Valid records of `log` whose time falls on UTC `day`."""
  return f"{_DAY}/lines/{log}/{day}"


def day_examples(day: str) -> str:
  """Examples (joined impressions) of UTC `day`."""
  return f"{_DAY}/examples/{day}"


def day_positives(label: str, day: str) -> str:
  """Examples of UTC `day` whose `label` is 1."""
  return f"{_DAY}/positives/{label}/{day}"


def unreadable(path: str) -> str:
  """A log file that could not be read to its end; the fact is its whole lines."""
  return f"{_UNREADABLE}/{path}"


def _days(facts: Mapping[str, int]) -> dict[str, dict[str, Any]]:
  """UTC day -> its valid lines per log, examples and positives per label."""
  days: dict[str, dict[str, Any]] = {}

  def day(name: str) -> dict[str, Any]:
    return days.setdefault(name, {"lines": {}, "examples": 0, "positives": {}})
  for key, n in _with_prefix(facts, _DAY).items():
    what, _, rest = key.partition("/")
    if what == "examples":
      day(rest)["examples"] = n
    else:
      owner, _, name = rest.rpartition("/")
      day(name)[what][owner] = n
  return dict(sorted(days.items()))


def _with_prefix(facts: Mapping[str, int], prefix: str) -> dict[str, int]:
  return {k[len(prefix) + 1:]: v for k, v in sorted(facts.items())
          if k.startswith(prefix + "/")}


def shard_lengths(facts: Mapping[str, int], dataset_name: str
                  ) -> dict[str, list[int]]:
  """Split -> its shards' record counts, in shard order (tfds' metadata)."""
  lengths: dict[str, list[tuple[str, int]]] = {}
  for name, n in _with_prefix(facts, _SHARD).items():
    lengths.setdefault(layout.split_of_shard(name, dataset_name), []).append((name, n))
  return {split: [n for _, n in sorted(v)] for split, v in lengths.items()}


def build_report(facts: Mapping[str, int], logs: Iterable[str],
                 impressions_log: str, declared: Iterable[str],
                 max_bad_fraction: float) -> dict[str, Any]:
  """Reconciles every input line: in an example, in the dead letter, or a duplicate.

  Args:
    facts: The job's summed facts.
    logs: Every log's name; `impressions_log` is the one whose kept lines are the
      examples (the others' are joined events).
    declared: The spec's logged features (each gets a coverage entry, 0 included).
    max_bad_fraction: The dead-letter fraction above which the run fails.
  """
  split_examples = {s: facts.get(examples(s), 0) for s in layout.SPLITS}
  inputs, dead_total, read_total = {}, 0, 0
  for log in logs:
    dead = _with_prefix(facts, f"{_DEAD}/{log}")
    kept = (sum(split_examples.values()) if log == impressions_log
            else facts.get(outcome(log, JOINED), 0))
    entry = {"lines": facts.get(read(log), 0), "in_examples": kept,
             "duplicate": facts.get(outcome(log, DUPLICATE), 0), "dead_letter": dead}
    # Only a daily join has them: a full join's entry keeps its keys.
    elsewhere = {what: facts[outcome(log, what)] for what in (ANOTHER_DAY,
                                                             JOINED_EARLIER)
                 if outcome(log, what) in facts}
    entry.update(elsewhere)
    entry["reconciled"] = entry["lines"] == (kept + entry["duplicate"]
                                             + sum(dead.values())
                                             + sum(elsewhere.values()))
    inputs[log] = entry
    dead_total += sum(dead.values())
    read_total += entry["lines"] - elsewhere.get(ANOTHER_DAY, 0)
  parsed = facts.get(parsed_impressions(), 0)
  carried = {f: facts.get(declared_coverage(f), 0) for f in declared}
  return {
      "inputs": inputs,
      "examples": split_examples,
      "positives": _with_prefix(facts, _POSITIVES),
      EVAL_START: facts.get(EVAL_START),
      "dead_letter_lines": dead_total,
      "bad_fraction": dead_total / read_total if read_total else 0.0,
      "max_bad_fraction": max_bad_fraction,
      "reconciled": all(e["reconciled"] for e in inputs.values()),
      "unreadable_files": _with_prefix(facts, _UNREADABLE),
      "days": _days(facts),
      "notes": _with_prefix(facts, _NOTE),
      "vocabulary_sizes": _with_prefix(facts, _VOCAB),
      "coverage": {
          "parsed_impressions": parsed,
          "declared": {f: {"records": n, "fraction": n / parsed if parsed else 0.0}
                       for f, n in sorted(carried.items())},
          "logged_not_declared": _with_prefix(facts, _UNDECLARED),
      },
  }


class RunReport:
  """A published dataset's run_report.json, read."""

  def __init__(self, report: Mapping[str, Any]):
    self.data = dict(report)

  @classmethod
  def from_json(cls, text: str) -> RunReport:
    return cls(json.loads(text))

  def to_json(self) -> str:
    return json.dumps(self.data, indent=2, sort_keys=True)

  def examples(self, split: str) -> int:
    return self.data["examples"][split]

  def positives(self, split: str, label: str) -> int:
    return self.data["positives"].get(f"{split}/{label}", 0)

  @property
  def eval_start_ms(self) -> int | None:
    """The eval split's first millisecond (features/time_split.py): the train split
    is what came before; None in a report written before it was recorded."""
    return self.data.get(EVAL_START)

  @property
  def run_id(self) -> str | None:
    """The join run that published the dataset; None in a report written before runs
    recorded it."""
    return self.data.get(RUN_ID)

  @property
  def vocabulary_sizes(self) -> dict[str, int]:
    return dict(self.data["vocabulary_sizes"])

  @property
  def coverage(self) -> dict[str, Any]:
    return self.data["coverage"]

  def headline(self) -> list[str]:
    """What a run did, in a few lines for a person (the report holds the rest)."""
    data = self.data
    splits = []
    for split, n in data["examples"].items():
      positives = ", ".join(f"{key.split('/')[1]} {count:,}" for key, count in
                            data["positives"].items() if key.startswith(split + "/"))
      splits.append(f"{split} {n:,}" + (f" (positives: {positives})" if positives
                                         else ""))
    logs = ", ".join(f"{log} {entry['lines']:,}" for log, entry in data["inputs"].items())
    duplicates = sum(entry["duplicate"] for entry in data["inputs"].values())
    days = list(self.days)
    lines = [f"examples: {'; '.join(splits)}",
             f"lines read: {logs}; dead letter {data['dead_letter_lines']:,} "
             f"({data['bad_fraction']:.2%}), duplicates {duplicates:,}"]
    if days:
      lines.append(f"days: {len(days)}, {days[0]} to {days[-1]}; anomalies: "
                   + ("; ".join(data["anomalies"]) or "none"))
    if "drift" in data:
      lines.append(f"drift against {data['drift']['baseline']}: "
                   + ("; ".join(data["drift"]["findings"]) or "none"))
    return lines

  @property
  def days(self) -> dict[str, dict[str, Any]]:
    """UTC day -> {"lines": {log: n}, "examples": n, "positives": {label: n}}; empty
    in a report written before days were counted."""
    return self.data.get("days", {})
