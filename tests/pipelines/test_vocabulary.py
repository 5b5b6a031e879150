"""Token selection: frequency order, ties by token, thresholds and caps, and a base
dataset's tokens kept where they were."""

import glob
import shutil

from features import dataset as dataset_lib
from pipelines import vocabulary
from world_fixtures import run_join


def test_most_frequent_first_ties_by_token_rare_dropped_and_capped():
  counts = [("b", 3), ("a", 3), ("c", 5), ("rare", 1), ("d", 2)]
  assert vocabulary.select_tokens(counts, min_count=2, max_tokens=None) == [
      "c", "a", "b", "d"]
  assert vocabulary.select_tokens(counts, min_count=2, max_tokens=2) == ["c", "a"]
  assert vocabulary.select_tokens(counts, min_count=10, max_tokens=None) == []


def test_a_base_keeps_its_order_and_new_tokens_follow_by_frequency():
  counts = [("b", 3), ("a", 3), ("c", 5), ("rare", 1), ("new", 4)]
  base = ["a", "gone", "c"]
  assert vocabulary.select_tokens(counts, 2, None, base) == [
      "a", "gone", "c", "new", "b"]
  # A cap leaves room for the base first: its tokens are never dropped.
  assert vocabulary.select_tokens(counts, 2, 4, base) == ["a", "gone", "c", "new"]
  assert vocabulary.select_tokens(counts, 2, 2, base) == base


def test_a_join_that_extends_a_base_keeps_every_base_tokens_index(tiny_world,
                                                                 tmp_path):
  # Yesterday's dataset: the logs of the first days; today's: all of them.
  yesterday_raw = tmp_path / "raw"
  for log in ("impressions", "clicks", "detail_pages"):
    (yesterday_raw / log).mkdir(parents=True)
    for path in sorted(glob.glob(f"{tiny_world.raw_dir}/{log}/*"))[:-1]:
      shutil.copy(path, yesterday_raw / log)
  base, today = str(tmp_path / "base"), str(tmp_path / "today")
  run_join(str(yesterday_raw), base, eval_days=1)
  run_join(tiny_world.raw_dir, today, base_vocabulary_dir=base)
  report = dataset_lib.PublishedDataset.open(today).report
  assert report.data["vocabulary_base"] == {
      "data_dir": base,
      "run_id": dataset_lib.PublishedDataset.open(base).report.data["run_id"]}
  grew = 0
  for name in dataset_lib.PublishedDataset.open(today).spec.vocabularies():
    old = vocabulary.read_tokens(base, name)
    new = vocabulary.read_tokens(today, name)
    assert new[:len(old)] == old, name
    grew += len(new) > len(old)
  assert grew  # Some vocabulary has tokens first seen in the last day.
