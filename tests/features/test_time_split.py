"""The last UTC day(s) are eval."""

import pytest

from features import time_split

DAY = time_split.DAY_MS


def test_eval_starts_at_midnight_of_the_last_days():
  last = 20 * DAY + 5
  assert time_split.eval_start_ms(last, 1) == 20 * DAY
  assert time_split.eval_start_ms(last, 3) == 18 * DAY
  assert time_split.split_of(20 * DAY - 1, 20 * DAY) == "train"
  assert time_split.split_of(20 * DAY, 20 * DAY) == "eval"


def test_eval_days_must_be_positive():
  with pytest.raises(ValueError, match="eval_days"):
    time_split.eval_start_ms(DAY, 0)
