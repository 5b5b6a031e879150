"""The oracle: calibrated Bayes probabilities, and the gaps privileged features open."""

import dataclasses

import numpy as np

import roc
from simulation import behaviour
from simulation import config as config_lib
from simulation import oracle as oracle_lib
from simulation import probability

_CONFIG = config_lib.preset("demo")


def _purchases(config: config_lib.WorldConfig, m: int = 100_000):
  """Synthetic clicks: (sessions, p_purchase_regular, p_purchase_full), [m] each."""
  rng = np.random.default_rng(7)
  affinity, log_price = rng.normal(0.5, 1.0, m), rng.normal(size=m)
  sessions = behaviour.sample_sessions(config, affinity, log_price,
                                       np.zeros(m, np.int64) + config.start_ts_ms, rng)
  return (sessions,
          *oracle_lib.purchase_probabilities(config, affinity, log_price, sessions))


def _assert_calibrated(labels, p, bins=10, tolerance_se=4.0):
  """Mean p matches the label rate overall and within each probability decile."""
  edges = np.quantile(p, np.linspace(0, 1, bins + 1)[1:-1])
  groups = [np.ones(len(p), bool)] + [np.digitize(p, edges) == b for b in range(bins)]
  for group in groups:
    mean_p = p[group].mean()
    se = np.sqrt(mean_p * (1 - mean_p) / group.sum())
    assert abs(labels[group].mean() - mean_p) < tolerance_se * se + 1e-3, (
        f"{labels[group].mean()} vs {mean_p} over {group.sum()}")


def test_purchase_probabilities_are_calibrated_and_post_events_help():
  sessions, p_regular, p_full = _purchases(_CONFIG)
  _assert_calibrated(sessions.purchased, p_regular)
  _assert_calibrated(sessions.purchased, p_full)
  assert (roc.auc(sessions.purchased, p_full)
          > roc.auc(sessions.purchased, p_regular) + 0.05)


def test_the_oracle_stays_calibrated_where_the_rate_caps_bind():
  # Intent scaled by 16 drives many clicks' count means to their caps; the oracle's
  # likelihood reads the same capped rates the sessions were drawn from.
  config = dataclasses.replace(_CONFIG, post_event_informativeness=16.0)
  sessions, p_regular, p_full = _purchases(config)
  assert np.isfinite(p_full).all()
  _assert_calibrated(sessions.purchased, p_full)
  assert (roc.auc(sessions.purchased, p_full)
          > roc.auc(sessions.purchased, p_regular) + 0.05)


def test_regular_purchase_probability_integrates_out_the_intent():
  config = dataclasses.replace(_CONFIG, label_noise=0.05)
  _, p_regular, _ = _purchases(config, m=50)
  rng = np.random.default_rng(7)
  affinity, log_price = rng.normal(0.5, 1.0, 50), rng.normal(size=50)
  z = np.linspace(-10, 10, 20_001)
  density = np.exp(-z**2 / 2) / np.sqrt(2 * np.pi) * (z[1] - z[0])
  logit = behaviour.post_click_rates(config, affinity[:, None], log_price[:, None],
                                     z).purchase_logit
  expected = probability.with_label_noise(probability.sigmoid(logit), 0.05) @ density
  np.testing.assert_allclose(p_regular, expected, rtol=1e-6)


def test_uninformative_post_events_add_nothing():
  blind = dataclasses.replace(_CONFIG, post_event_informativeness=0.0)
  _, p_regular, p_full = _purchases(blind, m=2_000)
  np.testing.assert_allclose(p_full, p_regular, rtol=1e-9)


def test_click_probabilities_are_calibrated_and_cross_features_help(small_run):
  output_dir, summary = small_run
  table = oracle_lib.load_oracle(f"{output_dir}/oracle")
  _assert_calibrated(table["click"], table["p_click_full"])
  _assert_calibrated(table["click"], table["p_click_regular"])
  for split in ("all", "eval"):
    auc = summary[split]["auc"]
    assert auc["ctr_full"] > auc["ctr_regular"] + 0.01
    assert auc["cvr_full"] > auc["cvr_regular"] + 0.05
  assert summary["eval"]["counts"]["impressions"] == summary["all"]["counts"][
      "impressions"] // 3  # The last of three equal days.


def test_oracle_shards_match_the_logs(tiny_run, read_log):
  output_dir, summary = tiny_run
  table = oracle_lib.load_oracle(f"{output_dir}/oracle")
  impressions = read_log(output_dir, "impressions")
  np.testing.assert_array_equal(table["impression_id"],
                                [record["impression_id"] for record in impressions])
  clicked = {record["impression_id"] for record in read_log(output_dir, "clicks")}
  bought = {record["impression_id"] for record in read_log(output_dir, "detail_pages")
            if record["event"] == "purchase"}
  np.testing.assert_array_equal(table["click"],
                                [i in clicked for i in table["impression_id"]])
  np.testing.assert_array_equal(table["purchase"],
                                [i in bought for i in table["impression_id"]])
  assert np.all(np.isnan(table["p_purchase_full"]) == ~table["click"])
  assert summary["all"]["counts"] == {"impressions": len(impressions),
                                      "clicks": len(clicked), "purchases": len(bought)}
