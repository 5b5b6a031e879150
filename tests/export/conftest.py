"""A tiny trained PFD run on the tiny world, restored as the export job restores it."""

import collections

import pytest

from export import export_model
from export import gate
from features import dataset as dataset_lib
from models.training import restore
from models import train
from models.config import ModelConfig

TrainedRun = collections.namedtuple("TrainedRun",
                                    "model_dir data_dir model run spec examples")
TASK = "ctr"  # The tiny world has too few eval purchases for a CVR AUC.


@pytest.fixture(scope="session")
def trained_run(tiny_world, tmp_path_factory) -> TrainedRun:
  model_dir = str(tmp_path_factory.mktemp("trained") / "pfd")
  dataset = dataset_lib.PublishedDataset.open(tiny_world.examples_dir)
  train.train_and_evaluate(
      dataset, model_dir,
      ModelConfig(task=TASK, mode="pfd", embedding_dim=4, student_hidden=(8,),
                  teacher_hidden=(8,)),
      train.TrainConfig(batch_size=64, epochs=2, seed=0))
  model, run = restore.restore_trained_model(model_dir, dataset)
  return TrainedRun(model_dir, tiny_world.examples_dir, model, run, dataset.spec,
                    export_model.load_eval_examples(dataset, TASK))


@pytest.fixture(scope="session")
def published(trained_run, tmp_path_factory):
  """One version exported by the job's function (no quality floor: tiny data)."""
  return export_model.export_student(
      trained_run.model, trained_run.spec,
      export_base=str(tmp_path_factory.mktemp("serving")), model_name="ctr",
      examples=trained_run.examples, training=trained_run.run,
      policy=gate.BlessingPolicy(min_auc=0.0))
