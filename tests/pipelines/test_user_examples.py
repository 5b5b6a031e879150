"""Tests for pipelines/user_examples.py: one user bucket's joined batches (and carried
user-state clicks) -> example dicts keyed in the spec's order, in lists per split,
with point-in-time history, and the examples and positives per UTC day as facts."""

from features import run_report
from features import time_split
from pipelines import columnar_parse
from pipelines import user_examples
from pipelines import wire
from pipelines.impression_join import JoinedImpression
from pipelines.log_records import Log
from test_columnar_parse import SPEC, TS, impression
from test_join_events import run_bundle

DAY = run_report.DAY_MS
VALUE_NAMES = [f.name for f in SPEC.logged()]
NO_POST_EVENTS = {"dwell_ms_total": 0.0, "view_count": 0, "review_count": 0,
                  "chat_count": 0, "added_to_cart": 0}
AddHistory = user_examples.AddHistoryFn


def joined(line, click_ts=None, purchase=0, post_events=(0.0, 0, 0, 0, 0)):
  """An impression line -> its `wire.joined_fields`, clicked at `click_ts` if given."""
  [fields] = columnar_parse.ColumnarParser(Log.IMPRESSIONS, SPEC)([line], "0")
  if click_ts is None:
    [row] = wire.lone_impressions_joined([fields])
    return row
  return wire.joined_fields(JoinedImpression(
      wire.impression_from_fields(fields, VALUE_NAMES), 1, click_ts, (purchase,),
      post_events))


def examples(main_and_tagged):
  """Tagged outputs -> split -> impression_id -> example, each id once."""
  _, tagged = main_and_tagged
  by_split = {}
  for split in (time_split.TRAIN, time_split.EVAL):
    for listed in tagged.get(split, []):
      for example in listed:
        assert example["impression_id"] not in by_split.setdefault(split, {})
        by_split[split][example["impression_id"]] = example
  return by_split


def all_examples(main_and_tagged):
  return {i: e for split in examples(main_and_tagged).values()
          for i, e in split.items()}


# impression(n): user u{n % 4}, ts TS + n, item i{n % 5}, category c1, shop "7". User
# u1 has imp1, imp5 and imp9; imp1 is clicked at TS + 5 (imp5's ts).
U1 = [joined(impression(1), click_ts=TS + 5), joined(impression(5)),
      joined(impression(9))]


def test_examples_hold_every_spec_feature_in_the_spec_s_order():
  out = all_examples(run_bundle(AddHistory(SPEC), [(0, [wire.joined_batch_to_wire(
      U1)])], TS + DAY))
  assert set(out) == {"imp1", "imp5", "imp9"}
  for example in out.values():
    assert list(example) == list(SPEC.names)
  assert out["imp1"]["click"] == 1 and out["imp1"]["purchase"] == 0
  assert out["imp1"]["item_id"] == "i1" and out["imp1"]["ts_ms"] == TS + 1
  # Without a click: every label 0 and the post events their parse defaults.
  assert out["imp5"]["click"] == 0 and out["imp5"]["purchase"] == 0
  assert {name: out["imp5"][name] for name in NO_POST_EVENTS} == NO_POST_EVENTS


def test_labels_and_post_events_of_a_clicked_impression_come_through():
  post = (1500.0, 2, 1, 0, 1)
  out = all_examples(run_bundle(AddHistory(SPEC), [(0, [wire.joined_batch_to_wire(
      [joined(impression(1), click_ts=TS + 5, purchase=1, post_events=post)])])],
      TS + DAY))
  assert out["imp1"]["purchase"] == 1
  assert [out["imp1"][name] for name in NO_POST_EVENTS] == list(post)


def test_the_split_is_eval_from_eval_start_on():
  # eval_start = imp9's ts: imp9 is eval (ts >= eval_start), imp1 and imp5 train.
  by_split = examples(run_bundle(AddHistory(SPEC), [(0, [wire.joined_batch_to_wire(
      U1)])], TS + 9))
  assert set(by_split[time_split.TRAIN]) == {"imp1", "imp5"}
  assert set(by_split[time_split.EVAL]) == {"imp9"}


def test_a_click_is_in_history_only_strictly_before_the_impression():
  # The click on imp1 at TS + 5: not before imp5 (TS + 5), before imp9 (TS + 9).
  out = all_examples(run_bundle(AddHistory(SPEC), [(0, [wire.joined_batch_to_wire(
      U1)])], TS + DAY))
  assert out["imp1"]["hist_item_ids"] == []  # Its own click comes after it.
  assert out["imp5"]["hist_item_ids"] == []
  assert out["imp5"]["user_category_clicks_24h"] == 0
  assert out["imp9"]["hist_item_ids"] == ["i1"]
  assert out["imp9"]["hist_category_ids"] == ["c1"]
  assert out["imp9"]["user_category_clicks_24h"] == 1
  assert out["imp9"]["user_shop_clicks_24h"] == 1


def test_another_user_s_click_is_not_in_history():
  # imp2 (u2, TS + 2) is clicked at TS + 3; u1's imp5 and imp9 come later.
  out = all_examples(run_bundle(AddHistory(SPEC), [(0, [wire.joined_batch_to_wire(
      [joined(impression(2), click_ts=TS + 3), joined(impression(5)),
       joined(impression(9))])])], TS + DAY))
  assert out["imp9"]["hist_item_ids"] == []
  assert out["imp9"]["user_category_clicks_24h"] == 0


def test_the_examples_do_not_depend_on_the_batches_order():
  batches = [wire.joined_batch_to_wire([row]) for row in U1]
  forward = run_bundle(AddHistory(SPEC), [(0, batches)], TS + 9)
  backward = run_bundle(AddHistory(SPEC), [(0, batches[::-1])], TS + 9)
  assert forward[1][time_split.TRAIN] == backward[1][time_split.TRAIN]
  assert [e["impression_id"] for listed in forward[1][time_split.TRAIN]
          for e in listed] == ["imp1", "imp5"]  # Per user, in time order.


def test_a_carried_state_click_is_in_history_but_never_an_example():
  # A click of u1 from yesterday's state, on item i7 (category c2, shop "9"), and
  # one of u3, who has no impression in the bucket.
  state = wire.state_batch_to_wire([("u1", TS - 1000, ("i7", "c2", "9")),
                                    ("u3", TS - 1000, ("i8", "c1", "7"))])
  result = run_bundle(AddHistory(SPEC), [(0, [state, wire.joined_batch_to_wire(U1)])],
                      TS + DAY)
  out = all_examples(result)
  assert set(out) == {"imp1", "imp5", "imp9"}
  assert out["imp1"]["hist_item_ids"] == ["i7"]
  assert out["imp1"]["hist_category_ids"] == ["c2"]
  assert out["imp1"]["user_category_clicks_24h"] == 0  # c2, not imp1's c1.
  assert out["imp1"]["user_shop_clicks_24h"] == 0
  assert out["imp9"]["hist_item_ids"] == ["i1", "i7"]  # Most recent first.
  facts = dict(result[1][AddHistory.FACTS])
  assert facts[run_report.day_examples(run_report.utc_day(TS))] == 3


def test_examples_and_positives_per_day_are_facts_at_the_end_of_the_bundle():
  # Two user buckets in one bundle. Day 1 (TS): imp1 clicked and purchased, imp5;
  # imp2 clicked, not purchased. Day 2 (TS + DAY): imp3 clicked and purchased.
  day1, day2 = run_report.utc_day(TS), run_report.utc_day(TS + DAY)
  fn = AddHistory(SPEC)
  main, tagged = run_bundle(fn, [
      (0, [wire.joined_batch_to_wire([joined(impression(1), click_ts=TS + 5,
                                             purchase=1), joined(impression(5))])]),
      (1, [wire.joined_batch_to_wire([
          joined(impression(2), click_ts=TS + 6),
          joined(impression(3, ts_ms=TS + DAY), click_ts=TS + DAY + 1, purchase=1)])]),
  ], TS + DAY)
  assert not main
  facts = tagged[AddHistory.FACTS]
  assert len(facts) == len(dict(facts))  # Each key once, summed over the bundle.
  assert dict(facts) == {
      run_report.day_examples(day1): 3,
      run_report.day_positives("click", day1): 2,
      run_report.day_positives("purchase", day1): 1,
      run_report.day_examples(day2): 1,
      run_report.day_positives("click", day2): 1,
      run_report.day_positives("purchase", day2): 1}
  # The facts come only at finish_bundle, none while processing.
  fn.start_bundle()
  assert not [out for out in fn.process((0, [wire.joined_batch_to_wire(U1)]), TS + DAY)
              if getattr(out, "tag", None) == AddHistory.FACTS]


def test_a_list_is_handed_on_once_a_user_s_examples_fill_it(monkeypatch):
  monkeypatch.setattr(user_examples, "EXAMPLES_PER_LIST", 2)
  # One user (u1) with 5 impressions, then another (u2) with 1: a list is handed on
  # once a user's examples complete it, so u1's 5 go out together.
  rows = [joined(impression(4 * k + 1)) for k in range(5)] + [joined(impression(2))]
  lists = run_bundle(AddHistory(SPEC), [(0, [wire.joined_batch_to_wire(rows)])],
                     TS + DAY)[1][time_split.TRAIN]
  assert sorted(len(listed) for listed in lists) == [1, 5]
  assert sum(len(listed) for listed in lists) == 6
