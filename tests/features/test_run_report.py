"""Tests for features/run_report.py: per-day facts into the report, and its headline."""

from features import run_report


def _facts():
  return {
      run_report.read("impressions"): 5, run_report.read("clicks"): 2,
      run_report.examples("train"): 3, run_report.examples("eval"): 1,
      run_report.positives("train", "click"): 2,
      run_report.outcome("clicks", run_report.JOINED): 1,
      run_report.dead_letter("clicks", "orphan_event"): 1,
      run_report.dead_letter("impressions", "wrong_type"): 1,
      run_report.day_lines("impressions", "2026-01-05"): 3,
      run_report.day_lines("clicks", "2026-01-05"): 1,
      run_report.day_lines("impressions", "2026-01-06"): 1,
      run_report.day_examples("2026-01-05"): 3,
      run_report.day_positives("click", "2026-01-05"): 2,
      run_report.day_examples("2026-01-06"): 1,
      run_report.unreadable("gs://b/impressions/part-1.jsonl.gz"): 7,
  }


def test_utc_days_of_milliseconds():
  assert run_report.utc_day(1_767_571_200_000) == "2026-01-05"
  assert run_report.utc_day(1_767_571_200_000 - 1) == "2026-01-04"


def test_days_and_unreadable_files_are_sections_of_the_report():
  report = run_report.build_report(_facts(), ["impressions", "clicks"], "impressions",
                                   [], 0.5)
  assert report["days"] == {
      "2026-01-05": {"lines": {"impressions": 3, "clicks": 1}, "examples": 3,
                     "positives": {"click": 2}},
      "2026-01-06": {"lines": {"impressions": 1}, "examples": 1, "positives": {}}}
  assert report["unreadable_files"] == {"gs://b/impressions/part-1.jsonl.gz": 7}
  assert report["reconciled"]


def test_the_headline_reads_the_report():
  report = run_report.build_report(_facts(), ["impressions", "clicks"], "impressions",
                                   [], 0.5)
  report["anomalies"] = ["day 2026-01-06: clicks lines per impression is 0, ..."]
  assert run_report.RunReport(report).headline() == [
      "examples: train 3 (positives: click 2); eval 1",
      "lines read: impressions 5, clicks 2; dead letter 2 (28.57%), duplicates 0",
      "days: 2, 2026-01-05 to 2026-01-06; anomalies: day 2026-01-06: clicks lines "
      "per impression is 0, ..."]
