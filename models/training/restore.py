"""Rebuilds a finished models.train run: its config from metrics.json, its final weights.

What every consumer of a trained model starts from (the item-vector job here, the
export job, a warm start), so that they all restore it the same way, and refuse it the
same way over a dataset that cannot stand in for the one it was trained on. The run's
file names are declared here, below the job that writes them, which imports them.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from absl import logging
import tensorflow as tf

from features import dataset as dataset_lib
from features import input as input_lib
from models import distillation
from models.config import ModelConfig

METRICS_FILE = "metrics.json"
FINAL_WEIGHTS = posixpath.join("final", "weights")  # The model and its optimizer.


def read_run(model_dir: str) -> dict[str, Any]:
  """The metrics.json of the finished run in `model_dir`.

  Raises:
    FileNotFoundError: `model_dir` holds no finished run.
  """
  metrics_path = posixpath.join(model_dir, METRICS_FILE)
  if not tf.io.gfile.exists(metrics_path):
    raise FileNotFoundError(f"No {METRICS_FILE} in {model_dir}: is it a "
                            "finished models.train run?")
  with tf.io.gfile.GFile(metrics_path, "r") as f:
    return json.loads(f.read())


def restore_trained_model(model_dir: str,
                          dataset: str | dataset_lib.PublishedDataset,
                          optimizer: tf.keras.optimizers.Optimizer | None = None
                          ) -> tuple[distillation.DistillationModel, dict[str, Any]]:
  """The run in `model_dir`, rebuilt over the dataset it was trained on.

  Args:
    model_dir: A finished models.train run (metrics.json and final/weights).
    dataset: Its dataset (a PublishedDataset or its directory): the vocabularies
      become the lookup tables again. Another directory may stand in, e.g. the same
      logs joined again, if its spec and vocabularies are the run's
      (DataBinding.mismatch): the tables are what the weights depend on.
    optimizer: Also restore the run's optimizer state (its step and slots) into
      this new optimizer of the run's class, which the model is compiled with;
      None: the weights alone.

  Returns:
    The model, and the run's metrics.json.

  Raises:
    FileNotFoundError: `model_dir` holds no finished run.
    ValueError: `dataset` differs from the run's in its spec or a vocabulary.
  """
  run = read_run(model_dir)
  config = ModelConfig.from_dict(run["model_config"])
  dataset = dataset_lib.published(dataset)
  check_binding(model_dir, run, dataset)
  model = distillation.DistillationModel(dataset.spec, dataset.data_dir, config)
  features, _ = next(iter(input_lib.make_dataset(dataset, "eval", config.task, 8,
                                                 shuffle=False)))
  model.build_from_batch(features)  # Variables must exist before weights load.
  if optimizer is not None:
    model.compile(optimizer=optimizer)
    optimizer.build(model.trainable_variables)  # As the train step builds it.
  status = model.load_weights(posixpath.join(model_dir, FINAL_WEIGHTS))
  status.assert_existing_objects_matched()
  if optimizer is None:
    status.expect_partial()  # The checkpoint's optimizer state is not wanted.
  return model, run


def check_binding(model_dir: str, run: dict[str, Any],
                  dataset: dataset_lib.PublishedDataset) -> None:
  """Refuses `dataset` for the run in `model_dir` (its metrics.json, `run`) unless it
  may stand in for the data the run was trained on (DataBinding.mismatch): other
  vocabularies would give every id another embedding row, silently.

  Raises:
    ValueError: naming what differs, both datasets and the fix.
  """
  if "data" not in run:
    logging.warning("%s records no data binding (trained by older code): whether "
                    "%s holds its vocabularies is not checked.", model_dir,
                    dataset.data_dir)
    return
  trained = dataset_lib.DataBinding.from_dict(run["data"])
  mismatch = trained.mismatch(dataset.binding(trained.task))
  if mismatch:
    what, there, here = mismatch
    raise ValueError(
        f"--data_dir={dataset.data_dir!r} does not hold the data {model_dir!r} was "
        f"trained on: its {what} is {here}, the run's ({trained.data_dir!r}) "
        f"{there}; pass the --data_dir the run was trained on, or train again on "
        "this one.")
