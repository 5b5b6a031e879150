"""The validation gate: what a SavedModel must pass before a server may load it.

Each check reads what ships: the signatures' inputs, the object graph that
tf.saved_model.save walks, the predictions of the reloaded SavedModel.
  - No signature takes a privileged (or excluded) feature: the server does not have it.
  - No teacher variable is in the saved object graph: the student ships alone.
  - The reloaded model predicts what the in-memory student predicts (parity); for a
    two-tower student, scores through the precomputed item index equal its own, and
    the served top-k finds at least `min_recall` of the exact top-k (an approximate
    index probes too few partitions, or was built over other vectors, otherwise).
  - Like with like: every published version of the model serves the candidate's task
    (a name serving two tasks would swap one's predictions for the other's, and
    blessing would compare AUCs of different labels).
  - Blessing: eval AUC reaches a floor and does not fall more than a tolerance below the
    published version's on the same examples.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

import numpy as np
import tensorflow as tf

from export import signatures as signatures_lib
from features import spec as spec_lib
from models import retrieval

PARITY_TOLERANCE = 1e-5
# The share of the exact top-k an index's top-k must find (an exact index finds all).
MIN_RECALL = 0.95


class ExportRefused(ValueError):
  """A candidate version failed the gate; the message names what and why."""


class NotBlessed(ExportRefused):
  """The candidate's quality is below the floor or below the published version's."""


def check_serving_inputs(
    module: signatures_lib.ServingModule,
    serving_signatures: Mapping[str, tf.types.experimental.ConcreteFunction],
    spec: spec_lib.FeatureSpec, task: str) -> None:
  """Refuses any serving input that is a spec feature but not a regular one: a
  signature input, or a feature the module parses out of request Examples.

  Raises:
    ExportRefused: naming the feature, its role and where it is read.
  """
  inputs = [(f"signature {name!r}", key) for name, fn in sorted(serving_signatures.items())
            for key in signatures_lib.signature_input_names(fn)]
  inputs += [("the parsed request Examples", key) for key in module.feature_names]
  for where, key in inputs:
    if key in spec.names and spec[key].role(task) is not spec_lib.Role.REGULAR:
      raise ExportRefused(
          f"Feature {key!r} is an input of {where}, but it is "
          f"{spec[key].role(task).value} for task {task!r}: a server does not have "
          "it. Only regular features may be serving inputs.")


def check_no_teacher_variables(module: tf.Module,
                               teacher_variables: Iterable[tf.Variable]) -> None:
  """Refuses a module whose saved object graph would hold any teacher variable.

  tf.saved_model.save writes every object reachable from the module
  (`tf.train.TrackableView(module).descendants()`), so that walk is what ships.

  Raises:
    ExportRefused: naming the teacher variables found.
  """
  reachable = {id(obj) for obj in tf.train.TrackableView(module).descendants()}
  found = sorted(v.name for v in teacher_variables if id(v) in reachable)
  if found:
    raise ExportRefused(f"The serving module reaches teacher variables {found}: only "
                        "the student may ship.")


def check_same_task(task: str, published_tasks: Mapping[int, str],
                    model_name: str) -> None:
  """Refuses a candidate of `task` for a model whose published versions serve
  another task.

  Args:
    published_tasks: Each published version of the model -> the task it serves (its
      metadata's).

  Raises:
    ExportRefused: naming the model, both tasks, the version and the fix.
  """
  for version, served in sorted(published_tasks.items()):
    if served != task:
      raise ExportRefused(
          f"Model {model_name!r} serves task {served!r} (published version "
          f"{version}), but this run was trained for task {task!r}: export it under "
          f"another --model_name (e.g. --model_name={task}).")


def check_parity(candidate: np.ndarray, reference: np.ndarray,
                 tolerance: float = PARITY_TOLERANCE) -> float:
  """Refuses when reloaded predictions differ from the in-memory student's.

  Returns:
    The largest absolute difference.
  """
  difference = float(np.max(np.abs(candidate - reference))) if len(reference) else 0.0
  if not difference <= tolerance:
    worst = int(np.argmax(np.abs(candidate - reference)))
    raise ExportRefused(
        f"Reloaded predictions differ from the in-memory student's by {difference:.3g} "
        f"(> {tolerance}) at eval example {worst}: {candidate[worst]} vs "
        f"{reference[worst]}.")
  return difference


def check_item_index(index_logits: np.ndarray, student_logits: np.ndarray,
                     tolerance: float = PARITY_TOLERANCE) -> dict[str, float]:
  """Refuses an item index that does not reproduce the two-tower student.

  The index's vectors were computed by a batch job; stale or foreign vectors would
  retrieve and score with another model than the one shipped.

  Args:
    index_logits: `[n]` logits of eval (user, item) pairs through the index
      (`-inf` where the item is not indexed).
    student_logits: `[n]` the student's own logits for the same pairs.

  Returns:
    index_coverage (the fraction of eval items indexed) and index_max_abs_diff.
  """
  indexed = np.isfinite(index_logits)
  if not indexed.any():
    raise ExportRefused(f"None of {len(index_logits)} eval items is in the item "
                        "index: was it computed from this dataset's catalogue?")
  difference = float(np.max(np.abs(index_logits[indexed] - student_logits[indexed])))
  if not difference <= tolerance:
    raise ExportRefused(
        f"Scores through the item index differ from the student's by {difference:.3g} "
        f"(> {tolerance}): the item vectors were not computed by this model.")
  return {"index_coverage": float(indexed.mean()), "index_max_abs_diff": difference}


def check_recall(served_ids: np.ndarray, exact_ids: np.ndarray,
                 min_recall: float = MIN_RECALL) -> float:
  """Refuses an index whose top-k misses too much of the exact top-k.

  Args:
    served_ids: `[users, k]` ids from the SavedModel's top_k signature.
    exact_ids: `[users, k]` the exact top-k of the same users over the same items.

  Returns:
    recall@k: the mean share of each user's exact top-k that was served.
  """
  recall = retrieval.recall_at_k(served_ids, exact_ids)
  if not recall >= min_recall:
    raise ExportRefused(
        f"The item index's top-{exact_ids.shape[1]} finds {recall:.3f} of the exact "
        f"top-{exact_ids.shape[1]} of {len(exact_ids)} eval users (< min_recall="
        f"{min_recall}): build it with more num_probes (models.item_vectors) or more "
        "partitions.")
  return recall


@dataclasses.dataclass(frozen=True)
class BlessingPolicy:
  """When a candidate may replace the published version.

  Attributes:
    min_auc: The eval AUC every version must reach.
    max_auc_drop: How far below the published version's AUC (on the same eval
      examples) a candidate may be.
  """
  min_auc: float = 0.5
  max_auc_drop: float = 0.005

  def check(self, candidate_auc: float, published_auc: float | None,
            published_version: int | None = None) -> None:
    """Raises NotBlessed with both figures when the candidate falls short."""
    if not candidate_auc >= self.min_auc:
      raise NotBlessed(f"Eval AUC {candidate_auc:.4f} is below the floor "
                       f"min_auc={self.min_auc}.")
    if published_auc is not None and candidate_auc < published_auc - self.max_auc_drop:
      raise NotBlessed(
          f"Eval AUC {candidate_auc:.4f} is more than max_auc_drop="
          f"{self.max_auc_drop} below published version {published_version}'s "
          f"{published_auc:.4f} on the same examples.")
