"""Shuffled records cross as bytes and come back equal, feature names restored."""

from pipelines import impression_join
from pipelines import wire
from pipelines.impression_join import JoinedImpression, PostEvents
from pipelines.log_records import Click, DetailEvent, Impression, Log

NAMES = ["impression_id", "price", "position", "segment"]
IMPRESSION = Impression("imp1", "u1", 1_767_571_200_000, "i1", "c1", "s1",
                        {"impression_id": "imp1", "price": 12.5, "position": 3,
                         "segment": None}, "impressions-0.jsonl.gz")


def test_impression_round_trip_restores_names_and_types():
  encoded = wire.impression_to_wire(IMPRESSION)
  assert isinstance(encoded, bytes)
  decoded = wire.impression_from_wire(encoded, NAMES)
  assert decoded == IMPRESSION
  assert decoded.canonical() == IMPRESSION.canonical()  # Dedupe compares this.


def test_joined_round_trip_leaves_the_source():
  joined = JoinedImpression(IMPRESSION, 1, IMPRESSION.ts_ms + 5, 0,
                            PostEvents(dwell_ms_total=700.0, view_count=1))
  encoded = wire.joined_to_wire(joined)
  assert wire.joined_from_wire(encoded, NAMES) == joined._replace(
      impression=IMPRESSION._replace(source=""))
  unclicked = JoinedImpression(IMPRESSION, 0, -1, 0, PostEvents())
  assert wire.joined_from_wire(wire.joined_to_wire(unclicked), NAMES).post_events == (
      PostEvents())


def test_a_lone_impression_joins_as_the_general_join_does():
  encoded = wire.impression_to_wire(IMPRESSION)
  user_id, ts_ms, joined = wire.lone_impression_to_joined_wire(encoded)
  general = impression_join.join_impression([IMPRESSION], [], [],
                                            impression_join.JoinWindows())
  assert (user_id, ts_ms) == (IMPRESSION.user_id, IMPRESSION.ts_ms)
  # marshal's bytes may differ in back-references; what they decode to may not.
  assert wire.joined_from_wire(joined, NAMES) == wire.joined_from_wire(
      wire.joined_to_wire(general.joined), NAMES)
  assert not general.dead_letters and not +general.outcomes and not +general.notes


def test_tagged_records_regroup_by_log():
  click = wire.record_to_wire(Click("imp1", 5, "clicks.jsonl"))
  impression = wire.impression_to_wire(IMPRESSION)
  grouped = wire.by_log([wire.tag(Log.CLICKS, click),
                         wire.tag(Log.IMPRESSIONS, impression),
                         wire.tag(Log.CLICKS, click)])
  assert grouped == {Log.IMPRESSIONS: [impression], Log.CLICKS: [click, click],
                     Log.DETAIL_PAGES: []}


def test_event_records_round_trip():
  for record in (Click("imp1", 5, "clicks.jsonl"),
                 DetailEvent("imp1", 6, "view", 700, "detail.jsonl")):
    assert wire.record_from_wire(wire.record_to_wire(record), type(record)) == record
