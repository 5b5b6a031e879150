"""Keras fit over a run's directory: its callbacks, resuming a killed run where it
stopped, and the input's passes."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import tensorflow as tf

from models import distillation
from models.config import HeadRole
from models.training import fit_progress


def run_callbacks(model_dir: str) -> list[tf.keras.callbacks.Callback]:
  return [
      tf.keras.callbacks.TensorBoard(os.path.join(model_dir, "tensorboard")),
      tf.keras.callbacks.ModelCheckpoint(
          os.path.join(model_dir, "checkpoints", "epoch-{epoch:03d}"),
          save_weights_only=True),
      tf.keras.callbacks.BackupAndRestore(os.path.join(model_dir, "backup")),
  ]


_SAVED_EPOCH = "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"  # BackupAndRestore's.


def _backed_up_epochs(backup_dir: str) -> int:
  """How many epochs the BackupAndRestore state in `backup_dir` holds (0: none)."""
  for directory in (os.path.join(backup_dir, "chief"), backup_dir):
    path = tf.train.latest_checkpoint(directory)
    if path:
      reader = tf.train.load_checkpoint(path)
      if reader.has_tensor(_SAVED_EPOCH):
        return int(reader.get_tensor(_SAVED_EPOCH)) + 1
  return 0


def draw_passes(train_data: tf.data.Dataset, passes: int) -> None:
  """Starts (and drops) `passes` passes over `train_data`.

  Each pass draws the next shuffle of the shards and records; a run resumed from a
  backup (or past a finished stage) must draw the shuffles of the epochs it skips, or
  its remaining epochs would see the first epochs' orders again. (A DatasetCreator's
  workers repeat their shards: their passes are not epochs.)
  """
  if not isinstance(train_data, tf.data.Dataset):
    return
  for _ in range(passes):
    iter(train_data)


def repeats(train_data) -> bool:
  """Whether `train_data` is one endless stream (a capped epoch's repeated input),
  which `fit` reads through a single iterator across its epochs."""
  return (isinstance(train_data, tf.data.Dataset) and
          int(train_data.cardinality()) == tf.data.INFINITE_CARDINALITY)


def resumed_input(train_data, done: int, steps_per_epoch: int | None):
  """What a fit resumed after `done` finished epochs reads, to continue where the
  killed one left: a finite input's later passes (`draw_passes`), or an endless
  stream less its first `done` x `steps_per_epoch` batches (its epochs are blocks of
  steps that need not end with a pass: the skipped batches are read again, not
  trained on)."""
  if done and repeats(train_data):
    return train_data.skip(done * steps_per_epoch)
  draw_passes(train_data, done)
  return train_data


def _monitor(model: distillation.DistillationModel) -> str:
  """The validation metric a fit follows: the AUC of the head it trains for shipping
  (the teacher where the student does not train: teacher mode, a teacher's stage)."""
  followed = (HeadRole.STUDENT if HeadRole.STUDENT in model.trained_heads
              else HeadRole.TEACHER)
  return f"val_{followed.value}_auc"


def fit(model, train_data, steps_per_epoch: int | None, epochs: int, model_dir: str,
         validation_data: tf.data.Dataset | None = None, patience: int = 0
         ) -> tuple[tf.keras.callbacks.History, dict[str, Any]]:
  """Fits `epochs` (fewer if early stopping, with `patience`, stops it).

  Returns:
    The history, and with `validation_data` its record: the monitored AUC per epoch
    (per check: every `steps_per_epoch` steps, or every pass), the epoch whose
    weights the model ends with (the best with early stopping, which restores it;
    else the last) and its AUC, the checks the run made (a resumed run's earlier
    ones counted) and the steps between two (None: a pass).
  """
  done = _backed_up_epochs(os.path.join(model_dir, "backup"))
  if done:
    # On stderr whatever the logging verbosity: a resumed run reports fewer epochs.
    print(f"{model_dir}: resuming from epoch {done + 1} of {epochs} (its backup holds "
          f"{done} finished).", file=sys.stderr, flush=True)
  train_data = resumed_input(train_data, done, steps_per_epoch)
  monitor = _monitor(model)
  callbacks = run_callbacks(model_dir)
  if patience:
    callbacks.append(tf.keras.callbacks.EarlyStopping(
        monitor, patience=patience, mode="max", restore_best_weights=True))
  # A bar for people, lines for logs.
  verbose, progress_callbacks = fit_progress.for_fit()
  history = model.fit(train_data, epochs=epochs, steps_per_epoch=steps_per_epoch,
                      validation_data=validation_data,
                      callbacks=callbacks + progress_callbacks, verbose=verbose)
  if validation_data is None:
    return history, {}
  aucs = [float(v) for v in history.history[monitor]]
  # np.argmax keeps the first of equal values, as EarlyStopping's strict `>` does.
  kept = int(np.argmax(aucs)) if patience else len(aucs) - 1
  return history, {"monitor": monitor, "auc_per_epoch": aucs, "auc": aucs[kept],
                   "kept_epoch": history.epoch[kept] + 1,  # 1-based, as checkpoints.
                   "checks": history.epoch[-1] + 1, "steps_per_check": steps_per_epoch}
