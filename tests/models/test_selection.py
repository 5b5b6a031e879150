"""Tests for models/training/selection.py: the candidates of a grid and the choice."""

import os

import pytest

from models.config import ModelConfig
from models.training import run_directory
from models.training import selection
from models.training.train_config import TrainConfig

AUTO = ModelConfig(task="ctr", lambda_value="auto", learning_rate=0.01)


def test_the_candidates_are_the_grids_product_smaller_lambdas_first():
  grid = TrainConfig(validation_days=1, lambda_grid=(0.5, 0.0),
                     learning_rate_grid=(0.1, 0.2))
  assert [(c.lambda_value, c.learning_rate)
          for c in selection.candidates(AUTO, grid)] == [
              (0.0, 0.1), (0.0, 0.2), (0.5, 0.1), (0.5, 0.2)]
  fixed = ModelConfig(task="ctr", lambda_value=0.25)
  assert selection.candidates(fixed, TrainConfig()) == [fixed]
  with pytest.raises(ValueError, match="lambda_value=auto.*set validation_days"):
    selection.candidates(AUTO, TrainConfig(validation_days=0))


def _trainer(aucs):
  """A `train` that records where each candidate went and validates it at
  `aucs[lambda]`."""
  dirs = []

  def train(config, run_dir):
    dirs.append(run_dir)
    return selection.Trained(None, config, {}, {"monitor": "val_student_auc",
                                                "auc": aucs[config.lambda_value]})
  return train, dirs


def test_the_best_validation_auc_is_chosen_and_a_tie_keeps_the_first(tmp_path):
  configs = selection.candidates(AUTO, TrainConfig(validation_days=1,
                                                   lambda_grid=(0.0, 0.25, 0.5)))
  train, dirs = _trainer({0.0: 0.6, 0.25: 0.7, 0.5: 0.7})
  chosen = selection.choose(configs, str(tmp_path), train)
  assert chosen.chosen.config.lambda_value == 0.25
  assert dirs == [os.path.join(str(tmp_path), run_directory.CANDIDATES_DIR,
                               f"lambda_{value}-lr_0.01") for value in ("0", "0.25",
                                                                         "0.5")]
  assert chosen.record() == {
      "by": "val_student_auc", "lambda_value": 0.25, "learning_rate": 0.01,
      "candidates": [{"lambda_value": value, "learning_rate": 0.01,
                      "monitor": "val_student_auc", "auc": auc}
                     for value, auc in ((0.0, 0.6), (0.25, 0.7), (0.5, 0.7))]}


def test_one_candidate_trains_in_the_run_directory_itself(tmp_path):
  train, dirs = _trainer({0.5: 0.6})
  config = ModelConfig(task="ctr")
  assert selection.choose([config], str(tmp_path), train).chosen.config is config
  assert dirs == [str(tmp_path)]
