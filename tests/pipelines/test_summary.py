"""The demo summary reports rates from the run report and the oracle's ceilings."""

from features import run_report
from features import spec as spec_lib
from pipelines import summary

REPORT = run_report.RunReport({
    "inputs": {"impressions": {"lines": 100, "in_examples": 98, "duplicate": 1,
                               "dead_letter": {"malformed_json": 1}}},
    "reconciled": True, "bad_fraction": 0.01,
    "examples": {"train": 80, "eval": 18},
    "positives": {"train/click": 8, "train/purchase": 2, "eval/click": 0},
    "coverage": {"parsed_impressions": 98,
                 "declared": {"brand_id": {"records": 49, "fraction": 0.5},
                              "price": {"records": 98, "fraction": 1.0}},
                 "logged_not_declared": {"item.color": 7}},
})
SPEC = spec_lib.DEFAULT_SPEC


def test_summary_rates_and_ceilings():
  text = summary.format_summary(REPORT, SPEC, {"eval": {"auc": {"cvr_full": 0.83}}})
  assert "98 in examples, 1 duplicates, 1 dead letters" in text
  assert "train: 80 impressions, ctr 10.00%, cvr 25.00% of clicks" in text
  assert "eval: 18 impressions, ctr 0.00%, cvr 0.00% of clicks" in text
  assert '"cvr_full": 0.83' in text


def test_summary_names_sparse_and_undeclared_keys():
  text = summary.format_summary(REPORT, SPEC, None)
  assert "brand_id 50.0% carried" in text and "price" not in text.split("carried")[-1]
  assert "logged, not declared (records): item.color 7" in text


def test_summary_without_oracle():
  assert "ground truth" not in summary.format_summary(REPORT, SPEC, None)
