"""Token counts by UTC day, carried from one day's dataset to the next.

A vocabulary whose owner declares `min_count_days` or `retire_after_days` is built
from its tokens' counts per day, not from the split's totals: a new token must reach
`min_count` over the window, and a base token unseen for the horizon is retired
(`pipelines.vocabulary.grow`). The join counts its own train examples by day
(`CountTokensByDayFn`); the days before its own come from the base dataset's
`vocab_counts/<vocabulary>.jsonl`, so a daily join reads no earlier day's logs.
One JSON line per token (a token may hold any character but a newline): the last
day it was seen and its counts on the window's days, days as YYYY-MM-DD.
"""

from __future__ import annotations

import collections
import datetime
import json
import posixpath
from typing import Any, Iterable, Mapping, NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from features import run_report

COUNTS_DIR = "vocab_counts"
_EPOCH = datetime.date(1970, 1, 1)

# Vocabulary name -> token -> UTC day (days since the epoch) -> count.
DayCounts = Mapping[str, Mapping[str, Mapping[int, int]]]


class TokenDays(NamedTuple):
  """What the next day needs of one token: when it was last seen (for retirement)
  and its counts by day within the window (for `min_count`)."""
  last_seen: int  # Days since the epoch.
  counts: Mapping[int, int]  # Day -> count, the window's days only.


def path(data_dir: str, vocab_name: str) -> str:
  return posixpath.join(data_dir, COUNTS_DIR, f"{vocab_name}.jsonl")


def _date(day: int) -> str:
  return (_EPOCH + datetime.timedelta(days=day)).isoformat()


def _day(date: str) -> int:
  return (datetime.date.fromisoformat(date) - _EPOCH).days


def read(data_dir: str, vocab_name: str) -> dict[str, TokenDays] | None:
  """A dataset's carried counts of `vocab_name`; None where it has none (a dataset
  whose spec declared no window or horizon for it).

  Raises:
    ValueError: a line that is not a token's counts, naming the file and line.
  """
  file = path(data_dir, vocab_name)
  if not FileSystems.exists(file):
    return None
  carried = {}
  with FileSystems.open(file) as f:
    for number, line in enumerate(f.read().decode("utf-8").splitlines(), 1):
      try:
        row = json.loads(line)
        carried[row["token"]] = TokenDays(
            _day(row["last_seen"]), {_day(d): int(n) for d, n in row["days"].items()})
      except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{file}:{number}: not a token's counts ({e}): "
                         f"{line[:200]!r}.") from e
  return carried


def write(data_dir: str, vocab_name: str, carried: Mapping[str, TokenDays]) -> None:
  """Writes `carried` sorted by token, so a run again writes the same bytes."""
  lines = (json.dumps({"token": token, "last_seen": _date(days.last_seen),
                       "days": {_date(d): n for d, n in sorted(days.counts.items())}},
                      ensure_ascii=False, sort_keys=True)
           for token, days in sorted(carried.items()))
  with FileSystems.create(path(data_dir, vocab_name)) as f:
    f.write("".join(f"{line}\n" for line in lines).encode("utf-8"))


@beam.typehints.with_input_types(list[dict[str, Any]])
class CountTokensByDayFn(beam.CombineFn):
  """Lists of example dicts -> `DayCounts` of the owners' values, by the day of each
  example's `time_feature` (ms since the epoch)."""

  def __init__(self, owners: Mapping[str, str], time_feature: str):
    super().__init__()
    self._owners = dict(owners)  # Vocabulary name -> the feature that owns it.
    self._time = time_feature

  def create_accumulator(self) -> dict[str, collections.Counter]:
    return {name: collections.Counter() for name in self._owners}

  def add_input(self, accumulator, examples: Iterable[Mapping[str, Any]]):
    for example in examples:
      day = example[self._time] // run_report.DAY_MS
      for name, owner in self._owners.items():
        accumulator[name][example[owner], day] += 1
    return accumulator

  def merge_accumulators(self, accumulators):
    merged = self.create_accumulator()
    for accumulator in accumulators:
      for name, counts in accumulator.items():
        merged[name].update(counts)
    return merged

  def extract_output(self, accumulator) -> dict[str, dict[str, dict[int, int]]]:
    out: dict[str, dict[str, dict[int, int]]] = {}
    for name, counts in accumulator.items():
      by_token = out.setdefault(name, {})
      for (token, day), n in counts.items():
        by_token.setdefault(token, {})[day] = n
    return out
