"""Candidate selection: the configs a run chooses from on validation, each trained in
its own directory, and the one whose shipped head validates best."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, NamedTuple, Sequence

from models import distillation
from models.config import LAMBDA_AUTO, ModelConfig
from models.training import run_directory
from models.training.train_config import TrainConfig


class Trained(NamedTuple):
  """One candidate, trained."""
  model: distillation.DistillationModel
  config: ModelConfig
  history: dict[str, list[float]]
  # `fit.fit`'s validation record (an earlier stage's under its name).
  validation: dict[str, Any]


def candidates(model_config: ModelConfig, train_config: TrainConfig
               ) -> list[ModelConfig]:
  """The configs a run chooses from on validation: each lambda of `lambda_grid` (with
  lambda_value=auto; ascending, so that a tie keeps the smaller) with each rate of
  `learning_rate_grid` (a product: lambda 0 gets the same tuning); else
  `model_config` alone.

  Raises:
    ValueError: lambda_value=auto without validation days.
  """
  auto = model_config.lambda_value == LAMBDA_AUTO
  if auto and not train_config.validation_days:
    raise ValueError(f"lambda_value={LAMBDA_AUTO} chooses lambda on a validation slice: "
                     "set validation_days (e.g. 1), got validation_days=0.")
  lambdas = sorted(train_config.lambda_grid) if auto else [model_config.lambda_value]
  rates = train_config.learning_rate_grid or [model_config.learning_rate]
  return [dataclasses.replace(model_config, lambda_value=value, learning_rate=rate)
          for value in lambdas for rate in rates]


class Selection(NamedTuple):
  """The chosen candidate and what every candidate validated."""
  chosen: Trained
  tried: list[dict[str, Any]]

  def record(self) -> dict[str, Any]:
    """metrics.json's `selection`: the metric, every candidate, the chosen numbers."""
    return {"by": self.chosen.validation["monitor"], "candidates": self.tried,
            "lambda_value": self.chosen.config.lambda_value,
            "learning_rate": self.chosen.config.learning_rate}


def choose(configs: Sequence[ModelConfig], model_dir: str,
           train: Callable[[ModelConfig, str], Trained]) -> Selection:
  """Trains each of `configs` (`train(config, its directory)`) and keeps the one with
  the best validation AUC (the first of equal ones); one config trains in `model_dir`
  itself, several each under run_directory.CANDIDATES_DIR."""
  chosen, tried = None, []
  for config in configs:
    run = train(config, model_dir if len(configs) == 1 else os.path.join(
        model_dir, run_directory.CANDIDATES_DIR,
        f"lambda_{config.lambda_value:g}-lr_{config.learning_rate:g}"))
    tried.append({"lambda_value": config.lambda_value,
                  "learning_rate": config.learning_rate, **run.validation})
    if chosen is None or run.validation["auc"] > chosen.validation["auc"]:
      chosen = run  # Only one model is held beside the best.
  return Selection(chosen, tried)
