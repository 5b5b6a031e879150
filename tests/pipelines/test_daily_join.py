"""The daily join's contract: day after day, with the carried user state, each day's
examples are parse-equal to that day's in a full join over all the days, and every
vocabulary keeps each earlier token's index."""

import dataclasses
import glob
import os

import pytest

import dataset_digest
from features import layout
from features import run_report
from pipelines import join_logs
from pipelines import user_state
from pipelines import vocabulary
from simulation import preset, simulate
from world_fixtures import run_daily_join as daily_join
from world_fixtures import run_join, write_logs

RUNNER = ["--runner=FnApiRunner"]
# Small, but every day brings new users and items, and clicks cross midnight.
WORLD = dataclasses.replace(preset("daily"), n_days=4, num_impressions=4_000,
                            n_users=150, n_items=200, n_categories=12, n_shops=40,
                            n_brands=20)


def _examples(data_dir):
  """impression_id -> the parsed Example's features, over every split."""
  return {example["impression_id"][0]: example for split in layout.SPLITS
          for example in dataset_digest.examples(data_dir, split)}


@pytest.fixture(scope="module")
def days(tmp_path_factory):
  """The world's raw logs, its full join, and a daily join per day on the last."""
  root = tmp_path_factory.mktemp("daily")
  raw_dir = str(root / "raw")
  simulate(WORLD, raw_dir, with_oracle=False)
  full_dir = str(root / "full")
  run_join(raw_dir, full_dir)
  dates = sorted(os.path.basename(p)[len("impressions-"):][:10]
                 for p in glob.glob(f"{raw_dir}/impressions/*"))
  daily = {}
  previous = None
  for date in dates:
    daily[date] = str(root / date)
    report = daily_join(raw_dir, daily[date], date, previous)
    assert report["reconciled"]
    previous = daily[date]
  return raw_dir, full_dir, daily


def test_each_day_is_parse_equal_to_its_days_in_the_full_join(days):
  _, full_dir, daily = days
  full = _examples(full_dir)
  carried_history = 0
  for date, data_dir in daily.items():
    today = _examples(data_dir)
    expected = {i: e for i, e in full.items()
                if run_report.utc_day(e["ts_ms"][0]) == date}
    assert today.keys() == expected.keys(), date
    for impression_id, example in today.items():
      assert example == expected[impression_id], (date, impression_id)
    carried_history += sum(1 for e in today.values() if e["hist_item_ids"])
  assert carried_history  # The history is not trivially empty.


def test_a_day_is_all_train_and_its_report_owns_only_its_day(days):
  _, _, daily = days
  for date, data_dir in daily.items():
    report = run_report.RunReport.from_json(
        open(os.path.join(data_dir, "run_report.json")).read())
    assert list(report.days) == [date]
    assert report.examples("eval") == 0
    assert report.data["reconciled"]
    assert all("another_day" in e for e in report.data["inputs"].values())


def test_later_days_carry_state_and_every_earlier_token_keeps_its_index(days):
  _, _, daily = days
  dates = list(daily)
  for yesterday, today in zip(dates, dates[1:]):
    assert glob.glob(os.path.join(daily[today], user_state.STATE_DIR, "*.parquet"))
    for name in vocabulary_names(daily[today]):
      old = vocabulary.read_tokens(daily[yesterday], name)
      assert vocabulary.read_tokens(daily[today], name)[:len(old)] == old, name


def vocabulary_names(data_dir):
  return [os.path.basename(p)[:-len(".txt")]
          for p in glob.glob(os.path.join(data_dir, "vocab", "*.txt"))]


def test_running_a_day_again_replaces_it_with_the_same_examples(days):
  raw_dir, _, daily = days
  date, previous = list(daily)[-1], list(daily)[-2]
  before = _examples(daily[date])
  daily_join(raw_dir, daily[date], date, daily[previous], overwrite=True)
  assert _examples(daily[date]) == before


def test_a_state_of_another_day_is_refused(days, tmp_path):
  raw_dir, _, daily = days
  first, _, third = list(daily)[:3]
  with pytest.raises(ValueError, match=f"state after {first}"):
    daily_join(raw_dir, str(tmp_path / "out"), third, daily[first])


MIN, DAY = 60_000, 24 * 3_600_000
T0 = 1_767_571_200_000  # 2026-01-05 00:00 UTC.


def _impression(imp_id, user, item, ts):
  return {"impression_id": imp_id, "request_id": f"r_{imp_id}", "user_id": user,
          "item_id": item, "ts_ms": ts, "position": 0, "scene": "home_feed",
          "user": {"segment": "s", "city_tier": 1, "age_bucket": 2},
          "item": {"category_id": "c1", "shop_id": "s1", "brand_id": "b1",
                   "price": 9.5}}


def test_lines_belong_to_the_run_of_their_day(tmp_path):
  # a is shown before midnight and clicked and bought after it; c, the next day,
  # sees a's click; zz is no impression's.
  paths = write_logs(
      str(tmp_path), [_impression("a", "u1", "i1", T0 + DAY - 10 * MIN),
                      _impression("c", "u1", "i2", T0 + DAY + 60 * MIN)],
      [{"impression_id": "a", "ts_ms": T0 + DAY + 5 * MIN},
       {"impression_id": "zz", "ts_ms": T0 + DAY + 7 * MIN}],
      [{"impression_id": "a", "ts_ms": T0 + DAY + 120 * MIN, "event": "purchase"}])
  full_dir = str(tmp_path / "full")
  join_logs.run(join_logs.JoinConfig(paths["impressions"], paths["clicks"],
                                     paths["detail_pages"], full_dir,
                                     max_bad_fraction=1.0, allow_anomalies=True),
                RUNNER)
  full = _examples(full_dir)
  reports, previous = [], None
  for date in ("2026-01-05", "2026-01-06"):
    output_dir = str(tmp_path / date)
    reports.append(join_logs.run(join_logs.JoinConfig(
        paths["impressions"], paths["clicks"], paths["detail_pages"], output_dir,
        date=date, state_from=previous, max_bad_fraction=1.0), RUNNER))
    previous = output_dir
  first, second = _examples(str(tmp_path / "2026-01-05")), _examples(previous)
  assert first == {"a": full["a"]} and second == {"c": full["c"]}
  assert first["a"]["purchase"] == [1] and second["c"]["hist_item_ids"] == ["i1"]
  # The first run used the next day's click and purchase but left them to it.
  assert reports[0]["inputs"]["clicks"] == {
      "lines": 2, "in_examples": 0, "duplicate": 0, "another_day": 2,
      "reconciled": True, "dead_letter": {}}
  assert reports[1]["inputs"]["clicks"] == {
      "lines": 2, "in_examples": 0, "duplicate": 0, "another_day": 0,
      "joined_earlier": 1, "reconciled": True, "dead_letter": {"orphan_event": 1}}
  assert reports[1]["inputs"]["detail_pages"]["joined_earlier"] == 1
  assert reports[1]["inputs"]["impressions"]["another_day"] == 1


def test_a_backfill_writes_the_state_a_daily_join_continues(days, tmp_path):
  raw_dir, full_dir, daily = days
  dates = list(daily)
  first_days = tmp_path / "raw"
  for log in ("impressions", "clicks", "detail_pages"):
    (first_days / log).mkdir(parents=True)
    for date in dates[:-1]:
      name = f"{log}-{date}.jsonl.gz"
      os.symlink(os.path.join(raw_dir, log, name), first_days / log / name)
  backfill = str(tmp_path / "backfill")
  run_join(str(first_days), backfill, write_state=True)
  last = str(tmp_path / dates[-1])
  daily_join(raw_dir, last, dates[-1], backfill)
  assert _examples(last) == _examples(daily[dates[-1]])
