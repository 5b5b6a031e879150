"""Tests for models/training/train_config.py: a run's knobs are checked as built."""

import pytest

from models.training.train_config import TrainConfig


def test_train_config_rejects_unknown_strategy():
  with pytest.raises(ValueError, match="strategy"):
    TrainConfig(strategy="tpu")


def test_the_grids_need_validation_days_and_lambdas_the_baseline():
  with pytest.raises(ValueError, match="learning_rate_grid.*set validation_days"):
    TrainConfig(learning_rate_grid=(1e-3, 1e-2))
  with pytest.raises(ValueError, match="lambda_grid must hold 0"):
    TrainConfig(validation_days=1, lambda_grid=(0.5, 1.0))
