"""features.infer_spec on dirty logs, then the join with its proposal as written: what
an expert would keep is proposed, every broken line is a dead letter and every clean
one an example."""

import collections
import dataclasses
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from features import spec as spec_lib
from simulation import FaultConfig, preset, simulate
from world_fixtures import run_join, write_logs

T0 = 1_767_571_200_000  # 2026-01-05 00:00 UTC.
DAY_MS = 24 * 3600 * 1000


def _propose(impressions, detail_pages, output):
  """The proposal, through the command line a person runs."""
  subprocess.run(
      [sys.executable, "-m", "features.infer_spec", f"--impressions={impressions}",
       f"--detail_pages={detail_pages}", f"--output={output}"],
      check=True, capture_output=True)
  return spec_lib.load_spec_file(str(output))


def _dead_letters(report):
  return collections.Counter({(log, reason): n
                              for log, entry in report["inputs"].items()
                              for reason, n in entry["dead_letter"].items()})


# --- the simulator's world, 1% of its lines broken by its fault injector ------------
@pytest.fixture(name="faulty", scope="module")
def _faulty(tmp_path_factory):
  root = tmp_path_factory.mktemp("faulty")
  raw = str(root / "raw")
  # Seed 1 at this size draws every kind of impression and detail-page fault.
  simulate(dataclasses.replace(preset("tiny"), num_impressions=15_000, seed=1), raw,
           with_oracle=False, faults=FaultConfig(fraction=0.01))
  spec = _propose(f"{raw}/impressions/*", f"{raw}/detail_pages/*",
                  root / "proposed_spec.yaml")
  return raw, spec


def test_on_a_faulty_world_the_proposal_keeps_what_an_expert_would(faulty):
  raw, spec = faulty
  logged = set()
  for name in os.listdir(os.path.join(raw, "impressions")):
    with gzip.open(os.path.join(raw, "impressions", name), "rt") as f:
      for line in f:
        try:
          record = json.loads(line)
        except ValueError:
          continue  # A line the injector cut short.
        logged |= {f"{obj}.{key}" for obj in ("user", "item")
                   for key in record.get(obj, {})}
  sources = {f.source for f in spec.logged()}
  assert logged <= sources
  assert {"impression.position", "impression.scene"} <= sources
  (dwell,) = spec.events["view"].fields
  assert dwell.required and dwell.bounds[0] == 0
  assert set(spec.events) == set(spec_lib.DEFAULT_SPEC.events)  # Not "teleport".
  assert {f.derive.of for f in spec.derived(spec_lib.Op.CLICKS_SHARING)} == {
      "category_id", "shop_id"}


def test_joined_with_its_proposal_every_injected_fault_is_a_dead_letter(faulty,
                                                                        tmp_path):
  raw, spec = faulty
  report = run_join(raw, str(tmp_path / "examples"), feature_spec=spec)
  faults = [json.loads(line) for line in open(os.path.join(raw, "faults.jsonl"))]
  expected = collections.Counter((f["log"], f["expected"].split(":", 1)[1])
                                 for f in faults
                                 if f["expected"].startswith("dead_letter:"))
  # A negative position and an undeclared event type are among them.
  assert expected["impressions", "invalid_value"] and expected["detail_pages",
                                                               "invalid_value"]
  assert _dead_letters(report) == expected
  duplicates = collections.Counter(f["log"] for f in faults
                                   if f["expected"] == "duplicate")
  assert {log: e["duplicate"] for log, e in report["inputs"].items()
          if e["duplicate"]} == dict(duplicates)
  assert report["reconciled"]


# --- another shop: booleans, nested objects, and broken lines of its own ------------
_N = 3000
# Each broken line is a copy of a different clean one: field -> new value (None:
# removed), and the dead letter the join must make of it.
_BROKEN_IMPRESSIONS = (
    [({"position": None}, "missing_field")] * 3
    + [({"position": "3"}, "wrong_type")] * 3
    + [({"position": -1}, "invalid_value")] * 2
    + [({"user": "vip"}, "wrong_type")] * 2
    + [({"user": {"vip": True, "geo": "DE"}}, "wrong_type")])
_BROKEN_VIEWS = ([({"dwell_ms": "n/a"}, "wrong_type")] * 2
                 + [({"dwell_ms": -5}, "invalid_value")] * 2
                 + [({"dwell_ms": None}, "missing_field")]
                 + [({"event": "teleport"}, "invalid_value")])


def _broken(record, changes):
  record = dict(record)
  for key, value in changes.items():
    if value is None:
      del record[key]
    else:
      record[key] = value
  return json.dumps(record)


def _other_shop(root):
  """Writes the logs; returns their globs and the dead letters the join must make."""
  rng = np.random.default_rng(0)
  n_users, n_items = 120, 240
  vip = rng.random(n_users) < 0.2
  country = rng.choice(["DE", "FR", "IT", "ES"], n_users)
  zone = rng.integers(1, 5, n_users)
  impressions, clicks, details = [], [], []
  for n in range(_N):
    user, item = int(rng.integers(n_users)), int(rng.integers(n_items))
    ts = T0 + n * 2 * DAY_MS // _N
    impression_id = f"o{n:05d}"
    impressions.append({
        "impression_id": impression_id, "request_id": f"q{n // 5}",
        "user_id": f"user{user}", "item_id": f"sku{item}", "ts_ms": ts,
        "position": n % 10, "scene": ("feed", "search")[n % 2],
        "user": {"vip": bool(vip[user]),
                 "geo": {"country": str(country[user]),
                         "city": {"zone": int(zone[user])}}},
        "item": {"cat": f"k{item % 8}", "seller": f"v{item % 30}",
                 "rating_bucket": item % 5 + 1, "discount_pct": 10 * (item % 6),
                 "price": round(5 + 495 * item / (n_items - 1), 2)}})
    if rng.random() >= 0.3:
      continue
    click_ts = ts + int(rng.integers(1_000, 60_000))
    clicks.append({"impression_id": impression_id, "ts_ms": click_ts})
    details.append({"impression_id": impression_id, "ts_ms": click_ts + 1_000,
                    "event": "view", "dwell_ms": int(rng.integers(1_000, 90_000))})
    if rng.random() < 0.2:
      details.append({"impression_id": impression_id, "ts_ms": click_ts + 60_000,
                      "event": "order"})
  views = [d for d in details if d["event"] == "view"]
  extra = {"impressions": [_broken(r, c) for r, (c, _) in zip(impressions,
                                                              _BROKEN_IMPRESSIONS)],
           "detail_pages": [_broken(r, c) for r, (c, _) in zip(views, _BROKEN_VIEWS)]}
  expected = collections.Counter(
      [("impressions", reason) for _, reason in _BROKEN_IMPRESSIONS]
      + [("detail_pages", reason) for _, reason in _BROKEN_VIEWS])
  return write_logs(root, impressions, clicks, details, extra), expected


def test_another_shops_booleans_and_nested_keys_are_proposed_and_joined(tmp_path):
  logs, expected = _other_shop(str(tmp_path / "raw"))
  spec = _propose(logs["impressions"], logs["detail_pages"], tmp_path / "spec.yaml")
  by_source = {f.source: f for f in spec.logged()}
  assert {"user.vip", "user.geo.country", "user.geo.city.zone", "item.cat",
          "item.seller", "item.rating_bucket", "item.discount_pct", "item.price",
          "impression.position", "impression.scene"} <= set(by_source)
  assert by_source["user.vip"].kind is spec_lib.Kind.CATEGORICAL
  assert {f.derive.of for f in spec.derived(spec_lib.Op.CLICKS_SHARING)} == {
      by_source["item.cat"].name, by_source["item.seller"].name}
  (dwell,) = spec.events["view"].fields
  assert dwell.required and dwell.bounds == (0, 1_000_000)
  assert set(spec.events) == {"view", "order"}

  report = run_join(str(tmp_path / "raw"), str(tmp_path / "examples"),
                    feature_spec=spec)
  assert _dead_letters(report) == expected
  assert report["inputs"]["impressions"]["in_examples"] == _N
  assert sum(report["examples"].values()) == _N
  assert report["reconciled"]
  declared = report["coverage"]["declared"]
  for source in ("user.vip", "user.geo.country", "user.geo.city.zone"):
    assert declared[by_source[source].name]["fraction"] == 1.0, source
