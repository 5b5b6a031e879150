"""One UTC day's join: which lines it owns, which it reads for context, and when its
labels are final.

A daily join of day D publishes the examples of D's impressions. Every line is owned
by the run of the UTC day of its own ts: the run of D accounts for the lines of D
and counts every other line it reads as another day's. It reads two kinds of context:
events of the days after D up to the label horizon (they complete the labels and
post-event features of D's late impressions) and the impressions of the
`label_delay_days` before D (an event of D on one of them was joined by that day's
run, not an orphan).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import math

from features import run_report
from features import spec as spec_lib
from pipelines.log_records import Log

DAY_MS = run_report.DAY_MS
_EPOCH = datetime.date(1970, 1, 1)


def label_delay_ms(spec: spec_lib.FeatureSpec) -> int:
  """How long after an impression its last label-bearing event may come: the click
  window, then the longest event label's window after that click.

  The labels and post-event features of a day's impressions are final once the logs
  reach `label_delay_ms` past the day's end.
  """
  windows = [f.derive.window_ms for f in spec.event_labels()]
  return spec[spec.click_label].derive.window_ms + max(windows, default=0)


def label_delay_days(spec: spec_lib.FeatureSpec) -> int:
  """Whole days of logs after day D that D's labels need: the run of D can finalise
  D once day D + label_delay_days is logged."""
  return math.ceil(label_delay_ms(spec) / DAY_MS)


class Role(enum.Enum):
  """What a parsed line is to the run of one day."""
  OWN = "own"  # Of the day: joined and accounted for as in a full join.
  CONTEXT = "context"  # Another day's, read by the join (labels, earlier ids).
  ELSEWHERE = "elsewhere"  # Another day's, not needed: counted and dropped.


@dataclasses.dataclass(frozen=True)
class DayWindow:
  """The time ranges of one day's join, in ms since the epoch, UTC.

  Attributes:
    date: The day, YYYY-MM-DD.
    start_ms: Its first millisecond.
    end_ms: The next day's first millisecond.
    horizon_ms: Events before this complete the day's labels (`label_delay_ms`).
    lookback_ms: Impressions from here to start_ms may own an event of the day.
    delay_days: `label_delay_days` of the spec.
  """
  date: str
  start_ms: int
  end_ms: int
  horizon_ms: int
  lookback_ms: int
  delay_days: int

  @classmethod
  def of(cls, date: str, spec: spec_lib.FeatureSpec) -> DayWindow:
    try:
      day = (datetime.date.fromisoformat(date) - _EPOCH).days
    except ValueError as e:
      raise ValueError(f"--date={date!r} is not a day as YYYY-MM-DD.") from e
    delay_days = label_delay_days(spec)
    start = day * DAY_MS
    return cls(date=date, start_ms=start, end_ms=start + DAY_MS,
               horizon_ms=start + DAY_MS + label_delay_ms(spec),
               lookback_ms=start - delay_days * DAY_MS, delay_days=delay_days)

  def role(self, log: Log, ts_ms: int) -> Role:
    if self.start_ms <= ts_ms < self.end_ms:
      return Role.OWN
    if log is Log.IMPRESSIONS:
      context = self.lookback_ms <= ts_ms < self.start_ms
    else:
      context = self.end_ms <= ts_ms < self.horizon_ms
    return Role.CONTEXT if context else Role.ELSEWHERE

  def dates(self, log: Log) -> list[str]:
    """The days whose files may hold lines this run needs: an impression of the
    lookback or of the day; an event of the day (delivered in the file of its
    impression's day at the earliest) or of the horizon."""
    last = 0 if log is Log.IMPRESSIONS else self.delay_days
    day = self.start_ms // DAY_MS
    return [run_report.utc_day((day + offset) * DAY_MS)
            for offset in range(-self.delay_days, last + 1)]

  def previous_date(self) -> str:
    return run_report.utc_day(self.start_ms - DAY_MS)
