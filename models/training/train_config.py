"""How long and how a run trains: `TrainConfig`, the training jobs' flags beside
ModelConfig's (the model's own knobs)."""

from __future__ import annotations

import dataclasses

from config_flags import knob
from models.training import strategies


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How long and how a run trains (the model's own knobs are in ModelConfig)."""
  batch_size: int = knob(512, "Global batch size.")
  eval_batch_size: int | None = knob(None, "Batch size of validation and eval "
                                     "(default: --batch_size): they only score, and "
                                     "larger batches score for less per example.")
  epochs: int = knob(3, "Epochs (per stage for two_stage).")
  # A capped epoch is a block of steps, not a pass: the train input repeats (each pass
  # a new shuffle) and a run takes epochs x steps_per_epoch steps, validating (and
  # early stopping) after each block.
  steps_per_epoch: int | None = knob(None, "Steps per epoch: the train input repeats "
                                     "and validation and early stopping run every "
                                     "this many steps (default: one pass).")
  # The join job writes each split user by user (the heaviest clickers first, the
  # users who never click last), so a shuffle window much smaller than the split
  # leaves whole stretches of an epoch without a click: set it to the split's size
  # for one epoch.
  shuffle_buffer: int = knob(10_000, "Train records shuffled together (the split's "
                             "size: a full shuffle).")
  teacher_epochs: int | None = knob(None, "two_stage: the teacher's epochs (default: "
                                    "--epochs).")
  seed: int = knob(0, "Random seed.")
  strategy: str = knob("default", f"tf.distribute strategy, one of "
                       f"{strategies.STRATEGIES}; the cluster of multi_worker and "
                       "parameter_server comes from TF_CONFIG.")
  ps_min_shard_bytes: int = knob(256 << 10, "parameter_server: variables are split "
                                 "over the parameter servers in shards of at least "
                                 "this many bytes.")
  deterministic: bool = knob(False, "Op determinism and ordered input.")
  validation_days: int = knob(0, "The train split's last N UTC days validate "
                              "(early stopping, the grids) instead of training; 0: "
                              "off.")
  train_fraction: float = knob(1.0, "Train on this share of the train examples (a "
                               "subset fixed by a hash of each record): how a result "
                               "grows with data. Validation reads all of its days.")
  validation_fraction: float = knob(1.0, "Validate on this share of the validation "
                                    "days' examples (a hashed subset): each epoch "
                                    "validates, so a large day costs every epoch.")
  cache_subsets: bool = knob(False, "Hold the train, validation and eval records that "
                             "pass the filters (fractions, validation days) in "
                             "memory, once per process and dataset: later epochs and "
                             "later runs in the process read no split again "
                             "(features.input.make_dataset's cache).")
  eval_fraction: float = knob(1.0, "Evaluate on this share of the eval split (a "
                              "subset fixed by a hash of each record, the same for "
                              "every run: paired tests between runs stay paired).")
  early_stopping_patience: int = knob(
      0, "With validation: stop after N epochs without a better validation AUC of the "
      "shipped head and keep the best epoch's weights (--epochs is the most); 0: off.")
  learning_rate_grid: tuple[float, ...] = knob(
      (), "Learning rates to choose from on validation (default: --learning_rate).")
  lambda_grid: tuple[float, ...] = knob(
      (0.0, 0.25, 0.5, 0.75), "--lambda_value=auto: the lambdas to choose from on "
      "validation; 0 (the student alone, trained the same way) among them.")
  warm_start_from: str | None = knob(None, "A finished run of the same task and spec "
                                     "(e.g. yesterday's) to continue: its weights, "
                                     "id rows by token, and optimizer state "
                                     "(models/training/warm_start.py).")

  def __post_init__(self):
    strategies.check_name(self.strategy)
    if self.batch_size < 1 or self.epochs < 1 or (self.eval_batch_size or 1) < 1:
      raise ValueError(f"batch_size, eval_batch_size and epochs must be >= 1, got "
                       f"{self.batch_size}, {self.eval_batch_size}, {self.epochs}.")
    for name in ("train_fraction", "validation_fraction", "eval_fraction"):
      if not 0.0 < getattr(self, name) <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}.")
    if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
      raise ValueError(f"steps_per_epoch must be >= 1 (or unset: an epoch is a pass), "
                       f"got {self.steps_per_epoch}.")
    if self.validation_days < 0 or self.early_stopping_patience < 0:
      raise ValueError(f"validation_days and early_stopping_patience must be >= 0, "
                       f"got {self.validation_days}, {self.early_stopping_patience}.")
    if not self.validation_days and (self.early_stopping_patience
                                     or self.learning_rate_grid):
      raise ValueError("early_stopping_patience and learning_rate_grid follow the "
                       "validation AUC: set validation_days (e.g. 1).")
    if self.validation_days and self.strategy == "parameter_server":
      # Keras's evaluation on the workers would skip the model's test_step
      # (`evaluate`): validation needs a strategy whose evaluation runs it.
      raise ValueError("validation_days needs a strategy other than parameter_server.")
    if 0.0 not in self.lambda_grid or min(self.lambda_grid) < 0:
      raise ValueError(f"lambda_grid must hold 0 (the baseline: an auto run then never "
                       f"ships a student that validates worse than the student alone) "
                       f"and no negative lambda, got {self.lambda_grid}.")
    if any(rate <= 0 for rate in self.learning_rate_grid):
      raise ValueError(f"learning_rate_grid must be > 0, got {self.learning_rate_grid}.")
