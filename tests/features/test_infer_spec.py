"""features.infer_spec: what a proposal says about small hand-written logs."""

import gzip
import json
import os
import re

import pytest

from features import infer_spec
from features import spec as spec_lib


def _impression(i, user, item, **top):
  record = {"impression_id": f"imp{i}", "request_id": f"req{i // 2}",
            "user_id": f"u{i % 3}", "item_id": f"i{i}", "ts_ms": 1_767_571_200_000 + i,
            "position": i % 4, "scene": "home_feed", "user": user, "item": item}
  record.update(top)
  return json.dumps(record)


# 8 impressions (2 without user.score), a blank line and a line that is not JSON, then
# one impression that a sample of 10 lines never reads.
_SCORES = [0.5, 1.5, None, 2.5, 3.5, None, 4.5, 10.0]
_IMPRESSIONS = [
    _impression(i, {"segment": f"seg_{i % 2}", "tier": i % 3 + 1,
                    **({"score": s} if s is not None else {})},
                {"category_id": f"c{i % 2}", "Brand Name": "b1", "segment": "x"})
    for i, s in enumerate(_SCORES)] + ["", "{not json"] + [
        _impression(99, {"late_key": "only past the sample"}, {"category_id": "c0"})]
_DETAIL_PAGES = [
    {"impression_id": "imp0", "ts_ms": 1, "event": "view", "dwell_ms": 100},
    {"impression_id": "imp0", "ts_ms": 2, "event": "view", "dwell_ms": 3000},
    {"impression_id": "imp0", "ts_ms": 3, "event": "cart"},
    {"impression_id": "imp0", "ts_ms": 4, "event": "share", "reach": 2.5},
    {"impression_id": "imp1", "ts_ms": 5, "event": "share"},
    {"impression_id": "imp0", "ts_ms": 6, "event": "purchase"},
]


def _write(path, lines):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "wt", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")


@pytest.fixture(name="logs")
def _logs(tmp_path):
  _write(str(tmp_path / "impressions" / "part-0.jsonl"), _IMPRESSIONS[:5])
  _write(str(tmp_path / "impressions" / "part-1.jsonl.gz"), _IMPRESSIONS[5:])
  _write(str(tmp_path / "detail_pages" / "part-0.jsonl"),
         [json.dumps(r) for r in _DETAIL_PAGES])
  return f"{tmp_path}/impressions/*", f"{tmp_path}/detail_pages/*"


@pytest.fixture(name="inferred")
def _inferred(logs):
  return infer_spec.infer_spec(*logs, sample_lines=10)


def _comment_of(text, name):
  """The comment lines right above feature `name`'s entry."""
  lines = text.splitlines()
  start = next(i for i, line in enumerate(lines)
               if re.match(rf"  - (\{{)?name: {name}[,}}\s]", line + " "))
  comment = []
  for line in reversed(lines[:start]):
    if not line.startswith("  # "):
      break
    comment.insert(0, line[4:])
  return " ".join(comment)


def test_kinds_follow_the_values(inferred):
  spec = inferred.spec
  assert spec["segment"].kind is spec_lib.Kind.CATEGORICAL  # strings
  assert spec["tier"].kind is spec_lib.Kind.CATEGORICAL  # 3 distinct integers
  score = spec["score"]
  assert (score.kind, score.dtype) == (spec_lib.Kind.NUMERIC, spec_lib.DType.FLOAT32)
  # [0, max(2 x p99.9, max)] rounded up to 2 significant digits: p99.9 of the six
  # scores is 9.97..., so 2 x p99.9 = 19.9... -> 20.
  assert score.bounds == (0.0, 20.0)
  assert score.default == 3.0  # The median of 0.5 1.5 2.5 3.5 4.5 10, to 2 digits.
  assert spec.identity == {"user": "user_id", "item": "item_id", "request": "request_id"}
  assert {f.name for f in spec if f.kind is spec_lib.Kind.METADATA} == {
      "impression_id", "request_id", "ts_ms"}
  assert spec["position"].privileged_in == frozenset({"ctr", "cvr"})


def test_missing_rates_are_exact(inferred):
  assert "2 of 8 (25.0%) sampled records lack it" in _comment_of(inferred.text, "score")
  assert "0 of 8 (0.0%) sampled records lack it" in _comment_of(inferred.text, "tier")


def test_names_are_sanitized_and_unique(inferred):
  spec = inferred.spec
  assert spec["brand_name"].source == "item.Brand Name"
  assert (spec["segment"].source, spec["item_segment"].source) == (
      "user.segment", "item.segment")
  assert len(set(spec.names)) == len(spec.names)
  assert all(re.fullmatch(r"[a-z0-9_]+", name) for name in spec.names)


def test_events_fields_labels_and_post_event_features(inferred):
  spec = inferred.spec
  assert set(spec.events) == {"view", "cart", "share", "purchase"}
  (dwell,) = spec.events["view"].fields
  assert (dwell.name, dwell.dtype, dwell.required, dwell.bounds) == (
      "dwell_ms", spec_lib.DType.INT64, True, (0, 6000))
  (reach,) = spec.events["share"].fields
  assert (reach.dtype, reach.required) == (spec_lib.DType.FLOAT32, False)  # 1 of 2
  assert spec.task("cvr").label == "purchase"
  assert spec["purchase"].derive.event == "purchase"
  assert spec.task("cvr").clicked_only
  assert dict(spec.task("ctr").model_defaults) == dict(
      spec_lib.DEFAULT_SPEC.task("ctr").model_defaults)
  post_event = {f.name: f.derive for f in spec.post_event_features()}
  assert set(post_event) == {"view_count", "view_dwell_ms_total", "cart_count",
                             "share_count", "share_reach_total"}
  for name in post_event:
    assert spec[name].role("cvr") is spec_lib.Role.PRIVILEGED
    assert spec[name].role("ctr") is spec_lib.Role.EXCLUDED
  assert spec["hist_item_ids"].max_length == 50


def test_the_sample_is_bounded_and_bad_lines_counted(inferred):
  assert (inferred.impressions.lines, inferred.impressions.skipped) == (10, 2)
  header = " ".join(line[2:].strip() for line in inferred.text.splitlines()
                    if line.startswith("# "))
  assert "impressions: 10 lines of" in header and "2 skipped" in header
  assert "part-1.jsonl.gz line 4" in header  # The first skipped line.
  # user.late_key is only on the 11th line, past the sample.
  assert not any("late_key" in f.source for f in inferred.spec.logged())
  assert "late_key" not in inferred.text


def test_the_written_file_loads(inferred, tmp_path):
  path = str(tmp_path / "out" / "spec.yaml")
  infer_spec.write(inferred, path)
  assert spec_lib.load_spec_file(path) == inferred.spec


def test_a_large_id_space_of_singletons_gets_min_count_2(tmp_path, logs):
  _, detail_pages = logs
  # 1,200 items seen once each (_impression gives impression i the item i); 3 users.
  _write(str(tmp_path / "many" / "i.jsonl"),
         [_impression(i, {}, {"category_id": "c0"}) for i in range(1200)])
  inferred = infer_spec.infer_spec(f"{tmp_path}/many/*", detail_pages)
  assert inferred.spec["item_id"].min_count == 2
  assert "1,200 values appear once" in _comment_of(inferred.text, "item_id")
  assert inferred.spec["user_id"].min_count == 1


def test_without_a_conversion_name_the_rarest_event_is_the_label(tmp_path, logs):
  impressions, _ = logs
  _write(str(tmp_path / "other" / "d.jsonl"), [json.dumps(
      {"impression_id": "imp0", "ts_ms": 1, "event": e}) for e in ("view", "view",
                                                                     "like")])
  spec = infer_spec.infer_spec(impressions, f"{tmp_path}/other/*").spec
  assert spec.task("cvr").label == "like"
  assert [f.name for f in spec.post_event_features()] == ["view_count"]


def test_impressions_without_user_id_are_refused(tmp_path, logs):
  _, detail_pages = logs
  _write(str(tmp_path / "anon" / "i.jsonl"), [json.dumps({"item_id": "i1"})])
  with pytest.raises(ValueError, match="user_id"):
    infer_spec.infer_spec(f"{tmp_path}/anon/*", detail_pages)


def test_a_glob_without_files_is_named(logs):
  with pytest.raises(ValueError, match=r"--detail_pages='/nowhere/\*' matches no file"):
    infer_spec.infer_spec(logs[0], "/nowhere/*")


@pytest.fixture(name="tiny_raw", scope="module")
def _tiny_raw(tmp_path_factory):
  from simulation import preset, simulate  # pylint: disable=g-import-not-at-top
  raw_dir = str(tmp_path_factory.mktemp("tiny_raw"))
  simulate(preset("tiny"), raw_dir, with_oracle=False)
  return raw_dir


def test_the_simulated_world_gives_a_spec_with_every_logged_key(tiny_raw, tmp_path):
  inferred = infer_spec.infer_spec(f"{tiny_raw}/impressions/*",
                                   f"{tiny_raw}/detail_pages/*")
  path = str(tmp_path / "spec.yaml")
  infer_spec.write(inferred, path)
  spec = spec_lib.load_spec_file(path)
  logged = set()
  for name in os.listdir(os.path.join(tiny_raw, "impressions")):
    with gzip.open(os.path.join(tiny_raw, "impressions", name), "rt") as f:
      for line in f:
        record = json.loads(line)
        logged |= {f"{obj}.{key}" for obj in ("user", "item") for key in record[obj]}
  assert logged <= {f.source for f in spec.logged()}
  assert set(spec.events) == set(spec_lib.DEFAULT_SPEC.events)
  assert spec.task("cvr").label == "purchase"
