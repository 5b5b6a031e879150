"""Per-day checks of a join's run report: a day whose logs or labels fall far below
the other days' is a late or partial delivery, not a quiet day.

A day with no click file still joins (its impressions simply get no clicks), and a
model trained on it learns false negatives; these checks name such a day before the
dataset is published. Pure Python over the report's `days` section.

A day is anomalous when its value is under `min_fraction` of the median day AND the
shortfall is beyond chance (`MIN_Z` Poisson standard deviations below what the median
rate predicts), so a tiny day with few events is not flagged by noise. Rates, not raw
volumes, are compared for the event logs and labels (a partial first or last day has
fewer impressions and proportionally fewer events); the impressions' own volume is
checked on the days between the first and the last only (those may be partial), against
their median.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any, Iterable, Mapping

from features import spec as spec_lib

MIN_Z = 4.0


@dataclasses.dataclass(frozen=True)
class Anomaly:
  """One day of one log or label far below the others."""
  day: str
  what: str  # e.g. "clicks lines per impression", "label purchase per click"
  value: float
  median: float

  def __str__(self) -> str:
    return (f"day {self.day}: {self.what} is {self.value:.4g}, under the median "
            f"day's {self.median:.4g}")


def _short(observed: float, expected: float, min_fraction: float) -> bool:
  """Whether `observed` is under `min_fraction` of `expected` beyond chance."""
  return (observed < min_fraction * expected
          and expected - observed > MIN_Z * math.sqrt(expected))


def _rate_anomalies(what: str, counts: Mapping[str, tuple[int, int]],
                    min_fraction: float) -> Iterable[Anomaly]:
  """`counts`: day -> (events, exposures); flags days whose rate is short."""
  rates = [k / n for k, n in counts.values() if n]
  if len(rates) < 2:
    return
  median = statistics.median(rates)
  for day, (k, n) in counts.items():
    if n and _short(k, median * n, min_fraction):
      yield Anomaly(day, what, k / n, median)


def find(days: Mapping[str, Mapping[str, Any]], spec: spec_lib.FeatureSpec,
         impressions_log: str, event_logs: Iterable[str], min_fraction: float
         ) -> list[Anomaly]:
  """The anomalous days of a report's `days` section (run_report.RunReport.days)."""
  if len(days) < 2:
    return []
  impressions = {d: v["lines"].get(impressions_log, 0) for d, v in days.items()}
  anomalies = []
  interior = list(days)[1:-1]
  median = statistics.median(impressions[d] for d in interior) if interior else 0
  for day in interior:
    if _short(impressions[day], median, min_fraction):
      anomalies.append(Anomaly(day, f"{impressions_log} lines", impressions[day],
                               median))
  for log in event_logs:
    anomalies.extend(_rate_anomalies(
        f"{log} lines per impression",
        {d: (v["lines"].get(log, 0), impressions[d]) for d, v in days.items()},
        min_fraction))
  click = spec.click_label
  for label in sorted({t.label for t in spec.tasks.values()}):
    clicked_only = label != click and any(
        t.clicked_only for t in spec.tasks.values() if t.label == label)
    per = "click" if clicked_only else "example"
    anomalies.extend(_rate_anomalies(
        f"label {label} per {per}",
        {d: (v["positives"].get(label, 0),
             v["positives"].get(click, 0) if clicked_only else v["examples"])
         for d, v in days.items()},
        min_fraction))
  return sorted(anomalies, key=lambda a: (a.day, a.what))
