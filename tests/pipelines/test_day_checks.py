"""Tests for pipelines/day_checks.py: a day far below the others, beyond chance."""

from features import spec as spec_lib
from pipelines import day_checks

SPEC = spec_lib.DEFAULT_SPEC
CLICK = SPEC.click_label
CVR_LABEL = next(t.label for t in SPEC.tasks.values() if t.clicked_only)


def day(impressions, clicks, details=None, converted=0):
  return {"lines": {"impressions": impressions, "clicks": clicks,
                    "detail_pages": 4 * clicks if details is None else details},
          "examples": impressions,
          "positives": {CLICK: clicks, CVR_LABEL: converted}}


def find(days, min_fraction=0.5):
  return day_checks.find(days, SPEC, "impressions", ["clicks", "detail_pages"],
                         min_fraction)


def test_alike_days_have_no_anomaly():
  assert find({"2026-01-05": day(1000, 50, converted=5),
               "2026-01-06": day(1100, 60, converted=4),
               "2026-01-07": day(900, 40, converted=6)}) == []


def test_a_day_without_clicks_is_named_with_each_rate_it_breaks():
  anomalies = find({"2026-01-05": day(1000, 50), "2026-01-06": day(1000, 0),
                    "2026-01-07": day(1000, 45)})
  assert {a.day for a in anomalies} == {"2026-01-06"}
  assert {a.what for a in anomalies} == {
      "clicks lines per impression", "detail_pages lines per impression",
      f"label {CLICK} per example"}
  assert "day 2026-01-06: clicks lines per impression is 0" in str(anomalies[0])


def test_a_small_shortfall_within_chance_is_not_flagged():
  # 3 expected conversions, none seen: P = e^-3 by chance, not a missing delivery.
  assert find({"2026-01-05": day(1000, 50, converted=3),
               "2026-01-06": day(1000, 50, converted=0),
               "2026-01-07": day(1000, 50, converted=3)}) == []


def test_the_label_rate_of_a_clicked_only_task_is_per_click():
  anomalies = find({"2026-01-05": day(1000, 400, converted=40),
                    "2026-01-06": day(1000, 400, converted=0),
                    "2026-01-07": day(1000, 400, converted=44)})
  assert [a.what for a in anomalies] == [f"label {CVR_LABEL} per click"]


def test_partial_first_and_last_days_pass_but_not_an_interior_one():
  edges = {"2026-01-05": day(100, 5), "2026-01-06": day(1000, 50),
           "2026-01-07": day(1000, 50), "2026-01-08": day(200, 10)}
  assert find(edges) == []
  interior = dict(edges, **{"2026-01-06": day(100, 5)})
  assert [(a.day, a.what) for a in find(interior)] == [
      ("2026-01-06", "impressions lines")]


def test_the_fraction_is_a_knob():
  days = {"2026-01-05": day(1000, 100), "2026-01-06": day(1000, 60),
          "2026-01-07": day(1000, 100)}
  assert find(days, min_fraction=0.5) == []
  assert {a.day for a in find(days, min_fraction=0.8)} == {"2026-01-06"}
