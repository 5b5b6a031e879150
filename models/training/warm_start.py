"""Warm start: a new run continues a finished one (yesterday's) on data whose
vocabularies may have grown or been renumbered since.

Each id table's rows follow their tokens (`tf.keras.utils.warmstart_embedding_matrix`):
a token the finished run knew gets its trained row wherever today's vocabulary puts
it, the OOV bucket's row included; a new token keeps the row the new model
initialised. Every other weight carries over where its shape is unchanged. So does
the optimizer: its step, which the lambda schedule reads (the teacher is trained
already: the schedule must not start its warm-up again), and its slots, an id
table's by token (a new token's at zero, as a fresh optimizer's are).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, NamedTuple

import tensorflow as tf

from models import distillation
from models import embeddings
from models.training import restore


def continue_run(model_dir: str, model: distillation.DistillationModel) -> None:
  """Carries the finished run in `model_dir` over into `model` (`carry_over`).

  The run is rebuilt, with its optimizer, over the dataset it was trained on (its
  recorded data_dir), whose vocabularies name the token of each of its rows. Call
  it outside a strategy's scope: the finished run is only read.

  Args:
    model_dir: A finished models.train run of `model`'s task and feature spec.
    model: Built and compiled, not yet trained.

  Raises:
    ValueError: The run is of another task or spec, records no dataset, or its
      weights do not line up with `model`'s (another mode or architecture).
    FileNotFoundError: `model_dir` holds no finished run, or its dataset is gone.
  """
  run = restore.read_run(model_dir)
  _check_run(model_dir, run, model)
  data_dir = run["data"]["data_dir"]
  # Of the new optimizer's class and settings: the run's checkpoint restores its slots.
  optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
  try:
    base, _ = restore.restore_trained_model(model_dir, data_dir, optimizer)
  except FileNotFoundError as e:
    raise FileNotFoundError(
        f"--warm_start_from={model_dir!r} was trained on {data_dir!r}, which is no "
        f"published dataset now ({e}): a warm start reads its vocabularies, the "
        "token of each row; publish it there again, or train from scratch.") from e
  carry_over(base, model)


def carry_over(base: distillation.DistillationModel,
               model: distillation.DistillationModel) -> None:
  """Sets `model`'s weights and optimizer state from `base`'s.

  Id table rows (and their optimizer slots) are remapped by token; any other weight
  or optimizer variable is copied where its shape is unchanged and keeps its new
  value where not (e.g. a wider layer). A variable split over parameter servers is
  read and written whole.

  Args:
    base: The finished run's model, compiled with a built optimizer that holds its
      state (`restore.restore_trained_model` with an optimizer).
    model: Built and compiled with an optimizer of the same class, not yet trained;
      its optimizer is built here, in its strategy's scope.

  Raises:
    ValueError: The two models' weights or optimizer variables do not line up
      (another mode or architecture): the first difference is named.
  """
  base_rows, rows = _rows_by_variable(base), _rows_by_variable(model)
  _carry(base.weights, model.weights, base_rows, rows, "weight")
  with model.distribute_strategy.scope():
    model.optimizer.build(model.trainable_variables)  # As the train step builds it.
  # An optimizer slot is named "<slot>/<its variable's name>"
  # (Optimizer.add_variable_from_reference): a table's slots follow its tokens too.
  _carry(base.optimizer.variables, model.optimizer.variables,
         _slot_rows(base.optimizer, base_rows), _slot_rows(model.optimizer, rows),
         "optimizer variable")


def _check_run(model_dir: str, run: Mapping[str, Any],
               model: distillation.DistillationModel) -> None:
  """Refuses a run of another task or spec, or one that records no dataset."""
  task = model.model_config.task
  if run["task"] != task:
    raise ValueError(f"--warm_start_from={model_dir!r} holds a run of task "
                     f"{run['task']!r}, not of this run's task {task!r}: a warm start "
                     f"continues a run of the same task; pass a run of {task!r}.")
  if "data" not in run:
    raise ValueError(f"--warm_start_from={model_dir!r} records no dataset (older "
                     "code): which token each of its rows is is unknown; train it "
                     "again, or train from scratch.")
  there, here = run["data"]["feature_spec_fingerprint"], model.spec.fingerprint()
  if there != here:
    raise ValueError(f"--warm_start_from={model_dir!r} was trained with another "
                     f"feature spec (fingerprint {there}, this dataset's {here}): its "
                     "weights are not this model's; train from scratch.")


# A shard of a variable split over parameter servers: "<variable name>/part_<i>:0".
_PART = re.compile(r"/part_(\d+)(?=:\d+$)")


class _Variable(NamedTuple):
  """One variable, whole: its shards (a parameter server's) in row order, or itself."""
  name: str  # Without a shard's suffix.
  parts: list[tf.Variable]

  @property
  def shape(self) -> tf.TensorShape:
    first = self.parts[0].shape
    if len(self.parts) == 1:
      return first
    return tf.TensorShape([sum(part.shape[0] for part in self.parts)]).concatenate(
        first[1:])

  def value(self) -> tf.Tensor:
    values = [tf.convert_to_tensor(part) for part in self.parts]
    return values[0] if len(values) == 1 else tf.concat(values, axis=0)

  def assign(self, value: tf.Tensor) -> None:
    if len(self.parts) == 1:
      self.parts[0].assign(value)
      return
    for part, rows in zip(self.parts, tf.split(value, [p.shape[0] for p in self.parts])):
      part.assign(rows)


def _whole(variables) -> list[_Variable]:
  """`variables` (a model's weights, an optimizer's variables) as whole variables,
  in order: a split one's shards (listed one by one, or as a ShardedVariable) joined."""
  whole = []
  for variable in variables:
    for part in (variable.variables
                 if isinstance(variable, tf.__internal__.distribute.ShardedVariable)
                 else [variable]):
      shard = _PART.search(part.name)
      if shard and int(shard.group(1)) > 0:
        whole[-1].parts.append(part)  # The next shard of the variable before.
      else:
        whole.append(_Variable(_PART.sub("", part.name), [part]))
  return whole


class _Rows(NamedTuple):
  """What a variable's rows are: those of an id table, one per token."""
  table: str
  tokens: list[str]


def _rows_by_variable(model: distillation.DistillationModel) -> dict[str, _Rows]:
  """Variable name -> its rows, for the id tables whose rows have tokens (a hashed
  table's are buckets: it carries over as any other weight)."""
  return {_whole([table.embedding.embeddings])[0].name: _Rows(table.name, tokens)
          for table in model.submodules
          if isinstance(table, embeddings.EmbeddingTable)
          and (tokens := table.tokens()) is not None}


def _slot_rows(optimizer: tf.keras.optimizers.Optimizer,
               rows: Mapping[str, _Rows]) -> dict[str, _Rows]:
  """Optimizer variable name -> its rows, for the slots of id tables."""
  return {variable.name: rows[reference] for variable in _whole(optimizer.variables)
          if (reference := variable.name.partition("/")[2]) in rows}


def _carry(base_variables, variables, base_rows: Mapping[str, _Rows],
           rows: Mapping[str, _Rows], what: str) -> None:
  """Assigns each of `variables` from the one of `base_variables` at its position."""
  base_variables, variables = _whole(base_variables), _whole(variables)
  if len(base_variables) != len(variables):
    raise ValueError(
        f"The warm start's run has {len(base_variables)} {what}s, this model "
        f"{len(variables)}: a warm start continues a model of the same mode and "
        "architecture.")
  for old, new in zip(base_variables, variables):
    old_rows, new_rows = base_rows.get(old.name), rows.get(new.name)
    if (old_rows and old_rows.table) != (new_rows and new_rows.table):
      raise ValueError(
          f"The warm start's run and this model differ at {what} {new.name!r} "
          f"({old.name!r} there): a warm start continues a model of the same mode "
          "and architecture.")
    if new_rows:
      new.assign(tf.keras.utils.warmstart_embedding_matrix(
          old_rows.tokens, new_rows.tokens, old.value(),
          tf.keras.initializers.Constant(new.value())))
    elif old.shape == new.shape:
      new.assign(old.value())
