"""The demo summary reports rates from the run report and the oracle's ceilings."""

from pipelines import summary

REPORT = {
    "inputs": {"impressions": {"lines": 100, "in_examples": 98, "duplicate": 1,
                               "dead_letter": {"malformed_json": 1}}},
    "reconciled": True, "bad_fraction": 0.01,
    "examples": {"train": 80, "eval": 18},
    "positives": {"train/click": 8, "train/purchase": 2, "eval/click": 0},
}


def test_summary_rates_and_ceilings():
  text = summary.format_summary(REPORT, {"eval": {"auc": {"cvr_full": 0.83}}})
  assert "98 in examples, 1 duplicates, 1 dead letters" in text
  assert "train: 80 impressions, CTR 10.00%, CVR 25.00% of clicks" in text
  assert "eval: 18 impressions, CTR 0.00%, CVR 0.00% of clicks" in text
  assert '"cvr_full": 0.83' in text


def test_summary_without_oracle():
  assert "ground truth" not in summary.format_summary(REPORT, None)
