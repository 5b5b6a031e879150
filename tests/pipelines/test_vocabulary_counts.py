"""Token counts by day: counted from examples by the day of their time feature, and
carried to the next day's join in a file that reads back as written."""

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
import pytest

from pipelines import vocabulary_counts
from pipelines.vocabulary_counts import TokenDays

DAY_MS = 86_400_000


def test_examples_are_counted_by_the_day_of_their_time():
  lists = [[{"item_id": "a", "ts_ms": 10 * DAY_MS + 5},
            {"item_id": "a", "ts_ms": 11 * DAY_MS}],
           [{"item_id": "a", "ts_ms": 11 * DAY_MS - 1},
            {"item_id": "b", "ts_ms": 11 * DAY_MS + 7}]]
  with test_pipeline.TestPipeline() as pipeline:
    counted = (pipeline | beam.Create(lists)
               | beam.CombineGlobally(vocabulary_counts.CountTokensByDayFn(
                   {"items": "item_id"}, "ts_ms")))
    assert_that(counted, equal_to([{"items": {"a": {10: 2, 11: 1}, "b": {11: 1}}}]))


def test_carried_counts_read_back_as_written(tmp_path):
  carried = {"a\tb ü": TokenDays(20_461, {20_460: 2, 20_461: 1}),
             "c": TokenDays(20_458, {})}
  vocabulary_counts.write(str(tmp_path), "items", carried)
  assert vocabulary_counts.read(str(tmp_path), "items") == carried
  assert vocabulary_counts.read(str(tmp_path), "users") is None
  with open(vocabulary_counts.path(str(tmp_path), "items")) as f:
    assert f.readline() == ('{"days": {"2026-01-07": 2, "2026-01-08": 1}, '
                            '"last_seen": "2026-01-08", "token": "a\\tb ü"}\n')


def test_a_line_that_is_not_a_tokens_counts_names_its_file_and_line(tmp_path):
  vocabulary_counts.write(str(tmp_path), "items", {"c": TokenDays(20_458, {})})
  with open(vocabulary_counts.path(str(tmp_path), "items"), "a") as f:
    f.write('{"token": "d"}\n')
  with pytest.raises(ValueError, match=r"items.jsonl:2: not a token's counts"):
    vocabulary_counts.read(str(tmp_path), "items")
