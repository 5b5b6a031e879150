"""Rebuilds a finished models.train run: its config from metrics.json, its final weights.

What every consumer of a trained model starts from (the item-vector job here, the
export job), so that they all restore it the same way.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

import tensorflow as tf

from features import dataset as dataset_lib
from features import input as input_lib
from models import distillation
from models import train
from models.config import ModelConfig


def restore_trained_model(model_dir: str,
                          dataset: str | dataset_lib.PublishedDataset
                          ) -> tuple[distillation.DistillationModel, dict[str, Any]]:
  """The run in `model_dir`, rebuilt over the dataset it was trained on.

  Args:
    model_dir: A finished models.train run (metrics.json and final/weights).
    dataset: Its dataset (a PublishedDataset or its directory): the vocabularies
      become the lookup tables again.

  Returns:
    The model, and the run's metrics.json.

  Raises:
    FileNotFoundError: `model_dir` holds no finished run.
  """
  metrics_path = posixpath.join(model_dir, train.METRICS_FILE)
  if not tf.io.gfile.exists(metrics_path):
    raise FileNotFoundError(f"No {train.METRICS_FILE} in {model_dir}: is it a "
                            "finished models.train run?")
  with tf.io.gfile.GFile(metrics_path, "r") as f:
    run = json.loads(f.read())
  config = ModelConfig.from_dict(run["model_config"])
  dataset = dataset_lib.published(dataset)
  model = distillation.DistillationModel(dataset.spec, dataset.data_dir, config)
  features, _ = next(iter(input_lib.make_dataset(dataset, "eval", config.task, 8,
                                                 shuffle=False)))
  model.build_from_batch(features)  # Variables must exist before weights load.
  model.load_weights(posixpath.join(model_dir, train.FINAL_WEIGHTS)
                     ).assert_existing_objects_matched().expect_partial()  # No optimizer.
  return model, run
