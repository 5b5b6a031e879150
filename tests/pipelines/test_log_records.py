"""Line-level rules of LOG_CONTRACT.md: typed records or a dead letter with a reason."""

import json

import pytest

from features import spec as spec_lib
from pipelines import log_records
from pipelines.log_records import Click, DeadLetter, DetailEvent, Impression, Log

TS = 1_767_571_200_000  # 2026-01-05 00:00 UTC

IMPRESSION = {
    "impression_id": "imp1", "request_id": "r1", "user_id": "u1", "item_id": "i1",
    "ts_ms": TS, "position": 3, "scene": "home_feed",
    "user": {"segment": "seg_1", "city_tier": 2, "unknown_key": "ignored"},
    "item": {"category_id": "c1", "shop_id": 7, "brand_id": "b1", "price": 19.5},
    "unknown_field": [1, 2],
}


def parse(log, record):
  line = record if isinstance(record, (str, bytes)) else json.dumps(record)
  return log_records.LogParser.for_log(log, spec_lib.DEFAULT_SPEC)(line, "f.jsonl")


def with_changes(record, **changes):
  updated = json.loads(json.dumps(record))
  for path, value in changes.items():
    target = updated
    *parents, key = path.split("__")
    for parent in parents:
      target = target[parent]
    if value is DELETE:
      del target[key]
    else:
      target[key] = value
  return updated


DELETE = object()


def test_valid_impression_reads_spec_features_and_ignores_unknown_ones():
  impression = parse(Log.IMPRESSIONS, IMPRESSION)
  assert isinstance(impression, Impression)
  assert impression.values["shop_id"] == "7"  # Integer ids read as their decimal string.
  assert impression.values["city_tier"] == "2"
  assert impression.values["price"] == 19.5
  assert impression.values["position"] == 3
  # Absent optional key: the missing token.
  assert impression.values["age_bucket"] == spec_lib.MISSING_TOKEN
  assert "unknown_key" not in impression.values
  assert impression.source == "f.jsonl"


@pytest.mark.parametrize("record,reason,names", [
    ("", "empty_line", ""),
    ("{not json", "malformed_json", ""),
    ("[1, 2]", "malformed_json", "list"),
    (with_changes(IMPRESSION, user_id=DELETE), "missing_field", "user_id"),
    (with_changes(IMPRESSION, item__category_id=DELETE), "missing_field",
     "item.category_id"),
    (with_changes(IMPRESSION, ts_ms="yesterday"), "wrong_type", "ts_ms"),
    (with_changes(IMPRESSION, ts_ms=1.5e12), "wrong_type", "ts_ms"),
    (with_changes(IMPRESSION, position=True), "wrong_type", "position"),
    (with_changes(IMPRESSION, item__price="cheap"), "wrong_type", "item.price"),
    (with_changes(IMPRESSION, item="i1"), "wrong_type", "item"),
    (with_changes(IMPRESSION, position=-1), "invalid_value", "position"),
    (with_changes(IMPRESSION, ts_ms=TS * 1000), "invalid_value", "ts_ms"),
    (with_changes(IMPRESSION, item__price=0), "invalid_value", "item.price"),
    (json.dumps(IMPRESSION).replace("19.5", "NaN"), "invalid_value", "item.price"),
])
def test_bad_impression_lines_go_to_the_dead_letter_with_reason(record, reason, names):
  dead = parse(Log.IMPRESSIONS, record)
  assert isinstance(dead, DeadLetter)
  assert (dead.log, dead.reason, dead.source) == ("impressions", reason, "f.jsonl")
  assert names in dead.detail
  assert dead.record == (record if isinstance(record, str) else json.dumps(record))


def test_lines_read_as_utf8_bytes_parse_as_their_text():
  line = json.dumps(with_changes(IMPRESSION, user__segment="séga"), ensure_ascii=False)
  assert parse(Log.IMPRESSIONS, line.encode("utf-8")) == parse(Log.IMPRESSIONS, line)
  assert parse(Log.IMPRESSIONS, line.encode("utf-8")).values["segment"] == "séga"


def test_invalid_utf8_is_a_malformed_line_kept_with_its_bad_bytes_replaced():
  dead = parse(Log.CLICKS, b'{"impression_id": "\xff", "ts_ms": 1}')
  assert (dead.reason, dead.record) == ("malformed_json",
                                        '{"impression_id": "\ufffd", "ts_ms": 1}')
  assert "not UTF-8" in dead.detail


def test_click_and_detail_event_parse():
  assert parse(Log.CLICKS, {"impression_id": 5, "ts_ms": TS}) == Click("5", TS,
                                                                       "f.jsonl")
  view = parse(Log.DETAIL_PAGES, {"impression_id": "imp1", "ts_ms": TS,
                                  "event": "view", "dwell_ms": 1200})
  assert view == DetailEvent("imp1", TS, "view", (1200,), "f.jsonl")
  chat = parse(Log.DETAIL_PAGES, {"impression_id": "imp1", "ts_ms": TS,
                                  "event": "chat"})
  assert chat.fields == (0,)  # Not a field of a chat.


@pytest.mark.parametrize("record,reason", [
    ({"impression_id": "imp1", "ts_ms": TS, "event": "like"}, "invalid_value"),
    ({"impression_id": "imp1", "ts_ms": TS, "event": "view"}, "missing_field"),
    ({"impression_id": "imp1", "ts_ms": TS, "event": "view", "dwell_ms": -5},
     "invalid_value"),
    ({"impression_id": "imp1", "ts_ms": TS, "event": "view",
      "dwell_ms": 10 ** 9}, "invalid_value"),
    ({"impression_id": None, "ts_ms": TS, "event": "chat"}, "wrong_type"),
])
def test_bad_detail_events(record, reason):
  assert parse(Log.DETAIL_PAGES, record).reason == reason


def _spec_with_events(*events):
  spec = spec_lib.DEFAULT_SPEC
  return spec_lib.FeatureSpec(spec.features, spec.tasks.values(),
                              [*spec.events.values(), *events], spec.identity,
                              spec.slices)


def test_declared_event_fields_are_read_checked_and_optional():
  spec = _spec_with_events(spec_lib.Event("scroll", (spec_lib.EventField(
      "depth", spec_lib.DType.FLOAT32, bounds=(0.0, 1.0)),)))
  parser = log_records.LogParser.for_log(Log.DETAIL_PAGES, spec)
  line = {"impression_id": "i", "ts_ms": TS, "event": "scroll"}
  assert parser(json.dumps({**line, "depth": 0.5}), "f").fields == (0, 0.5)
  assert parser(json.dumps(line), "f").fields == (0, 0)  # Optional: absent is 0.
  out_of_bounds = parser(json.dumps({**line, "depth": 2}), "f")
  assert (out_of_bounds.reason, out_of_bounds.detail) == (
      "invalid_value", "'depth'=2.0 is outside [0.0, 1.0]")
  unknown = parser(json.dumps({**line, "event": "hover"}), "f")
  assert unknown.reason == "invalid_value" and "'hover'" in unknown.detail
  assert "scroll" in unknown.detail  # The declared events are named.


def test_a_required_logged_key_is_a_missing_field():
  record = with_changes(IMPRESSION, item__category_id=DELETE)
  dead = parse(Log.IMPRESSIONS, record)
  assert (dead.reason, dead.detail) == ("missing_field", "missing field "
                                        "'item.category_id'")


@pytest.mark.parametrize("scope, value", [
    ("user", "u1"), ("user", ["seg_1"]), ("item", "i1"), ("item", 7), ("user", None)])
def test_a_logged_object_that_is_not_an_object_is_a_wrong_type(scope, value):
  dead = parse(Log.IMPRESSIONS, with_changes(IMPRESSION, **{scope: value}))
  assert isinstance(dead, DeadLetter)
  assert (dead.reason, dead.detail) == (
      "wrong_type", f"{scope!r} must be an object, got {value!r}")


def _spec_with(*features):
  spec = spec_lib.DEFAULT_SPEC
  return spec_lib.FeatureSpec([*spec.features, *features], spec.tasks.values(),
                              spec.events.values(), spec.identity, spec.slices)


NESTED_SPEC = _spec_with(
    spec_lib.Feature("vip", spec_lib.DType.STRING, spec_lib.Kind.CATEGORICAL,
                     spec_lib.Group.USER, "user.vip", vocabulary="vip"),
    spec_lib.Feature("country", spec_lib.DType.STRING, spec_lib.Kind.CATEGORICAL,
                     spec_lib.Group.USER, "user.geo.country", vocabulary="country"))


@pytest.mark.parametrize("user, vip, country", [
    ({"vip": True, "geo": {"country": "DE"}}, "true", "DE"),
    ({"vip": False, "geo": {}}, "false", spec_lib.MISSING_TOKEN),
    ({"geo": None}, spec_lib.MISSING_TOKEN, spec_lib.MISSING_TOKEN),
])
def test_booleans_are_tokens_and_nested_keys_are_read_by_their_dotted_source(
    user, vip, country):
  parser = log_records.LogParser.for_log(Log.IMPRESSIONS, NESTED_SPEC)
  impression = parser(json.dumps(with_changes(IMPRESSION, user=user)), "f.jsonl")
  assert (impression.values["vip"], impression.values["country"]) == (vip, country)
  assert "user.geo" not in parser.coverage.undeclared  # `geo` is declared, nested.


def test_a_nested_source_under_a_value_is_a_wrong_type():
  parser = log_records.LogParser.for_log(Log.IMPRESSIONS, NESTED_SPEC)
  dead = parser(json.dumps(with_changes(IMPRESSION, user={"geo": "DE"})), "f.jsonl")
  assert (dead.reason, dead.detail) == (
      "wrong_type", "'user.geo' must be an object (for 'user.geo.country'), got 'DE'")


def test_a_boolean_is_no_number():
  dead = parse(Log.IMPRESSIONS, with_changes(IMPRESSION, item__price=True))
  assert (dead.reason, dead.detail) == (
      "wrong_type", "'item.price' must be a number, got True")
