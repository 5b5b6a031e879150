"""The Beam job end to end on hand-written logs: examples, dead letter, reconciliation."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from features import example_parser
from features import spec as spec_lib
from pipelines import dataset_writer
from pipelines import join_logs
from world_fixtures import write_logs

DAY = 24 * 3600 * 1000
MIN = 60_000
T0 = 1_767_571_200_000  # 2026-01-05 00:00 UTC; day 1 is the eval day.
RUNNER = ["--runner=FnApiRunner"]  # In-process: fast for tiny data.


def imp(imp_id, user, item, ts, category="c1", shop="s1", position=0, **user_keys):
  return {"impression_id": imp_id, "request_id": f"r_{imp_id}", "user_id": user,
          "item_id": item, "ts_ms": ts, "position": position, "scene": "home_feed",
          "user": {"segment": "seg_a", "city_tier": 1, **user_keys},
          "item": {"category_id": category, "shop_id": shop, "brand_id": "b1",
                   "price": 10.0}}


IMPRESSIONS = [
    imp("a", "u1", "i1", T0 + 10 * MIN, age_bucket=3),
    imp("b", "u1", "i2", T0 + 60 * MIN, category="c2", age_bucket=3, loyalty="gold"),
    imp("c", "u1", "i3", T0 + 2 * 60 * MIN, shop="s2", age_bucket=3),
    imp("d", "u2", "i1", T0 + 30 * MIN, loyalty=None),  # No age_bucket.
    imp("e", "u1", "i4", T0 + DAY + 3 * 60 * MIN, age_bucket=""),  # Eval, > 24 h
    # after a, c; an empty id is a missing one.
]
CLICKS = [{"impression_id": "a", "ts_ms": T0 + 11 * MIN},
          {"impression_id": "c", "ts_ms": T0 + 2 * 60 * MIN + 1},
          {"impression_id": "e", "ts_ms": T0 + DAY + 181 * MIN}]
DETAILS = [
    {"impression_id": "a", "ts_ms": T0 + 12 * MIN, "event": "view", "dwell_ms": 4000},
    {"impression_id": "a", "ts_ms": T0 + 13 * MIN, "event": "cart"},
    {"impression_id": "a", "ts_ms": T0 + 14 * MIN, "event": "purchase"},
    {"impression_id": "a", "ts_ms": T0 + 15 * MIN, "event": "chat"},  # After purchase.
    {"impression_id": "c", "ts_ms": T0 + 2 * 60 * MIN + 5, "event": "view",
     "dwell_ms": 700},
]


def config(paths, output_dir, **kwargs):
  return join_logs.JoinConfig(paths["impressions"], paths["clicks"],
                              paths["detail_pages"], output_dir, **kwargs)


def read_examples(output_dir, split):
  files = tf.io.gfile.glob(os.path.join(output_dir, f"pfd-{split}.tfrecord-*"))
  parsed = example_parser.parse_batch(
      tf.constant(list(tf.data.TFRecordDataset(files).as_numpy_iterator())),
      spec_lib.DEFAULT_SPEC)
  ids = [i.decode() for i in parsed["impression_id"].numpy()]
  return {imp_id: {k: v[n] for k, v in parsed.items()} for n, imp_id in
          enumerate(ids)}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("clean")
  paths = write_logs(str(root), IMPRESSIONS, CLICKS, DETAILS)
  output_dir = str(root / "examples")
  report = join_logs.run(config(paths, output_dir), RUNNER)
  return output_dir, report


def test_every_derived_feature_and_label(clean_run):
  output_dir, _ = clean_run
  train, evaluation = read_examples(output_dir, "train"), read_examples(output_dir,
                                                                       "eval")
  assert sorted(train) == ["a", "b", "c", "d"] and sorted(evaluation) == ["e"]
  a, b, c, e = train["a"], train["b"], train["c"], evaluation["e"]
  assert (a["click"], a["purchase"]) == (1, 1)
  # Post events stop before the purchase: the chat after it does not leak.
  assert (a["dwell_ms_total"], a["view_count"], a["added_to_cart"],
          a["chat_count"]) == (4000.0, 1, 1, 0)
  assert (b["click"], b["purchase"], b["view_count"]) == (0, 0, 0)
  assert (c["click"], c["purchase"], c["dwell_ms_total"]) == (1, 0, 700.0)
  # Point in time: b sees a's click; c sees it too (c2 is b's category, not c's).
  assert b["hist_item_ids"].numpy().tolist() == [b"i1"]
  assert (b["user_category_clicks_24h"], b["user_shop_clicks_24h"]) == (0, 1)
  assert (c["user_category_clicks_24h"], c["user_shop_clicks_24h"]) == (1, 0)
  # e is a day later: a's and c's clicks are in its history, not its 24 h counts.
  assert e["hist_item_ids"].numpy().tolist() == [b"i3", b"i1"]
  assert e["hist_category_ids"].numpy().tolist() == [b"c1", b"c1"]
  assert e["user_category_clicks_24h"] == 0
  assert train["d"]["hist_item_ids"].numpy().tolist() == []  # Another user's clicks.
  assert a["price"].numpy() == pytest.approx(10.0) and a["segment"] == b"seg_a"
  missing = spec_lib.MISSING_TOKEN.encode()
  assert (train["d"]["age_bucket"], e["age_bucket"], a["age_bucket"]) == (
      missing, missing, b"3")


def test_coverage_counts_declared_and_undeclared_keys_exactly(clean_run):
  output_dir, report = clean_run
  coverage = report["coverage"]
  assert coverage["parsed_impressions"] == 5
  assert coverage["declared"]["age_bucket"] == {"records": 3, "fraction": 0.6}
  assert coverage["declared"]["city_tier"] == {"records": 5, "fraction": 1.0}
  assert set(coverage["declared"]) == {f.name for f in spec_lib.DEFAULT_SPEC.logged()}
  # A key no feature declares is counted where a record carries it, null included.
  assert coverage["logged_not_declared"] == {"user.loyalty": 2}
  vocabularies = os.listdir(os.path.join(output_dir, "vocab"))
  for name in vocabularies:
    tokens = open(os.path.join(output_dir, "vocab", name)).read().split("\n")[:-1]
    assert all(tokens), name  # Never an empty line: StringLookup refuses one.
  assert spec_lib.MISSING_TOKEN in open(
      os.path.join(output_dir, "vocab", "age_bucket.txt")).read().split()


def test_a_declared_key_no_record_carries_fails_naming_it(tmp_path):
  paths = write_logs(str(tmp_path), IMPRESSIONS, CLICKS, DETAILS)
  misspelt = spec_lib.DEFAULT_SPEC.with_features(
      dataclasses.replace(f, source="user.segmnet") if f.name == "segment" else f
      for f in spec_lib.DEFAULT_SPEC)
  with pytest.raises(dataset_writer.BadInputError,
                     match=r"feature 'segment' \(source 'user.segmnet'\) is carried by "
                           r"0 of 5.*logged keys no feature declares: .*user.segment"):
    join_logs.run(config(paths, str(tmp_path / "examples"), feature_spec=misspelt),
                  RUNNER)
  assert not os.path.exists(tmp_path / "examples")


def test_min_feature_coverage_makes_the_threshold_stricter(tmp_path):
  paths = write_logs(str(tmp_path), IMPRESSIONS, CLICKS, DETAILS)
  with pytest.raises(dataset_writer.BadInputError, match="'age_bucket'.*3 of 5"):
    join_logs.run(config(paths, str(tmp_path / "a"), min_feature_coverage=0.7), RUNNER)
  report = join_logs.run(config(paths, str(tmp_path / "b"), min_feature_coverage=0.6),
                         RUNNER)
  assert report["coverage"]["declared"]["age_bucket"]["fraction"] == 0.6


def test_clean_run_report_reconciles_with_nothing_rejected(clean_run):
  output_dir, report = clean_run
  assert report["reconciled"] and report["dead_letter_lines"] == 0
  assert report["examples"] == {"train": 4, "eval": 1}
  assert report["inputs"]["detail_pages"]["in_examples"] == 5
  assert report["positives"] == {"eval/click": 1, "train/click": 2,
                                 "train/purchase": 1}
  assert report["eval_start_ms"] == T0 + DAY
  on_disk = json.loads(open(os.path.join(output_dir, "run_report.json")).read())
  assert on_disk["inputs"] == report["inputs"]
  for name in ("_SUCCESS", "feature_spec.json", "schema.pbtxt", "vocab/item_id.txt",
               "stats/train.pb", "dataset_info.json", "features.json"):
    assert os.path.exists(os.path.join(output_dir, name)), name
  assert not [p for p in os.listdir(os.path.dirname(output_dir)) if "staging" in p]


def test_vocabularies_are_train_only_with_thresholds(clean_run):
  output_dir, report = clean_run
  vocab = open(os.path.join(output_dir, "vocab", "item_id.txt")).read().split()
  assert vocab == ["i1"]  # item_id needs 2 train impressions; i4 is eval only.
  assert open(os.path.join(output_dir, "vocab", "category_id.txt")).read().split() == [
      "c1", "c2"]  # Most frequent first.
  assert report["vocabulary_sizes"]["user_id"] == 1  # u1 only: u2 seen once.
  spec = spec_lib.FeatureSpec.from_json(
      open(os.path.join(output_dir, "feature_spec.json")).read())
  assert spec.fingerprint() == spec_lib.DEFAULT_SPEC.fingerprint()


def test_tensorflow_datasets_reads_the_output(clean_run):
  output_dir, _ = clean_run
  builder = tfds.builder_from_directory(output_dir)
  assert builder.info.splits["train"].num_examples == 4
  rows = {r["impression_id"].decode(): r
          for r in tfds.as_numpy(builder.as_dataset(split="train"))}
  assert rows["a"]["purchase"] == 1
  assert rows["b"]["hist_item_ids"].tolist() == [b"i1"]


def test_each_split_has_a_clicked_view_of_exactly_its_clicked_examples(clean_run):
  output_dir, report = clean_run
  builder = tfds.builder_from_directory(output_dir)
  for split in ("train", "eval"):
    rows = list(tfds.as_numpy(builder.as_dataset(split=split)))
    view = list(tfds.as_numpy(builder.as_dataset(split=f"{split}_clicked")))
    assert sorted(r["impression_id"] for r in view) == sorted(
        r["impression_id"] for r in rows if r["click"] == 1)
    assert len(view) == report["positives"].get(f"{split}/click", 0)
  assert report["examples"] == {"train": 4, "eval": 1}  # Views are not examples.


BAD_LINES = {
    "impressions": [
        "",  # empty_line
        "{broken",  # malformed_json
        json.dumps({k: v for k, v in imp("x1", "u3", "i9", T0).items()
                    if k != "user_id"}),  # missing_field
        json.dumps(dict(imp("x2", "u3", "i9", T0), position="top")),  # wrong_type
        json.dumps(dict(imp("x3", "u3", "i9", T0), position=-4)),  # invalid_value
        json.dumps(IMPRESSIONS[1]),  # duplicate
        json.dumps(dict(IMPRESSIONS[3], scene="search")),  # conflicting_duplicate
    ],
    "clicks": [
        json.dumps({"impression_id": "nope", "ts_ms": T0}),  # orphan_event
        json.dumps({"impression_id": "b", "ts_ms": T0}),  # event_before_impression
        json.dumps(CLICKS[0]),  # duplicate
    ],
    "detail_pages": [
        json.dumps({"impression_id": "b", "ts_ms": T0 + 61 * MIN, "event": "chat"}),
        json.dumps({"impression_id": "a", "ts_ms": T0 + 12 * MIN, "event": "vu"}),
    ],
}
EXPECTED_DEAD = {
    ("impressions", "empty_line"), ("impressions", "malformed_json"),
    ("impressions", "missing_field"), ("impressions", "wrong_type"),
    ("impressions", "invalid_value"), ("clicks", "orphan_event"),
    ("clicks", "event_before_impression"), ("detail_pages", "detail_without_click"),
    ("detail_pages", "invalid_value"),
}


def test_corrupted_logs_go_to_the_dead_letter_and_reconcile(tmp_path):
  paths = write_logs(str(tmp_path), IMPRESSIONS, CLICKS, DETAILS, BAD_LINES)
  output_dir = str(tmp_path / "examples")
  report = join_logs.run(config(paths, output_dir, max_bad_fraction=0.9), RUNNER)
  dead = [json.loads(line) for path in tf.io.gfile.glob(
      os.path.join(output_dir, "dead_letter", "*.jsonl")) for line in open(path)]
  got = sorted((d["log"], d["reason"]) for d in dead)
  # The conflicting impression d/'search' or the original d is dead, whichever is
  # larger by canonical JSON.
  assert got == sorted(EXPECTED_DEAD | {("impressions", "conflicting_duplicate")})
  assert all(d["source"].endswith(("part-0.jsonl", "part-0.jsonl.gz")) for d in dead)
  assert any(d["record"] == "{broken" for d in dead)
  inputs = report["inputs"]
  assert inputs["impressions"] == {
      "lines": 12, "in_examples": 5, "duplicate": 1, "reconciled": True,
      "dead_letter": {"conflicting_duplicate": 1, "empty_line": 1, "invalid_value": 1,
                      "malformed_json": 1, "missing_field": 1, "wrong_type": 1}}
  assert (inputs["clicks"]["lines"], inputs["clicks"]["duplicate"]) == (6, 1)
  assert inputs["detail_pages"]["lines"] == 7
  assert report["reconciled"] and report["examples"] == {"train": 4, "eval": 1}


def test_lines_are_split_as_text_files_are_and_bad_ones_named_by_line(tmp_path):
  """CRLF endings, a last line without a newline, and a line that is not UTF-8 (which
  Beam's text source would have failed the job on)."""
  paths = write_logs(str(tmp_path), IMPRESSIONS, [], DETAILS)
  clicks = [json.dumps(c).encode() for c in CLICKS]
  with open(os.path.join(tmp_path, "clicks", "part-0.jsonl"), "wb") as f:
    f.write(b"\r\n".join([clicks[0], b'{"impression_id": "\xff"}', *clicks[1:]]))
  output_dir = str(tmp_path / "examples")
  report = join_logs.run(config(paths, output_dir, max_bad_fraction=0.9), RUNNER)
  assert report["inputs"]["clicks"] == {
      "lines": 4, "in_examples": 3, "duplicate": 0, "reconciled": True,
      "dead_letter": {"malformed_json": 1}}
  [dead_path] = tf.io.gfile.glob(os.path.join(output_dir, "dead_letter", "*.jsonl"))
  [dead] = [json.loads(line) for line in open(dead_path)]
  assert dead["detail"].startswith("line 2: not UTF-8")
  assert dead["source"].endswith(os.path.join("clicks", "part-0.jsonl"))
  assert report["positives"]["train/click"] == 2


def test_bad_fraction_above_threshold_fails_and_publishes_nothing(tmp_path):
  paths = write_logs(str(tmp_path), IMPRESSIONS, CLICKS, DETAILS, BAD_LINES)
  output_dir = str(tmp_path / "examples")
  with pytest.raises(dataset_writer.BadInputError, match="max_bad_fraction"):
    join_logs.run(config(paths, output_dir, max_bad_fraction=0.1), RUNNER)
  assert not os.path.exists(output_dir)
  rejected = [p for p in os.listdir(tmp_path) if p.startswith("examples.rejected-")]
  assert len(rejected) == 1
  report = json.load(open(tmp_path / rejected[0] / "run_report.json"))
  assert report["bad_fraction"] > 0.1


def test_existing_output_needs_overwrite(clean_run):
  output_dir, _ = clean_run
  with pytest.raises(ValueError, match="--overwrite"):
    join_logs.run(config({"impressions": "x", "clicks": "x", "detail_pages": "x"},
                         output_dir), RUNNER)


def test_inputs_are_checked_before_anything_is_staged(tmp_path):
  paths = write_logs(str(tmp_path), IMPRESSIONS, CLICKS, DETAILS)
  output_dir = str(tmp_path / "examples")
  missing = {**paths, "clicks": str(tmp_path / "no_such_clicks*")}
  with pytest.raises(ValueError, match="--clicks=.*matches no file"):
    join_logs.run(config(missing, output_dir), RUNNER)
  # One file in two logs would be read twice, as two kinds of record.
  overlapping = {**paths, "clicks": paths["impressions"]}
  with pytest.raises(ValueError, match="matches both --impressions and --clicks"):
    join_logs.run(config(overlapping, output_dir), RUNNER)
  assert not [p for p in os.listdir(tmp_path) if p.startswith("examples")]


def test_the_job_runs_without_importing_tensorflow(tmp_path):
  """Launcher and workers (in-process here: the DoFns run in this one process) never
  import TensorFlow: it cost each process ~5 s of CPU to import and ~1 s to exit."""
  paths = write_logs(str(tmp_path), IMPRESSIONS, CLICKS, DETAILS)
  code = (
      "import sys\n"
      "from pipelines import join_logs\n"
      f"report = join_logs.run(join_logs.JoinConfig({paths['impressions']!r}, "
      f"{paths['clicks']!r}, {paths['detail_pages']!r}, "
      f"{str(tmp_path / 'examples')!r}), {RUNNER!r})\n"
      "assert report['reconciled'], report\n"
      "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))\n")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().splitlines()[-1] == "[]"
  assert os.path.exists(tmp_path / "examples" / "_SUCCESS")


@pytest.mark.parametrize("given, expected", [
    ([], {"runner": "FnApiRunner", "direct_running_mode": "multi_processing",
          "direct_num_workers": 2}),
    (["--direct_running_mode=in_memory"], {"direct_running_mode": "in_memory"}),
    (["--runner=FnApiRunner"], {"runner": "FnApiRunner",
                                "direct_running_mode": "in_memory"}),
])
def test_without_a_runner_the_job_takes_two_local_workers(given, expected):
  options = join_logs._pipeline_options(given).get_all_options()  # pylint: disable=protected-access
  assert {name: options[name] for name in expected} == expected
