"""A new dataset against a baseline (yesterday's, or the one a served model was
trained on): a declared feature whose coverage drops or whose distribution shifts.

TFX's ExampleValidator check, on this project's statistics (pipelines/statistics.py):
a categorical feature's distribution is compared by the L-infinity distance between
its top values' frequencies (as TFDV does); a numeric one, which the statistics keep
as moments, by the shift of its mean in the baseline's standard deviations.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from typing import Iterable, Mapping

from apache_beam.io.filesystems import FileSystems
from tensorflow_metadata.proto.v0 import statistics_pb2

from features import layout
from pipelines import statistics


@dataclasses.dataclass(frozen=True)
class Drift:
  """One feature that moved beyond its threshold."""
  feature: str
  what: str  # "coverage", "top values (L-infinity)" or "mean (baseline stds)"
  baseline: float
  value: float
  distance: float

  def __str__(self) -> str:
    return (f"feature {self.feature!r}: {self.what} moved from {self.baseline:.4g} to "
            f"{self.value:.4g} (distance {self.distance:.4g})")


def _by_name(stats: statistics_pb2.DatasetFeatureStatistics
             ) -> dict[str, statistics_pb2.FeatureNameStatistics]:
  return {f.path.step[0]: f for f in stats.features}


def _top_value_frequencies(feature: statistics_pb2.FeatureNameStatistics
                           ) -> dict[str, float]:
  total = feature.string_stats.common_stats.tot_num_values
  return {v.value: v.frequency / total for v in feature.string_stats.top_values
          } if total else {}


def distribution_shifts(baseline: statistics_pb2.DatasetFeatureStatistics,
                        current: statistics_pb2.DatasetFeatureStatistics,
                        max_l_infinity: float, max_mean_shift: float) -> list[Drift]:
  """Features of both statistics whose distribution moved beyond the thresholds."""
  drifts = []
  old = _by_name(baseline)
  for name, new in _by_name(current).items():
    if name not in old:
      continue
    if new.HasField("string_stats"):
      p, q = _top_value_frequencies(old[name]), _top_value_frequencies(new)
      if not (p and q):
        continue
      value, distance = max(((v, abs(p.get(v, 0.0) - q.get(v, 0.0)))
                             for v in sorted(set(p) | set(q))), key=lambda x: x[1])
      if distance > max_l_infinity:
        drifts.append(Drift(name, f"frequency of {value!r} (L-infinity)",
                            p.get(value, 0.0), q.get(value, 0.0), distance))
    elif new.HasField("num_stats"):
      before, after = old[name].num_stats, new.num_stats
      if not before.common_stats.num_non_missing or not after.common_stats.num_non_missing:
        continue
      shift = abs(after.mean - before.mean)
      distance = shift / before.std_dev if before.std_dev else (
          float("inf") if shift else 0.0)
      if distance > max_mean_shift:
        drifts.append(Drift(name, "mean (in baseline standard deviations)",
                            before.mean, after.mean, distance))
  return drifts


def coverage_drops(baseline: Mapping[str, Mapping[str, float]],
                   current: Mapping[str, Mapping[str, float]], features: Iterable[str],
                   max_drop: float) -> list[Drift]:
  """Declared features whose carried fraction (run report `coverage.declared`) fell
  by more than `max_drop`."""
  drifts = []
  for name in features:
    if name in baseline and name in current:
      before, after = baseline[name]["fraction"], current[name]["fraction"]
      if before - after > max_drop:
        drifts.append(Drift(name, "coverage", before, after, before - after))
  return drifts


def _read_train_statistics(data_dir: str) -> statistics_pb2.DatasetFeatureStatistics:
  path = posixpath.join(data_dir, layout.STATS_DIR, f"{layout.TRAIN}.pb")
  return statistics.read_statistics(path).datasets[0]


def compare(baseline_dir: str, staging_dir: str, report: Mapping, declared: Iterable[str],
            max_coverage_drop: float, max_l_infinity: float, max_mean_shift: float
            ) -> dict:
  """The run report's `drift` section: the new run (in `staging_dir`, its report
  `report`) against the dataset published at `baseline_dir`, train splits.

  Raises:
    FileNotFoundError: `baseline_dir` is not a published dataset.
  """
  if not FileSystems.exists(posixpath.join(baseline_dir, layout.SUCCESS_FILE)):
    raise FileNotFoundError(f"--baseline_dataset={baseline_dir!r} is not a published "
                            f"dataset (no {layout.SUCCESS_FILE}).")
  with FileSystems.open(posixpath.join(baseline_dir, layout.REPORT_FILE)) as f:
    baseline_report = json.loads(f.read().decode("utf-8"))
  drifts = coverage_drops(baseline_report["coverage"]["declared"],
                          report["coverage"]["declared"], declared, max_coverage_drop)
  drifts += distribution_shifts(_read_train_statistics(baseline_dir),
                                _read_train_statistics(staging_dir), max_l_infinity,
                                max_mean_shift)
  return {"baseline": baseline_dir, "baseline_run_id": baseline_report.get("run_id"),
          "findings": [str(d) for d in drifts]}
