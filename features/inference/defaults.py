"""What a proposed spec takes from the default spec: its windows, its history length
and its CTR deployment, read from `default_spec.yaml` so that they are declared once.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from features import spec as spec_lib
from features import spec_file


@dataclasses.dataclass(frozen=True)
class Defaults:
  """The default spec's choices a proposal repeats.

  Attributes:
    click_window: As written in the file (e.g. "30m"): a click counts up to this long
      after the impression.
    attribution_window: The event label's window after the click (e.g. "24h").
    cross_window: The clicks_sharing counts' window (e.g. "24h").
    history_length: A click history's max_length.
    ctr_model_defaults: The CTR task's `model_defaults`, as the file writes them.
  """
  click_window: str
  attribution_window: str
  cross_window: str
  history_length: int
  ctr_model_defaults: dict[str, Any]


@functools.cache
def proposed() -> Defaults:
  """The default spec's, read on first use."""
  # Windows as the file spells them ("24h", which the parsed spec would write "1d").
  windows: dict[str, str] = {}
  for row in spec_file.read_mapping(spec_lib.DEFAULT_SPEC_PATH)["features"]:
    derive = row.get("derive", {})
    if "window" in derive:
      windows.setdefault(derive["op"], derive["window"])
  default = spec_lib.DEFAULT_SPEC
  (history_length,) = {f.max_length for f in default.derived(spec_lib.Op.HISTORY)}
  return Defaults(
      click_window=windows[spec_lib.Op.CLICK.value],
      attribution_window=windows[spec_lib.Op.EVENT.value],
      cross_window=windows[spec_lib.Op.CLICKS_SHARING.value],
      history_length=history_length,
      ctr_model_defaults={k: list(v) if isinstance(v, tuple) else v
                          for k, v in default.task("ctr").model_defaults})
