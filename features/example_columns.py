"""A list of example dicts -> its values feature by feature (columns).

The job's writer serializes and counts a list of examples a feature at a time, so
the per-value work runs in C (dict lookups, `map`, numpy) rather than in a Python
loop per example and feature.
"""

from __future__ import annotations

import operator
from typing import Any, Mapping, Sequence


def columns(names: Sequence[str], examples: Sequence[Mapping[str, Any]]
            ) -> list[Sequence[Any]]:
  """The values of each of `names` across `examples`, in `names`' order.

  A value is None where an example lacks the name. Examples that all have the
  first one's keys (the join's: keyed in the spec's order) are transposed by one
  `itemgetter` and `zip`; others are read name by name.

  Raises:
    ValueError: an example has a key that is not in `names`.
  """
  if not examples:
    return [() for _ in names]
  keys = tuple(examples[0])
  if len(keys) > 1 and set(keys) <= set(names) and len(
      set(map(len, examples))) == 1:
    try:
      # Every example has as many keys as the first and all of the first's: the same.
      rows = map(operator.itemgetter(*keys), examples)
      by_name = dict(zip(keys, zip(*rows)))
    except KeyError:
      pass
    else:
      absent = (None,) * len(examples)
      return [by_name.get(name, absent) for name in names]
  unknown = set().union(*examples) - set(names)
  if unknown:
    raise ValueError(f"Examples have features not in the spec: {sorted(unknown)}.")
  return [[example.get(name) for example in examples] for name in names]
