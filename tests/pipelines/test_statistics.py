"""Tests for pipelines/statistics.py: hand-derived statistics, as the dataset writer
writes them (in Beam) and by hand."""

import math

import apache_beam as beam
import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from features import layout
from features import spec as spec_lib
from pipelines import dataset_writer
from pipelines import statistics

D, K, G = spec_lib.DType, spec_lib.Kind, spec_lib.Group
SPEC = spec_lib.FeatureSpec([
    spec_lib.Feature("impression_id", D.STRING, K.METADATA, G.METADATA,
                     "impression.impression_id"),
    spec_lib.Feature("ts_ms", D.INT64, K.METADATA, G.METADATA, "impression.ts_ms"),
    spec_lib.Feature("click", D.INT64, K.LABEL, G.LABEL, "derived",
                     derive=spec_lib.Derivation(spec_lib.Op.CLICK, window_ms=1)),
    spec_lib.Feature("purchase", D.INT64, K.LABEL, G.LABEL, "derived",
                     derive=spec_lib.Derivation(spec_lib.Op.EVENT, event="purchase",
                                                window_ms=1)),
    spec_lib.Feature("price", D.FLOAT32, K.NUMERIC, G.ITEM, "item.price"),
    spec_lib.Feature("scene", D.STRING, K.CATEGORICAL, G.CONTEXT, "impression.scene",
                     vocabulary="scene"),
    spec_lib.Feature("hist_item_ids", D.STRING, K.SEQUENCE, G.BEHAVIOUR, "derived",
                     vocabulary="item_id", max_length=50,
                     derive=spec_lib.Derivation(spec_lib.Op.HISTORY, of="scene")),
], tasks=[spec_lib.Task("ctr", "click")], events=[spec_lib.Event("purchase")],
   identity={"user": "scene", "item": "scene"})
T0 = 1_700_000_000_000
EXAMPLES = [
    dict(impression_id="a", ts_ms=T0, click=1, purchase=0, price=2.0, scene="home",
         hist_item_ids=["i1", "i2"]),
    dict(impression_id="bb", ts_ms=T0 + 1, click=0, purchase=0, price=4.0,
         scene=b"search", hist_item_ids=[]),
    dict(impression_id="ccc", ts_ms=T0 + 2, click=1, purchase=1, price=None,
         scene="home", hist_item_ids=["i1"]),
    dict(impression_id="d", ts_ms=T0 + 3, click=0, purchase=0, price=0.0, scene="home",
         hist_item_ids=["i3", "i1", "i2"]),
]


def _features(stats: statistics_pb2.DatasetFeatureStatistics) -> dict:
  return {f.path.step[0]: f for f in stats.features}


def _top(string_stats) -> list[tuple[str, float]]:
  return [(v.value, v.frequency) for v in string_stats.top_values]


def _check_expected(stats: statistics_pb2.DatasetFeatureStatistics) -> None:
  """The statistics of EXAMPLES, derived by hand."""
  assert stats.num_examples == 4
  features = _features(stats)
  assert list(features) == SPEC.names

  price = features["price"]
  assert price.type == statistics_pb2.FeatureNameStatistics.FLOAT
  # 2, 4, 0 and one missing: mean 2, population variance (0 + 4 + 4) / 3.
  assert price.num_stats.common_stats.num_non_missing == 3
  assert price.num_stats.common_stats.num_missing == 1
  assert price.num_stats.mean == pytest.approx(2.0)
  assert price.num_stats.std_dev == pytest.approx(math.sqrt(8 / 3))
  assert (price.num_stats.min, price.num_stats.max) == (0.0, 4.0)
  assert price.num_stats.num_zeros == 1

  click = features["click"]
  assert click.type == statistics_pb2.FeatureNameStatistics.INT
  assert click.num_stats.mean == pytest.approx(0.5)
  assert click.num_stats.std_dev == pytest.approx(0.5)
  assert click.num_stats.num_zeros == 2
  assert click.num_stats.common_stats.avg_num_values == 1.0

  # T0 .. T0 + 3: mean T0 + 1.5, variance (2.25 + 0.25) * 2 / 4. A sum of squares
  # (~1e25) in float64 could not resolve this.
  ts = features["ts_ms"].num_stats
  assert ts.mean == pytest.approx(T0 + 1.5, abs=1e-3)
  assert ts.std_dev == pytest.approx(math.sqrt(1.25), rel=1e-6)

  scene = features["scene"]
  assert scene.type == statistics_pb2.FeatureNameStatistics.STRING
  assert scene.string_stats.unique == 2
  assert _top(scene.string_stats) == [("home", 3), ("search", 1)]
  assert scene.string_stats.avg_length == pytest.approx((3 * 4 + 6) / 4)
  assert scene.string_stats.common_stats.num_non_missing == 4

  hist = features["hist_item_ids"].string_stats
  assert hist.unique == 3
  assert _top(hist) == [("i1", 3), ("i2", 2), ("i3", 1)]
  assert hist.avg_length == pytest.approx(2.0)
  common = hist.common_stats
  assert (common.num_non_missing, common.num_missing) == (4, 0)  # [] is present.
  assert (common.min_num_values, common.max_num_values) == (0, 3)
  assert common.avg_num_values == pytest.approx(1.5)
  assert common.tot_num_values == 6

  # Ids are unique per example: lengths only, no value counts.
  ids = features["impression_id"].string_stats
  assert ids.avg_length == pytest.approx((1 + 2 + 3 + 1) / 4)
  assert ids.unique == 0 and not ids.top_values


def test_the_dataset_writer_writes_each_splits_statistics(tmp_path):
  """The job's own path (`dataset_writer.WriteSplit`): lists of examples, a user's
  each (some empty), accumulated and written to stats/<split>.pb; an empty split
  still gets its entry."""
  with beam.Pipeline(runner="DirectRunner") as pipeline:
    for split, example_lists in (
        ("train", [[EXAMPLES[0]], [], [EXAMPLES[1], EXAMPLES[2]], [EXAMPLES[3]]]),
        ("eval", [])):
      _ = (pipeline | f"Create{split}" >> beam.Create(example_lists)
           | f"Write{split}" >> dataset_writer.WriteSplit(SPEC, str(tmp_path), "pfd",
                                                          split))

  def read(split):
    stats_list = statistics.read_statistics(
        str(tmp_path / layout.STATS_DIR / f"{split}.pb"))
    assert [s.name for s in stats_list.datasets] == [split]
    return stats_list.datasets[0]

  _check_expected(read("train"))
  empty = read("eval")
  assert empty.num_examples == 0
  assert _features(empty)["hist_item_ids"].string_stats.common_stats == (
      statistics_pb2.CommonStatistics())


@pytest.mark.parametrize("partition", [
    [[0], [1, 2], [], [3]],
    [[3], [2], [1], [0]],
    [[0, 1, 2, 3]],
])
def test_merge_in_any_grouping_gives_the_same_statistics(partition):
  combine = statistics.FeatureStatsCombineFn(SPEC)
  accumulators = []
  for indices in partition:
    accumulator = combine.create_accumulator()
    for i in indices:
      accumulator = combine.add_input(accumulator, EXAMPLES[i])
    accumulators.append(accumulator)
  _check_expected(combine.extract_output(combine.merge_accumulators(accumulators)))


@pytest.mark.parametrize("pool_size", [1, 2, 3, 1024])
def test_pooled_lists_give_the_same_statistics_when_pools_are_cut_anywhere(
    monkeypatch, pool_size):
  """Lists pooled across calls, compacted mid-list, or still pooled at the merge."""
  monkeypatch.setattr(statistics._BatchAccumulateFn, "MIN_COLUMN_LENGTH", pool_size)
  combine = statistics._BatchAccumulateFn(SPEC)
  first = combine.add_inputs(combine.create_accumulator(),
                             [[EXAMPLES[0]], [], [EXAMPLES[1], EXAMPLES[2]]])
  second = combine.add_input(combine.create_accumulator(), [EXAMPLES[3]])
  merged = combine.merge_accumulators([first, second])
  stats = statistics.to_statistics(combine.extract_output(merged), SPEC, "train")
  _check_expected(stats)
  assert statistics.token_counts(combine.extract_output(merged), "scene") == {
      "home": 3, "search": 1}


def test_top_values_are_capped_and_ties_ordered_by_value():
  combine = statistics.FeatureStatsCombineFn(SPEC)
  accumulator = combine.create_accumulator()
  base = EXAMPLES[0]
  for i in list(range(25)) + [24]:
    accumulator = combine.add_input(accumulator, {**base, "scene": f"t{i:02d}"})
  scene = _features(combine.extract_output(accumulator))["scene"].string_stats
  assert scene.unique == 25
  assert _top(scene) == [("t24", 2)] + [(f"t{i:02d}", 1) for i in range(19)]


@pytest.mark.parametrize("change, message", [
    ({"no_such_feature": 1}, "no_such_feature"),
    ({"price": [1.0]}, "'price' got a list"),
    ({"hist_item_ids": "i1"}, "'hist_item_ids' needs a list"),
    ({"click": "1"}, "'click' of dtype int64"),
    ({"scene": 3}, "'scene' of dtype string"),
])
def test_bad_examples_name_the_feature(change, message):
  combine = statistics.FeatureStatsCombineFn(SPEC)
  with pytest.raises(ValueError, match=message):
    combine.add_input(combine.create_accumulator(), {**EXAMPLES[0], **change})


@pytest.mark.parametrize("filename", ["stats.pb", "stats.pbtxt"])
def test_write_and_read_round_trip(tmp_path, filename):
  combine = statistics.FeatureStatsCombineFn(SPEC)
  accumulator = combine.create_accumulator()
  for example in EXAMPLES:
    accumulator = combine.add_input(accumulator, example)
  stats_list = statistics_pb2.DatasetFeatureStatisticsList(
      datasets=[combine.extract_output(accumulator)])
  path = str(tmp_path / "out" / filename)
  statistics.write_statistics(stats_list, path)
  assert statistics.read_statistics(path) == stats_list


def test_key_order_and_missing_keys_do_not_change_the_statistics():
  # Examples in spec order are transposed in one pass; any other order is read
  # name by name, and an absent name is missing like None.
  combine = statistics.FeatureStatsCombineFn(SPEC)
  reordered = [dict(reversed(list(e.items()))) for e in EXAMPLES]
  reordered[2] = {k: v for k, v in reordered[2].items() if k != "price"}
  expected = combine.extract_output(
      combine.add_inputs(combine.create_accumulator(), EXAMPLES))
  assert combine.extract_output(
      combine.add_inputs(combine.create_accumulator(), reordered)) == expected
