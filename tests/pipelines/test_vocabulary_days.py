"""Vocabularies grown day after day from counts by day: a new item is appended once
it reaches min_count over the window, an item unseen for the horizon is retired in
place (its ids then map to the OOV bucket), and every other index stays."""

import collections
import dataclasses
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

import dataset_digest
from features import dataset as dataset_lib
from features import spec as spec_lib
from models import embeddings
from pipelines import vocabulary
from simulation import preset, simulate
from world_fixtures import run_daily_join

WORLD = dataclasses.replace(preset("daily"), n_days=3, num_impressions=3_000,
                            n_users=120, n_items=150, n_categories=10, n_shops=30,
                            n_brands=15)
# item_id counts over 2 days and retires after 1 unseen; user_id is left as it was.
SPEC = spec_lib.DEFAULT_SPEC.with_features(
    dataclasses.replace(f, min_count=2, min_count_days=2, retire_after_days=1)
    if f.name == "item_id" else f for f in spec_lib.DEFAULT_SPEC)


def _item_counts(data_dir):
  """The day's train examples' item_id counts."""
  return collections.Counter(example["item_id"][0]
                             for example in dataset_digest.examples(data_dir))


@pytest.fixture(scope="module")
def days(tmp_path_factory):
  """The date -> its daily dataset, each joined on the day before's."""
  root = tmp_path_factory.mktemp("vocabulary_days")
  raw_dir = str(root / "raw")
  simulate(WORLD, raw_dir, with_oracle=False)
  dates = sorted(os.path.basename(p)[len("impressions-"):][:10]
                 for p in glob.glob(f"{raw_dir}/impressions/*"))
  datasets, previous = {}, None
  for date in dates:
    datasets[date] = str(root / date)
    run_daily_join(raw_dir, datasets[date], date, previous, feature_spec=SPEC)
    previous = datasets[date]
  return datasets


def test_items_are_appended_over_the_window_and_retired_in_place(days):
  dates = list(days)
  appended_over_the_window = retired = 0
  for yesterday, today in zip(dates, dates[1:]):
    old = vocabulary.read_tokens(days[yesterday], "item_id")
    new = vocabulary.read_tokens(days[today], "item_id")
    seen, before = _item_counts(days[today]), _item_counts(days[yesterday])
    # Every line keeps its index: a token stays or, unseen today, is retired there.
    assert len(new) >= len(old)
    for index, (was, now) in enumerate(zip(old, new)):
      expected = (was if vocabulary.is_retired(was) or was in seen
                  else f"{vocabulary.RETIRED}{index}")
      assert now == expected, (today, index)
    retired += sum(vocabulary.is_retired(t) for t in new[:len(old)]) - sum(
        vocabulary.is_retired(t) for t in old)
    # Appended: today's new items with 2 over the two days, most frequent first.
    window = {t: seen[t] + before[t] for t in seen if t not in old}
    assert new[len(old):] == sorted((t for t, n in window.items() if n >= 2),
                                    key=lambda t: (-window[t], t)), today
    appended_over_the_window += sum(seen[t] < 2 for t in new[len(old):])
  assert appended_over_the_window and retired  # Both rules were exercised.


def test_a_retired_item_looks_up_as_oov_and_the_others_where_they_were(days):
  last = list(days)[-1]
  tokens = vocabulary.read_tokens(days[last], "item_id")
  previous = vocabulary.read_tokens(days[list(days)[-2]], "item_id")
  gone = [was for was, now in zip(previous, tokens)
          if vocabulary.is_retired(now) and not vocabulary.is_retired(was)]
  assert gone
  # The lookup every model, and so every served signature, builds from the file.
  table = embeddings.EmbeddingTable(embeddings.vocabulary_path(days[last], "item_id"),
                                    dim=2)
  live = [t for t in tokens if not vocabulary.is_retired(t)]
  assert table.lookup(gone).numpy().tolist() == [0] * len(gone)
  assert table.lookup(live).numpy().tolist() == [
      tokens.index(t) + embeddings.NUM_OOV_INDICES for t in live]


def test_each_day_records_the_vocabulary_version_it_extends(days):
  reports = [dataset_lib.PublishedDataset.open(d).report.data for d in days.values()]
  assert [r["vocabulary_version"] for r in reports] == [1, 2, 3]
  for base_dir, base, report in zip(days.values(), reports, reports[1:]):
    assert report["vocabulary_base"] == {"data_dir": base_dir,
                                         "run_id": base["run_id"],
                                         "vocabulary_version": base[
                                             "vocabulary_version"]}


def test_only_the_vocabularies_counted_by_day_carry_counts(days):
  for data_dir in days.values():
    assert sorted(os.listdir(os.path.join(data_dir, "vocab_counts"))) == [
        "item_id.jsonl"]


def test_a_warm_start_gives_a_retired_line_a_fresh_row_and_keeps_the_others(days):
  # models/training/warm_start.py remaps each table's rows by token with this call.
  yesterday, today = (
      embeddings.EmbeddingTable(embeddings.vocabulary_path(d, "item_id"), dim=2)
      for d in list(days.values())[-2:])
  old, new = yesterday.tokens(), today.tokens()
  trained = tf.random.stateless_normal([len(old), 2], seed=[0, 1])
  fresh = tf.random.stateless_normal([len(new), 2], seed=[2, 3])
  rows = tf.keras.utils.warmstart_embedding_matrix(
      old, new, trained, tf.keras.initializers.Constant(fresh)).numpy()
  retired = [i for i, (was, now) in enumerate(zip(old, new))
             if vocabulary.is_retired(now) and not vocabulary.is_retired(was)]
  assert retired
  for i, token in enumerate(new):
    expected = fresh[i] if i in retired or token not in old else trained[i]
    np.testing.assert_array_equal(rows[i], expected, err_msg=token)
