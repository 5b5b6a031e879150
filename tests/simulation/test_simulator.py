"""The written logs: LOG_CONTRACT.md conformance, determinism, realistic rates."""

import collections
import dataclasses
import json
import os

import numpy as np

from simulation import config as config_lib
from simulation import oracle as oracle_lib
from simulation import simulator

_TS_RANGE = (946_684_800_000, 4_102_444_800_000)
_CLICK_WINDOW_MS = 30 * 60_000
_DAY_MS = 86_400_000


def _is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _files(output_dir: str) -> dict[str, bytes]:
  found = {}
  for root, _, names in os.walk(output_dir):
    for name in names:
      path = os.path.join(root, name)
      found[os.path.relpath(path, output_dir)] = open(path, "rb").read()
  return found


def test_impressions_follow_the_contract(tiny_run, read_log):
  output_dir, _ = tiny_run
  impressions = read_log(output_dir, "impressions")
  config = config_lib.preset("tiny")
  assert len(impressions) == config.num_requests * config.impressions_per_request
  by_request = collections.defaultdict(list)
  for record in impressions:
    assert set(record) == {"impression_id", "request_id", "user_id", "item_id", "ts_ms",
                           "position", "scene", "user", "item"}
    for key in ("impression_id", "request_id", "user_id", "item_id", "scene"):
      assert isinstance(record[key], str)
    assert _is_int(record["ts_ms"]) and _TS_RANGE[0] <= record["ts_ms"] < _TS_RANGE[1]
    assert _is_int(record["position"]) and 0 <= record["position"] < 10_000
    assert all(isinstance(v, (str, int)) for v in record["user"].values())
    item = record["item"]
    assert {"category_id", "shop_id", "brand_id"} <= set(item)
    assert isinstance(item["price"], float) and item["price"] > 0
    by_request[record["request_id"]].append(record)
  assert len({record["impression_id"] for record in impressions}) == len(impressions)
  for shown in by_request.values():
    assert sorted(r["position"] for r in shown) == list(range(len(shown)))
    assert len({(r["user_id"], r["ts_ms"], r["scene"]) for r in shown}) == 1


def test_events_follow_the_contract(tiny_run, read_log):
  output_dir, _ = tiny_run
  impression_ts = {r["impression_id"]: r["ts_ms"]
                   for r in read_log(output_dir, "impressions")}
  clicks = read_log(output_dir, "clicks")
  click_ts = {}
  for record in clicks:
    assert set(record) == {"impression_id", "ts_ms"} and _is_int(record["ts_ms"])
    assert record["impression_id"] not in click_ts  # One click per impression.
    shown = impression_ts[record["impression_id"]]
    assert shown <= record["ts_ms"] <= shown + _CLICK_WINDOW_MS
    click_ts[record["impression_id"]] = record["ts_ms"]

  details = read_log(output_dir, "detail_pages")
  purchase_ts = {r["impression_id"]: r["ts_ms"] for r in details
                 if r["event"] == "purchase"}
  assert len(purchase_ts) == sum(r["event"] == "purchase" for r in details)
  assert len({json.dumps(r, sort_keys=True) for r in details}) == len(details)
  after_purchase = 0
  for record in details:
    clicked = click_ts[record["impression_id"]]  # Only on counted clicks.
    assert record["event"] in {"view", "review", "chat", "cart", "purchase"}
    assert set(record) == {"impression_id", "ts_ms", "event"} | (
        {"dwell_ms"} if record["event"] == "view" else set())
    if record["event"] == "view":
      assert _is_int(record["dwell_ms"]) and 0 <= record["dwell_ms"] <= _DAY_MS
    assert record["ts_ms"] >= clicked
    bought = purchase_ts.get(record["impression_id"])
    if record["event"] == "purchase":
      assert record["ts_ms"] <= clicked + _DAY_MS
    elif bought is not None and record["ts_ms"] >= bought:
      assert record["event"] == "chat"  # The only post-purchase event.
      after_purchase += 1
  assert after_purchase > 0


def test_same_seed_same_bytes_and_oracle_leaves_logs_alone(tiny_run, tmp_path):
  output_dir, _ = tiny_run
  simulator.simulate(config_lib.preset("tiny"), str(tmp_path / "again"))
  assert _files(output_dir) == _files(str(tmp_path / "again"))

  simulator.simulate(config_lib.preset("tiny"), str(tmp_path / "blind"),
                     with_oracle=False)
  logs = {name: data for name, data in _files(output_dir).items()
          if name.split(os.sep)[0] in simulator.LOGS}
  blind = _files(str(tmp_path / "blind"))
  assert {name: blind[name] for name in logs} == logs
  assert not any(name.startswith("oracle") for name in blind)

  other = dataclasses.replace(config_lib.preset("tiny"), seed=1)
  simulator.simulate(other, str(tmp_path / "other"), compress=False)
  other_files = _files(str(tmp_path / "other"))
  assert "impressions/impressions-2026-01-05.jsonl" in other_files
  assert other_files["clicks/clicks-2026-01-05.jsonl"] != logs[
      "clicks/clicks-2026-01-05.jsonl.gz"]


def test_demo_rates_are_realistic(tmp_path):
  # The demo world scaled down 10x in users, items and shops, over 3 of its 7 days.
  demo = config_lib.preset("demo")
  scaled = dataclasses.replace(demo, n_users=demo.n_users // 10, n_items=demo.n_items // 10,
                               n_shops=demo.n_shops // 10, n_brands=demo.n_brands // 10,
                               n_days=3, num_impressions=demo.num_impressions * 3 // 70,
                               oracle_replays=1)
  simulator.simulate(scaled, str(tmp_path))
  table = oracle_lib.load_oracle(str(tmp_path / "oracle"))
  assert 0.03 < table["p_click_full"].mean() < 0.06
  assert 0.03 < np.nanmean(table["p_purchase_regular"]) < 0.05


def test_a_churn_world_logs_new_ids_every_day_and_its_oracle_matches(tmp_path,
                                                                       read_log):
  config = dataclasses.replace(
      config_lib.preset("tiny"), n_days=4, num_impressions=4_000,
      item_arrival_share=0.3, item_mean_lifetime_days=2.0, user_arrival_share=0.3)
  summary = simulator.simulate(config, str(tmp_path))
  impressions = read_log(str(tmp_path), "impressions")
  first_day = {}
  for record in impressions:
    day = (record["ts_ms"] - config.start_ts_ms) // _DAY_MS
    for key in ("item_id", "user_id"):
      first_day.setdefault(record[key], day)
  for prefix in ("i", "u"):  # Items and users first seen on each later day.
    days = [day for name, day in first_day.items() if name.startswith(prefix)]
    assert set(days) == set(range(config.n_days))
  table = oracle_lib.load_oracle(str(tmp_path / "oracle"))
  np.testing.assert_array_equal(table["impression_id"],
                                [record["impression_id"] for record in impressions])
  clicked = {record["impression_id"] for record in read_log(str(tmp_path), "clicks")}
  np.testing.assert_array_equal(table["click"],
                                [i in clicked for i in table["impression_id"]])
  assert np.all((table["p_click_regular"] > 0) & (table["p_click_regular"] < 1))
  assert summary["all"]["counts"]["impressions"] == len(impressions)
