"""The train/eval split by time: the last `eval_days` UTC days of the data are eval."""

from __future__ import annotations

from features.layout import EVAL, TRAIN

DAY_MS = 24 * 3600 * 1000


def eval_start_ms(max_ts_ms: int, eval_days: int) -> int:
  """The first eval millisecond: midnight UTC starting the last `eval_days` days.

  Args:
    max_ts_ms: The latest impression ts in the data.
    eval_days: How many calendar days (UTC) at the end go to eval; >= 1.
  """
  if eval_days < 1:
    raise ValueError(f"eval_days must be >= 1, got {eval_days}.")
  return (max_ts_ms // DAY_MS - (eval_days - 1)) * DAY_MS


def split_of(ts_ms: int, eval_start: int) -> str:
  return EVAL if ts_ms >= eval_start else TRAIN
