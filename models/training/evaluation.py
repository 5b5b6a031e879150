"""A trained model's eval metrics per head, and the scores they are computed from."""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import tensorflow as tf

import roc
from models import distillation
from models import metrics as metrics_lib
from models.config import HeadRole


SCORES_FILE = "eval_scores.npz"  # Labels and per-head eval scores (`read_scores`).


def _in_slice(values: np.ndarray, top_fraction: float) -> np.ndarray:
  """`[n]` bool: the values in the top `top_fraction` (ties at the cut included)."""
  if not len(values):
    return np.zeros([0], bool)
  return values >= np.quantile(values, 1 - top_fraction)


def evaluate(model: distillation.DistillationModel, eval_data: tf.data.Dataset,
             scores_path: str | None = None) -> dict[str, Any]:
  """Per head: Keras metrics, GAUC by the spec's user feature, an AUC per
  evaluation slice of the spec, `{head}_{slice}_auc`, and, where the spec names a
  request feature, NDCG@K within requests, `{head}_ndcg_at_{K}`, and the student's
  recall of the teacher's top K, `student_teacher_top{K}_recall` (K: ranking_top_k).

  Args:
    model: Its `spec` names the user feature and the slices.
    eval_data: `(features, labels)` batches whose features hold the user and slice
      features beside the heads' inputs (`make_dataset`'s default features do).
    scores_path: Also write the labels and each head's scores there (`read_scores`),
      for paired tests between runs on the same eval examples.
  """
  spec = model.spec
  if isinstance(model.distribute_strategy, tf.distribute.ParameterServerStrategy):
    # Keras's evaluation on the workers would skip this model's test_step (its exact
    # visitation runs the compiled loss instead): the chief runs it over the split.
    model.reset_metrics()
    step = tf.function(model.test_step)
    for batch in eval_data:
      logs = step(batch)
    results = {k: float(v) for k, v in logs.items()}
  else:
    results = {k: float(v) for k, v in model.evaluate(eval_data, return_dict=True,
                                                      verbose=0).items()}
  # Ranking metrics within a request, at the K the ranking losses distil.
  request = spec.request_feature
  k = model.model_config.ranking_top_k if request else None
  wanted = [spec.user_feature] + [s.feature for s in spec.slices] + (
      [request] if request else [])
  labels, columns, scores = [], {name: [] for name in wanted}, {}
  # Eager calls dispatch op by op: several times the train step's cost per batch.
  predict = tf.function(model.predict_step, reduce_retracing=True)
  for features, batch_labels in eval_data:
    labels.append(batch_labels.numpy())
    for name in wanted:
      columns[name].append(features[name].numpy())
    for head, p in predict((features, batch_labels)).items():
      scores.setdefault(head, []).append(p.numpy())
  labels = np.concatenate(labels)
  columns = {name: np.concatenate(values) for name, values in columns.items()}
  slices = {s.name: _in_slice(columns[s.feature], s.top_fraction) for s in spec.slices}
  for head, head_scores in scores.items():
    head_scores = np.concatenate(head_scores)
    results[f"{head}_gauc"] = roc.group_auc(labels, head_scores,
                                                    columns[spec.user_feature])
    for name, rows in slices.items():
      results[f"{head}_{name}_auc"] = roc.auc(labels[rows], head_scores[rows])
    if request:
      results[f"{head}_ndcg_at_{k}"] = metrics_lib.request_ndcg(
          labels, head_scores, columns[request], k)
  if request and {role.value for role in HeadRole} <= scores.keys():
    results[f"student_teacher_top{k}_recall"] = metrics_lib.teacher_topk_recall(
        np.concatenate(scores[HeadRole.TEACHER.value]),
        np.concatenate(scores[HeadRole.STUDENT.value]),
        columns[request], k)
  results["eval_examples"] = int(len(labels))
  results["eval_positives"] = int(labels.sum())
  if scores_path:
    buffer = io.BytesIO()
    np.savez(buffer, labels=labels, **{head: np.concatenate(values)
                                       for head, values in scores.items()})
    tf.io.gfile.makedirs(os.path.dirname(scores_path))
    with tf.io.gfile.GFile(scores_path, "wb") as f:
      f.write(buffer.getvalue())
  return results


def read_scores(model_dir: str) -> dict[str, np.ndarray]:
  """A finished run's eval labels and head scores: {"labels", "student", ...}, in the
  eval split's order (the same for every run on one dataset)."""
  with tf.io.gfile.GFile(os.path.join(model_dir, SCORES_FILE), "rb") as f:
    with np.load(io.BytesIO(f.read()), allow_pickle=False) as arrays:
      return dict(arrays)
