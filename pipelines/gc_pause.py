"""Pausing Python's cyclic garbage collector over a batch's work.

The join's workers build and drop millions of small tuples, lists and dicts per
batch. Reference counting frees them; they form no cycles, yet the cyclic collector
traverses every young one several times while it lives, a large share of the
job's CPU.
The collector is paused while a batch is worked on and resumes after it, so cycles,
if any, are still collected.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
  """Pauses the cyclic collector in the block; nests (the outermost resumes it)."""
  enabled = gc.isenabled()
  gc.disable()
  try:
    yield
  finally:
    if enabled:
      gc.enable()
