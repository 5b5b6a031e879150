"""The daily run serves new ids: the student exported from day D+1's model, warm
started from day D's, scores an item first seen on D+1 with that item's own row,
not the OOV bucket's that an unknown id gets."""

import glob
import os

import pytest
import tensorflow as tf

from daily_world import DATES, MODEL, TRAIN, WORLD
from features import layout
from models.training import restore
from pipelines import vocabulary
from simulation import simulate
from workflow import daily


@pytest.fixture(scope="module")
def root(tmp_path_factory):
  """A root where the daily run ran every day of the world."""
  base = tmp_path_factory.mktemp("new_ids")
  raw_dir, root = str(base / "raw"), str(base / "root")
  simulate(WORLD, raw_dir, with_oracle=False)
  logs = {log: f"{raw_dir}/{log}/{log}-{{date}}.jsonl.gz"
          for log in ("impressions", "clicks", "detail_pages")}
  for date in DATES:
    config = daily.DailyConfig(**logs, root=root,
                               export_base=os.path.join(root, "serving"), task="ctr",
                               date=date, min_auc=0.0, max_auc_drop=1.0)
    daily.run_day(config, date, MODEL, TRAIN, ["--runner=FnApiRunner"])
  return root


def _examples(data_dir):
  """The dataset's train examples, parsed."""
  paths = glob.glob(os.path.join(data_dir, f"pfd-{layout.TRAIN}.tfrecord-*"))
  return [tf.train.Example.FromString(record.numpy())
          for record in tf.data.TFRecordDataset(sorted(paths))]


def _with_item(example, item_id):
  changed = tf.train.Example()
  changed.CopyFrom(example)
  changed.features.feature["item_id"].bytes_list.value[:] = [item_id.encode()]
  return changed.SerializeToString()


def test_the_student_of_a_day_serves_the_items_first_seen_that_day(root):
  day, before = DATES[1], DATES[0]
  run = restore.read_run(daily.model_dir(root, day))
  assert run["train_config"]["warm_start_from"] == daily.model_dir(root, before)
  new_items = (set(vocabulary.read_tokens(daily.dataset_dir(root, day), "item_id"))
               - set(vocabulary.read_tokens(daily.dataset_dir(root, before),
                                            "item_id")))
  examples = [e for e in _examples(daily.dataset_dir(root, day))
              if e.features.feature["item_id"].bytes_list.value[0].decode()
              in new_items]
  assert examples  # The day's model trained on items new that day.
  served = tf.saved_model.load(os.path.join(
      root, "serving", "ctr", str(daily.export_version(day)))).signatures
  example = examples[0]
  item = example.features.feature["item_id"].bytes_list.value[0].decode()
  requests = [_with_item(example, item_id)
              for item_id in (item, "never_seen_a", "never_seen_b")]
  scores = served["serving_default"](examples=tf.constant(requests))["logit"]
  new, unknown_a, unknown_b = scores.numpy().ravel().tolist()
  assert unknown_a == unknown_b  # Unknown ids share the OOV row,
  assert new != unknown_a, item  # the new item has its own.
