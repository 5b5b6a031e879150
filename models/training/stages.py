"""Training as stages: the fits a candidate walks, each training some of its heads.

A mode trains in one stage (every head at once) or, where its `ModeSpec` says
`two_stages`, the teacher alone first and then the student against the frozen teacher.
An earlier stage writes its weights under the run's directory, so a killed run whose
stage had finished resumes in the next one.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Sequence

import tensorflow as tf

from models import distillation
from models.config import HeadRole, Mode
from models.training import fit
from models.training import run_directory
from models.training.restore import FINAL_WEIGHTS


@dataclasses.dataclass(frozen=True)
class Stage:
  """One fit of a candidate.

  Attributes:
    name: The key of an earlier stage's validation record in metrics.json.
    heads: The heads it trains; the mode's others keep their weights.
    epochs: How many epochs it fits.
    directory: Where an earlier stage writes, under the run's directory (the last
      stage writes in the run's directory itself: None).
  """
  name: str
  heads: frozenset[HeadRole]
  epochs: int
  directory: str | None = None


def plan(mode: Mode, epochs: int, teacher_epochs: int | None = None
         ) -> tuple[Stage, ...]:
  """The stages of `mode`: `teacher_epochs` (default `epochs`) for a first stage of
  the teacher alone, `epochs` for the last."""
  if not mode.spec.two_stages:
    return (Stage("joint", frozenset(mode.roles()), epochs),)
  return (Stage("stage1", frozenset({HeadRole.TEACHER}), teacher_epochs or epochs,
                run_directory.STAGE1_DIR),
          Stage("stage2", frozenset({HeadRole.STUDENT}), epochs))


def fit_stages(model: distillation.DistillationModel, stages: Sequence[Stage],
               run_dir: str, train_data: Any, restream: Callable[[int], Any],
               steps_per_epoch: int | None, validation_data: Any, patience: int,
               write_dir: Callable[[str], str]
               ) -> tuple[tf.keras.callbacks.History, dict[str, Any]]:
  """Fits `stages` in turn; an earlier stage whose weights exist is loaded, not fit.

  Args:
    model: A built, compiled model.
    stages: `plan`'s stages.
    run_dir: The candidate's directory.
    train_data: The first stage's input.
    restream: Stage index -> its own input, for the stages after the first over an
      endless input (see below).
    steps_per_epoch, validation_data, patience: As `fit.fit` takes them.
    write_dir: Where this worker writes what belongs in a directory (the strategy's).

  Returns:
    The last stage's history, and its validation record with each earlier stage's
    record under the stage's name (those this process fit).
  """
  *earlier, last = stages
  records = {}
  for index, stage in enumerate(earlier):
    model.train_heads(stage.heads)
    stage_dir = os.path.join(run_dir, stage.directory)
    weights = os.path.join(stage_dir, FINAL_WEIGHTS)
    if tf.io.gfile.exists(f"{weights}.index"):
      model.load_weights(weights)
      # The stage's fit drew a pass per epoch plus one: Keras's enumerate_epochs
      # opens an iterator before its epochs and a fresh one for each.
      fit.draw_passes(train_data, 0 if fit.repeats(train_data) else stage.epochs + 1)
    else:
      _, records[stage.name] = fit.fit(model, train_data, steps_per_epoch,
                                       stage.epochs, stage_dir, validation_data,
                                       patience)
      model.save_weights(os.path.join(write_dir(stage_dir), FINAL_WEIGHTS))
    if fit.repeats(train_data):
      # An endless stream draws a pass's shuffle as it starts the pass, so what it
      # would draw next depends on how far this stage's prefetch read ahead: the next
      # stage reads a stream of its own, the same in a resumed run.
      train_data = restream(index + 1)
  model.train_heads(last.heads)
  history, record = fit.fit(model, train_data, steps_per_epoch, last.epochs, run_dir,
                            validation_data, patience)
  return history, {**record, **records}
