"""A day's join owns the lines of its day, reads the label delay's lines around it,
and its labels are final a declared delay after its end."""

import dataclasses

import pytest

from features import spec as spec_lib
from pipelines import day_window
from pipelines.day_window import Role
from pipelines.log_records import Log

H = 3_600_000
DAY = 24 * H
T0 = 1_767_571_200_000  # 2026-01-05 00:00 UTC.
SPEC = spec_lib.DEFAULT_SPEC


def test_the_delay_is_the_click_window_then_the_longest_label_window():
  # The default spec: a click within 30 min, a purchase within 24 h of it.
  assert day_window.label_delay_ms(SPEC) == 30 * 60_000 + DAY
  assert day_window.label_delay_days(SPEC) == 2


def test_a_day_owns_its_lines_and_reads_the_delay_around_it():
  window = day_window.DayWindow.of("2026-01-07", SPEC)
  start = T0 + 2 * DAY
  assert (window.start_ms, window.end_ms) == (start, start + DAY)
  assert window.horizon_ms == start + 2 * DAY + 30 * 60_000
  for log in Log:
    assert window.role(log, start) is Role.OWN
    assert window.role(log, start + DAY - 1) is Role.OWN
  assert window.role(Log.IMPRESSIONS, start - 2 * DAY) is Role.CONTEXT
  assert window.role(Log.IMPRESSIONS, start - 2 * DAY - 1) is Role.ELSEWHERE
  assert window.role(Log.IMPRESSIONS, start + DAY) is Role.ELSEWHERE
  assert window.role(Log.CLICKS, start + DAY) is Role.CONTEXT
  assert window.role(Log.DETAIL_PAGES, window.horizon_ms - 1) is Role.CONTEXT
  assert window.role(Log.DETAIL_PAGES, window.horizon_ms) is Role.ELSEWHERE
  assert window.role(Log.CLICKS, start - 1) is Role.ELSEWHERE
  assert window.dates(Log.IMPRESSIONS) == ["2026-01-05", "2026-01-06", "2026-01-07"]
  assert window.dates(Log.CLICKS) == ["2026-01-05", "2026-01-06", "2026-01-07",
                                      "2026-01-08", "2026-01-09"]


def test_a_longer_label_window_delays_the_day_longer():
  [purchase] = SPEC.event_labels()
  longer = dataclasses.replace(purchase, derive=dataclasses.replace(
      purchase.derive, window_ms=2 * DAY))
  spec = SPEC.with_features(longer if f is purchase else f for f in SPEC.features)
  assert day_window.label_delay_ms(spec) == 30 * 60_000 + 2 * DAY
  assert day_window.label_delay_days(spec) == 3
  assert day_window.DayWindow.of("2026-01-07", spec).dates(Log.IMPRESSIONS)[0] == (
      "2026-01-04")


def test_a_date_that_is_not_a_day_is_refused():
  with pytest.raises(ValueError, match="2026-13-01"):
    day_window.DayWindow.of("2026-13-01", SPEC)
