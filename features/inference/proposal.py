"""A proposal's records: the spec being proposed, section by section, each entry with
its comment, the names it has taken, and the item attributes it may group clicks by.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Any

from features.inference.sampling import Path


def sanitize(key: str) -> str:
  name = re.sub(r"[^a-z0-9_]+", "_", key.lower()).strip("_") or "field"
  return f"f_{name}" if name[0].isdigit() else name


class Names:
  """Unique feature names: the sanitized key (a nested one's path, joined by _),
  else prefixed by its object, else numbered."""

  def __init__(self):
    self.taken: set[str] = set()

  def take(self, key: str, prefix: str = "") -> str:
    base = sanitize(key)
    candidates = itertools.chain(
        [base], [f"{sanitize(prefix)}_{base}"] if prefix else [],
        (f"{base}_{i}" for i in itertools.count(2)))
    name = next(c for c in candidates if c not in self.taken)
    self.taken.add(name)
    return name


@dataclasses.dataclass
class Entry:
  """One proposal (a feature row, an event's or a task's body) and its comment."""
  body: Any
  comments: list[str]


@dataclasses.dataclass
class Proposal:
  """The spec being proposed, section by section, with its comments."""
  notes: list[str] = dataclasses.field(default_factory=list)  # For the header.
  identity: dict[str, str] = dataclasses.field(default_factory=dict)
  events: dict[str, Entry] = dataclasses.field(default_factory=dict)
  tasks: dict[str, Entry] = dataclasses.field(default_factory=dict)
  sections: list[tuple[str, list[Entry]]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Grouping:
  """A logged item category, as a candidate for histories and crosses."""
  name: str
  path: Path
  distinct: int
  covered: bool  # Read on at least the well-typed share of all sampled records.
  coded: bool  # Integer codes, which are often a bucketed quantity (a rating).
