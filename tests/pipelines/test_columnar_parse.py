"""Chunks parsed as columns give exactly the per-line parser's records, dead letters
and coverage; a chunk with a bad line falls back to it."""

import json

import pytest

from features import spec as spec_lib
from pipelines import columnar_parse
from pipelines import log_records
from pipelines import wire
from pipelines.log_records import DeadLetter, Log
from test_log_records import DELETE, with_changes

TS = 1_767_571_200_000  # 2026-01-05 00:00 UTC
SPEC = spec_lib.DEFAULT_SPEC


def impression(n, **changes):
  """Impression n's line, with `changes` as `test_log_records.with_changes` makes."""
  return json.dumps(with_changes({
      "impression_id": f"imp{n}", "request_id": f"r{n // 3}", "user_id": f"u{n % 4}",
      "item_id": f"i{n % 5}", "ts_ms": TS + n, "position": n % 10, "scene": "home_feed",
      "user": {"segment": "seg_1", "city_tier": 2, "age_bucket": n % 3, "extra": 1},
      "item": {"category_id": "c1", "shop_id": 7, "brand_id": "b1",
               "price": 19.5 if n % 2 else 3},
  }, **changes)).encode()


CLICK = {"impression_id": "imp1", "ts_ms": TS + 5}
VIEW = {"impression_id": "imp1", "ts_ms": TS + 6, "event": "view", "dwell_ms": 700}


def per_line(log, lines, source="3"):
  """The per-line parser's records as wire fields, and its coverage."""
  parser = log_records.LogParser.for_log(log, SPEC)
  records = [parser(line, source) for line in lines]
  return [r if isinstance(r, DeadLetter) else
          wire.impression_fields(r) if log is Log.IMPRESSIONS else tuple(r)
          for r in records], parser.coverage


def columnar(log, lines, source="3", forbid_fallback=False, monkeypatch=None):
  parser = columnar_parse.ColumnarParser(log, SPEC)
  if forbid_fallback:
    monkeypatch.setattr(parser, "_line", lambda *a: pytest.fail("fell back"))
  return parser(lines, source), parser.coverage


def assert_same(log, lines, **kwargs):
  got, got_coverage = columnar(log, lines, **kwargs)
  want, want_coverage = per_line(log, lines)
  assert got == want
  # Types too: an int 0 and a float 0.0 are equal but serialize differently.
  assert [[type(v) for v in r] if isinstance(r, tuple) else type(r) for r in got] == [
      [type(v) for v in r] if isinstance(r, tuple) else type(r) for r in want]
  assert got_coverage == want_coverage


def test_clean_chunks_are_read_as_columns_with_the_per_line_values(monkeypatch):
  # A chunk's column has one JSON type (Arrow's rule), so each chunk varies its own.
  chunks = [
      [impression(n) for n in range(20)],  # price: integers and floats
      [impression(n, user__age_bucket=None if n % 2 else n) for n in range(6)],
      [impression(n, user__age_bucket="" if n % 2 else "a") for n in range(6)],
      [impression(n, user__segment=n % 2 == 0) for n in range(4)],
      [impression(n, item_id=n, item__brand_id=DELETE if n % 2 else "b")
       for n in range(4)]]
  for lines in chunks:
    assert_same(Log.IMPRESSIONS, lines, forbid_fallback=True, monkeypatch=monkeypatch)
  for ids in (["a", "b"], [7, 8]):
    clicks = [json.dumps(dict(CLICK, impression_id=i)).encode() for i in ids]
    assert_same(Log.CLICKS, clicks, forbid_fallback=True, monkeypatch=monkeypatch)
  # A field the event does not declare reads 0, whatever it holds.
  details = [json.dumps(record).encode() for record in (
      VIEW, {"impression_id": "imp2", "ts_ms": TS, "event": "cart", "dwell_ms": -5},
      {"impression_id": "imp3", "ts_ms": TS, "event": "chat"})]
  assert_same(Log.DETAIL_PAGES, details, forbid_fallback=True, monkeypatch=monkeypatch)


BAD_IMPRESSIONS = [
    b"", b"   ", b"{broken", b"[1, 2]", b'"text"', b'{"impression_id": "\xff"}',
    impression(100, user_id=DELETE),  # missing_field
    impression(101, position="top"),  # wrong_type
    impression(102, position=-4),  # invalid_value
    impression(103, position=2.0),  # an integer feature given a float
    impression(104, item__price=True),  # a boolean for a number
    impression(105, ts_ms=1),  # before 2000
    impression(106, impression_id=""),  # empty id
    impression(107, item__category_id=None),  # a required key missing
    impression(108, user=None), impression(109, item="x"),
    impression(110, user__extra=None),  # an undeclared key logged as null
    impression(111, user__age_bucket=1.5),  # a float token
    impression(112)[:-1] + b', "ts_ms": 5}',  # a key given twice
    impression(113) + b" " + impression(114),  # two objects on one line
    impression(115).replace(b'"price": 19.5', b'"price": NaN'),
    impression(117).replace(b'"price": 19.5', b'"price": -0'),
    impression(119).replace(b'"position": 9', b'"position": 99999999999999999999'),
    b'{"impression_id": "\\ud800"}',
]
BAD_DETAILS = [
    json.dumps(dict(VIEW, event="vu")).encode(),  # not a declared event
    json.dumps({k: v for k, v in VIEW.items() if k != "dwell_ms"}).encode(),
    json.dumps(dict(VIEW, dwell_ms=None)).encode(),
    json.dumps(dict(VIEW, dwell_ms=-1)).encode(),
    json.dumps(dict(VIEW, dwell_ms=1.5)).encode(),
    json.dumps(dict(VIEW, event=3)).encode(),
]
BAD_CLICKS = [json.dumps(dict(CLICK, ts_ms="soon")).encode(),
              json.dumps(dict(CLICK, impression_id=None)).encode(),
              json.dumps(dict(CLICK, impression_id=True)).encode()]


@pytest.mark.parametrize("bad", BAD_IMPRESSIONS)
def test_a_chunk_with_a_bad_impression_gives_the_per_line_dead_letter(bad):
  lines = [impression(n) for n in range(5)] + [bad] + [impression(n)
                                                       for n in range(5, 9)]
  got, _ = columnar(Log.IMPRESSIONS, lines)
  assert_same(Log.IMPRESSIONS, lines)
  assert sum(isinstance(r, DeadLetter) for r in got) <= 1


def test_every_kind_of_bad_line_in_one_file_gives_the_per_line_results():
  good = [impression(n) for n in range(40)]
  lines = [line for pair in zip(good, BAD_IMPRESSIONS) for line in pair]
  got, _ = columnar(Log.IMPRESSIONS, lines)
  reasons = {r.reason for r in got if isinstance(r, DeadLetter)}
  assert reasons == {"empty_line", "malformed_json", "missing_field", "wrong_type",
                     "invalid_value"}
  assert_same(Log.IMPRESSIONS, lines)
  assert_same(Log.DETAIL_PAGES, [json.dumps(VIEW).encode(), *BAD_DETAILS])
  assert_same(Log.CLICKS, [json.dumps(CLICK).encode(), *BAD_CLICKS])


def test_a_bad_line_costs_only_its_part_the_per_line_parser(monkeypatch):
  monkeypatch.setattr(columnar_parse, "FALLBACK_LINES", 4)
  lines = [impression(n) for n in range(12)]
  lines[9] = b"{broken"
  parser = columnar_parse.ColumnarParser(Log.IMPRESSIONS, SPEC)
  per_line_calls = []
  original = parser._line  # pylint: disable=protected-access
  monkeypatch.setattr(parser, "_line",
                      lambda line, source: per_line_calls.append(line) or original(
                          line, source))
  got = parser(lines, "3")
  assert per_line_calls == lines[8:12]
  assert got == per_line(Log.IMPRESSIONS, lines)[0]
  assert parser.coverage == per_line(Log.IMPRESSIONS, lines)[1]
