"""features.infer_spec: what a proposal says about small hand-written logs."""

import gzip
import json
import os
import re
import subprocess
import sys

import pytest

from features import infer_spec
from features import spec as spec_lib
from log_lines import write_lines
from proposal_text import comment_of


T0 = 1_767_571_200_000  # 2026-01-05 00:00 UTC.


def _impression(i, user, item, **top):
  record = {"impression_id": f"imp{i}", "request_id": f"req{i // 2}",
            "user_id": f"u{i % 3}", "item_id": f"i{i}", "ts_ms": T0 + i,
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
# Seconds after the impressions (detail pages follow a click).
_DETAIL_PAGES = [
    {"impression_id": "imp0", "ts_ms": T0 + 1000, "event": "view", "dwell_ms": 100},
    {"impression_id": "imp0", "ts_ms": T0 + 2000, "event": "view", "dwell_ms": 3000},
    {"impression_id": "imp0", "ts_ms": T0 + 3000, "event": "cart"},
    {"impression_id": "imp0", "ts_ms": T0 + 4000, "event": "share", "reach": 2.5},
    {"impression_id": "imp1", "ts_ms": T0 + 5000, "event": "share"},
    {"impression_id": "imp0", "ts_ms": T0 + 6000, "event": "purchase"},
]


@pytest.fixture(name="logs")
def _logs(tmp_path):
  write_lines(str(tmp_path / "impressions" / "part-0.jsonl"), _IMPRESSIONS[:5])
  write_lines(str(tmp_path / "impressions" / "part-1.jsonl.gz"), _IMPRESSIONS[5:])
  write_lines(str(tmp_path / "detail_pages" / "part-0.jsonl"),
         [json.dumps(r) for r in _DETAIL_PAGES])
  return f"{tmp_path}/impressions/*", f"{tmp_path}/detail_pages/*"


@pytest.fixture(name="inferred")
def _inferred(logs):
  return infer_spec.infer_spec(*logs, sample_lines=10)


def _comments(text):
  """Every comment of the file, as one line of text."""
  return " ".join(line.strip()[1:].strip() for line in text.splitlines()
                  if line.strip().startswith("#"))


def test_kinds_follow_the_values(inferred):
  spec = inferred.spec
  assert spec["segment"].kind is spec_lib.Kind.CATEGORICAL  # strings
  assert spec["tier"].kind is spec_lib.Kind.CATEGORICAL  # 3 distinct integers
  score = spec["score"]
  assert (score.kind, score.dtype) == (spec_lib.Kind.NUMERIC, spec_lib.DType.FLOAT32)
  # [0, the power of ten at or above 10 x the largest score]: 10 x 10 -> 100.
  assert score.bounds == (0.0, 100.0)
  assert score.default == 3.0  # The median of 0.5 1.5 2.5 3.5 4.5 10, to 2 digits.
  assert spec.identity == {"user": "user_id", "item": "item_id", "request": "request_id"}
  assert {f.name for f in spec if f.kind is spec_lib.Kind.METADATA} == {
      "impression_id", "request_id", "ts_ms"}
  assert spec["position"].privileged_in == frozenset({"ctr", "cvr"})


def test_missing_rates_are_exact(inferred):
  assert "2 of 8 (25.0%) sampled records lack it" in comment_of(inferred.text, "score")
  assert "0 of 8 (0.0%) sampled records lack it" in comment_of(inferred.text, "tier")


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
      "dwell_ms", spec_lib.DType.INT64, True, (0, 100_000))  # 10 x 3000 -> 10^5.
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
  write_lines(str(tmp_path / "many" / "i.jsonl"),
              [_impression(i, {}, {"category_id": "c0"}) for i in range(1200)])
  inferred = infer_spec.infer_spec(f"{tmp_path}/many/*", detail_pages)
  assert inferred.spec["item_id"].min_count == 2
  assert "1,200 values appear once" in comment_of(inferred.text, "item_id")
  assert inferred.spec["user_id"].min_count == 1


def test_without_a_conversion_name_the_rarest_event_is_the_label(tmp_path, logs):
  impressions, _ = logs
  write_lines(str(tmp_path / "other" / "d.jsonl"), [json.dumps(
      {"impression_id": "imp0", "ts_ms": T0 + 1000, "event": e})
      for e in ("view", "view", "like")])
  spec = infer_spec.infer_spec(impressions, f"{tmp_path}/other/*").spec
  assert spec.task("cvr").label == "like"
  assert [f.name for f in spec.post_event_features()] == ["view_count"]


def test_impressions_without_user_id_are_refused(tmp_path, logs):
  _, detail_pages = logs
  write_lines(str(tmp_path / "anon" / "i.jsonl"), [json.dumps({"item_id": "i1"})])
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


# --- dirty logs -------------------------------------------------------------------
# 1,000 impressions of a shop whose items (300) have a coarse and a fine name
# (12 categories, 40 shops) and two integer codes; users a boolean and a nested object.
_N = 1000


def _shop_record(i, **changes):
  item = i % 300
  record = {"impression_id": f"imp{i}", "request_id": f"req{i // 10}",
            "user_id": f"u{i % 50}", "item_id": f"i{item}",
            "ts_ms": T0 + 1000 * i, "position": i % 10,
            "scene": ("feed", "search")[i % 2],
            "user": {"vip": i % 50 < 10, "geo": {"country": ("DE", "FR", "IT")[i % 3],
                                                 "city": {"zone": i % 50 % 4 + 1}}},
            "item": {"category": f"c{item % 12}", "shop": f"s{item % 40}",
                     "rating_bucket": item % 5 + 1, "discount_pct": 10 * (item % 6),
                     "price": round(5.0 + item * 495 / 299, 2)}}  # Up to 500.
  record.update(changes)
  return json.dumps(record)


def _broken(record_line, **changes):
  """A clean record with keys changed (a value of None: the key removed)."""
  record = json.loads(record_line)
  for key, value in changes.items():
    scope, _, sub = key.rpartition(".")
    target = record[scope] if scope else record
    if value is None:
      del target[sub]
    else:
      target[sub] = value
  return json.dumps(record)


def _view(i, dwell):
  return json.dumps({"impression_id": f"imp{i}", "ts_ms": T0 + 1000 * i + 100,
                     "event": "view", "dwell_ms": dwell})


@pytest.fixture(name="dirty")
def _dirty(tmp_path):
  """The shop's logs with under 1% of each field broken, as logs are."""
  lines = [_shop_record(i) for i in range(_N)]
  lines[1] = _broken(lines[1], position=None)
  lines[2] = _broken(lines[2], position=None, scene=None)
  lines[3] = _broken(lines[3], position="3")
  lines[4] = _broken(lines[4], **{"item.price": "n/a"})
  lines[5] = _broken(lines[5], **{"item.category": 3.5})
  lines[6] = _broken(lines[6], **{"item.category": 7.5})
  lines[7] = _broken(lines[7], **{"user.geo": "DE"})
  details = [_view(i, 1000 + 97 * i) for i in range(400)]
  details[7] = _view(7, "n/a")
  details[8] = _view(8, -5)
  details += [json.dumps({"impression_id": f"imp{i}", "ts_ms": T0 + 1000 * i + 200,
                          "event": event})
              for i, event in [(0, "purchase"), (1, "purchase"), (2, "teleport")]]
  details += [json.dumps({"impression_id": f"imp{i}", "ts_ms": T0 + 1000 * i + 200,
                          "event": "cart"}) for i in range(100)]
  write_lines(str(tmp_path / "dirty" / "impressions" / "i.jsonl"), lines)
  write_lines(str(tmp_path / "dirty" / "detail_pages" / "d.jsonl"), details)
  return f"{tmp_path}/dirty/impressions/*", f"{tmp_path}/dirty/detail_pages/*"


def test_a_field_read_on_enough_records_is_proposed_and_its_dead_letters_counted(dirty):
  inferred = infer_spec.infer_spec(*dirty)
  spec, text = inferred.spec, inferred.text
  assert (spec["position"].source, spec["scene"].source) == ("impression.position",
                                                             "impression.scene")
  assert ("Read on 997 of 1,000 (99.7%) sampled records; the other 3 are dead letters "
          "at join time (2 lack it, 1 strings)") in comment_of(text, "position")
  assert "the other 1 is a dead letter at join time (1 lack it)" in comment_of(
      text, "scene")
  assert spec["price"].kind is spec_lib.Kind.NUMERIC
  assert "sampled records that carry it; the other 1 is a dead letter at join time " \
         "(1 strings)" in comment_of(text, "price")
  category = comment_of(text, "category")
  assert spec["category"].kind is spec_lib.Kind.CATEGORICAL
  assert "12 distinct values" in category  # The two floats are no category.
  assert "(2 numbers with a fraction)" in category


def test_a_dirty_event_field_is_still_proposed_required_and_bounded(dirty):
  inferred = infer_spec.infer_spec(*dirty)
  (dwell,) = inferred.spec.events["view"].fields
  # 10 x the largest dwell, 1000 + 97 x 399 = 39,703 -> 10^6; the -5 is not a sign.
  assert (dwell.name, dwell.dtype, dwell.required, dwell.bounds) == (
      "dwell_ms", spec_lib.DType.INT64, True, (0, 1_000_000))
  assert ("Read on 398 of 400 (99.5%) lines; the other 2 are dead letters at join time "
          "(1 strings, 1 outside [0, 1000000]). Required") in _comments(inferred.text)


def test_rare_event_types_are_garbage_unless_named_like_a_conversion(dirty):
  inferred = infer_spec.infer_spec(*dirty)
  # teleport and purchase: 1 and 2 of 503 lines; purchase stays, by its name.
  assert set(inferred.spec.events) == {"view", "cart", "purchase"}
  comments = _comments(inferred.text)
  assert "Not declared: event 'teleport', on 1 of 503 (0.2%)" in comments
  # But 2 purchases in 400 clicked impressions are under the label floor (1% of
  # them): the rarest event over it, cart (100), is the label.
  assert inferred.spec.task("cvr").label == "cart"
  assert "purchase 2 of 400 (0.5%)" in comments and "Proposed: 'cart'" in comments


def test_booleans_and_nested_objects_are_proposed_with_dotted_sources(dirty):
  inferred = infer_spec.infer_spec(*dirty)
  by_source = {f.source: f for f in inferred.spec.logged()}
  vip, country, zone = (by_source[s] for s in ("user.vip", "user.geo.country",
                                               "user.geo.city.zone"))
  assert all(f.kind is spec_lib.Kind.CATEGORICAL and f.group is spec_lib.Group.USER
             for f in (vip, country, zone))
  assert '"true" and "false"' in comment_of(inferred.text, vip.name)
  assert "null or" not in inferred.text
  assert ("the other 1 is a dead letter at join time (1 under a user.geo that is not "
          "an object)") in comment_of(inferred.text, country.name)
  assert re.fullmatch(r"[a-z0-9_]+", country.name)


def test_crosses_and_histories_group_by_a_coarse_and_a_fine_name_not_by_codes(dirty):
  spec = infer_spec.infer_spec(*dirty).spec
  # category (12 names, 2 dead letters) and shop (40), not the integer codes
  # rating_bucket (5) and discount_pct (6) that every record carries.
  assert {f.derive.of for f in spec.derived(spec_lib.Op.CLICKS_SHARING)} == {
      "category", "shop"}
  assert {f.derive.of for f in spec.derived(spec_lib.Op.HISTORY)} == {
      "item_id", "category", "shop"}


def test_bounds_leave_room_for_a_value_the_sample_missed(tmp_path, logs):
  from pipelines import log_records  # pylint: disable=g-import-not-at-top
  _, detail_pages = logs
  write_lines(str(tmp_path / "clean" / "i.jsonl"),
              [_shop_record(i) for i in range(_N)])
  spec = infer_spec.infer_spec(f"{tmp_path}/clean/*", detail_pages).spec
  assert spec["position"].bounds == (0, 100)  # Positions 0..9.
  assert spec["price"].bounds == (0.0, 10_000.0)  # Prices up to 500.
  parse = log_records.LogParser.for_log(log_records.Log.IMPRESSIONS, spec)
  later = json.loads(_shop_record(0, position=11))
  later["item"]["price"] = 600.0
  assert isinstance(parse(json.dumps(later), "later"), log_records.Impression)
  negative = parse(_shop_record(0, position=-1), "negative")
  assert (negative.reason, negative.detail) == (
      "invalid_value", "'position'=-1 is outside [0, 100]")


def test_a_stricter_fraction_drops_the_dirty_fields_and_says_why(dirty, tmp_path):
  impressions, detail_pages = dirty
  output = tmp_path / "strict.yaml"
  subprocess.run(
      [sys.executable, "-m", "features.infer_spec", f"--impressions={impressions}",
       f"--detail_pages={detail_pages}", f"--output={output}",
       "--min_well_typed_fraction=1"], check=True, capture_output=True)
  spec = spec_lib.load_spec_file(str(output))
  assert not {"position", "scene", "price", "category"} & set(spec.names)
  assert not spec.events["view"].fields
  comments = _comments(output.read_text())
  assert "Not proposed: impression.position" in comments
  assert ("Not proposed: impression.scene, read as categorical. Read on 999 of 1,000 "
          "(99.9%) sampled records; the other 1 is a dead letter at join time (1 lack "
          "it).") in comments


def test_a_fraction_out_of_range_is_refused_naming_the_flag(logs):
  with pytest.raises(ValueError,
                     match=r"--min_well_typed_fraction must be in \(0, 1\], got 1.5"):
    infer_spec.infer_spec(*logs, min_well_typed_fraction=1.5)
