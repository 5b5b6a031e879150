r"""Export job: a trained run's student -> a validated, versioned SavedModel.

    python -m export.export_model --model_dir=workspace/models/pfd \
      --data_dir=workspace/examples --export_base=workspace/serving --model_name=cvr

Restores the run that models.train wrote (its metrics.json config and final weights),
saves the student alone with its signatures (export/signatures.py), passes the gate
(export/gate.py) on the eval split, writes the warm-up requests and the metadata into
the version, and only then renames it to `<export_base>/<model_name>/<version>/`. A
refused candidate is kept as `.rejected-<version>` and the job fails naming why.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from typing import Any, Mapping, Sequence

from absl import logging
import numpy as np
import tensorflow as tf

import cli
import config_flags
from config_flags import knob
import roc
from export import gate
from export import metadata
from export import signatures
from export import versions
from export import warmup
from features import dataset as dataset_lib
from features import example_parser
from features import input as input_lib
from features import layout
from features import spec as spec_lib
from models import distillation
from models import heads
from models import item_vectors
from models.training import restore
from models import retrieval
from models.heads import two_tower

PREDICT_BATCH = 1024
WARMUP_EXAMPLES = 100
# Eval users whose served top-k is compared with the exact one, in batches of
# RECALL_BATCH (an exact search scores `[batch, num_items]` at once).
RECALL_EXAMPLES = 256
RECALL_BATCH = 16


@dataclasses.dataclass(frozen=True)
class EvalExamples:
  """Serialized eval examples of the task, as a server receives them, and labels."""
  serialized: np.ndarray  # [n] bytes
  labels: np.ndarray  # [n] float32


@dataclasses.dataclass(frozen=True)
class ExportResult:
  version: int
  path: str
  metadata: dict[str, Any]


def load_eval_examples(dataset: str | dataset_lib.PublishedDataset, task: str,
                       max_examples: int | None = None) -> EvalExamples:
  """The eval split's examples of `task`, in file order (at most `max_examples`).

  Args:
    dataset: A PublishedDataset, or the directory of one.
  """
  dataset = dataset_lib.published(dataset)
  spec = dataset.spec
  label = spec.task(task).label
  records = input_lib.task_records(dataset, layout.EVAL, task)
  if max_examples is not None:
    records = records.take(max_examples)
  serialized = np.concatenate(
      [batch.numpy() for batch in records.batch(PREDICT_BATCH)] or [np.zeros([0], object)])
  if not len(serialized):
    raise ValueError(f"The eval split of {dataset.data_dir} holds no {task!r} "
                     "examples: nothing to validate an export on.")
  labels = example_parser.parse_batch(tf.constant(list(serialized)), [spec[label]])
  return EvalExamples(serialized, labels[label].numpy().astype(np.float32))


def _in_batches(score, serialized: np.ndarray) -> np.ndarray:
  """Concatenated `score(batch)` over `[n]` serialized examples."""
  outputs = [score(tf.constant(list(serialized[i:i + PREDICT_BATCH]))).numpy()
             for i in range(0, len(serialized), PREDICT_BATCH)]
  return np.concatenate(outputs) if outputs else np.zeros([0], np.float32)


def predict(signature, serialized: np.ndarray, output: str = "probability"
            ) -> np.ndarray:
  """`[n]` probabilities (`output`) from a serving_default-like signature."""
  return _in_batches(lambda batch: signature(examples=batch)[output], serialized)


def _in_memory_probabilities(model: distillation.DistillationModel,
                             spec: spec_lib.FeatureSpec, serialized: np.ndarray,
                             label: str | None = None) -> np.ndarray:
  """The parity reference: the trained model's own student on parsed features (with
  `label`, a multi-task student's probability of that auxiliary label)."""
  regular = spec.regular(model.model_config.task)

  def score(batch):
    features = example_parser.parse_batch(batch, regular)
    if label is None:
      return tf.sigmoid(model(features))
    return tf.sigmoid(heads.auxiliary_logits(model.student, features)[label])

  return _in_batches(score, serialized)


def _check_item_index(reloaded, index: retrieval.Index, spec: spec_lib.FeatureSpec,
                      examples: EvalExamples, min_recall: float) -> dict[str, float]:
  """Eval (user, item) pairs scored through the index vs the student's own logits,
  and eval users' served top-k vs an exact search over the index's items."""
  batch = tf.constant(list(examples.serialized[:PREDICT_BATCH]))
  item = spec[spec.item_feature]
  item_ids = example_parser.parse_batch(batch, [item])[item.name]
  through_index = reloaded.signatures[signatures.SCORE_CANDIDATES](
      examples=batch, candidate_ids=item_ids[:, tf.newaxis])["logits"][:, 0]
  own = reloaded.signatures[signatures.DEFAULT](examples=batch)["logit"]
  checks = gate.check_item_index(through_index.numpy(), own.numpy())
  users = batch[:RECALL_EXAMPLES]
  served = reloaded.signatures[signatures.TOP_K](examples=users)["item_ids"].numpy()
  user_vectors = reloaded.signatures[signatures.USER_EMBEDDING](
      examples=users)["user_vector"]
  exact = retrieval.ItemIndex(*index.items(), k=index.k)
  expected = np.concatenate(
      [exact.top_k(user_vectors[i:i + RECALL_BATCH])[1].numpy()
       for i in range(0, len(served), RECALL_BATCH)])
  return {**checks, "index_recall": gate.check_recall(served, expected, min_recall),
          "min_recall": min_recall}


def _published_tasks(base: str) -> dict[int, str]:
  """Each published version under `base` -> the task it serves (its metadata's)."""
  return {version: metadata.read_metadata(posixpath.join(base, str(version)))["task"]
          for version in versions.published_versions(base)}


def _published_auc(base: str, examples: EvalExamples) -> tuple[int | None, float | None]:
  """The latest published version and its AUC on the same examples (None, None: none);
  `gate.check_same_task` has made sure it serves the candidate's task."""
  published = versions.published_versions(base)
  if not published:
    return None, None
  latest = published[-1]
  loaded = tf.saved_model.load(posixpath.join(base, str(latest)))
  scores = predict(loaded.signatures[signatures.DEFAULT], examples.serialized)
  return latest, roc.auc(examples.labels, scores)


def export_module(module: signatures.ServingModule,
                  model: distillation.DistillationModel, spec: spec_lib.FeatureSpec, *,
                  export_base: str, model_name: str, examples: EvalExamples,
                  training: Mapping[str, Any] | None = None,
                  policy: gate.BlessingPolicy = gate.BlessingPolicy(),
                  min_recall: float = gate.MIN_RECALL,
                  version: int | None = None) -> ExportResult:
  """Gates `module` (the refusals before saving, parity and blessing after), then
  publishes it with its warm-up requests and metadata.

  Args:
    module: What to save; normally `export_student` builds it from `model`.
    model: The trained model: its teacher must not ship, its student is the parity
      reference.
    examples: Eval examples for parity, AUC and warm-up.
    training: The run's metrics.json, recorded in the metadata (with the data the
      model is bound to, its `data`).
    min_recall: A two-tower module's index must find this share of the exact top-k.
    version: Default: `versions.next_version`.

  Raises:
    gate.ExportRefused: (NotBlessed too) nothing is published; a saved candidate is
      kept as `.rejected-<version>`.
    FileNotFoundError: A published version of `model_name` has no metadata (the
      task it serves is unknown).
  """
  task = model.model_config.task
  base = versions.model_base(export_base, model_name)
  version = version or versions.next_version(base)
  versions.require_new(base, version)
  gate.check_same_task(task, _published_tasks(base), model_name)
  serving_signatures = module.concrete_signatures()
  gate.check_serving_inputs(module, serving_signatures, spec, task)
  gate.check_no_teacher_variables(module, model.variable_groups()["teacher_only"])
  staging = versions.staging_dir(base, version)
  try:
    tf.saved_model.save(module, staging, signatures=serving_signatures)
    signatures.set_method_names(staging)
    reloaded = tf.saved_model.load(staging)
    candidate = predict(reloaded.signatures[signatures.DEFAULT], examples.serialized)
    reference = _in_memory_probabilities(model, spec, examples.serialized)
    parity = {"parity_max_abs_diff": gate.check_parity(candidate, reference)}
    for label in module.auxiliary_labels:  # Every head a multi-task student serves.
      output = signatures.auxiliary_output(label)
      parity[f"{output}_parity_max_abs_diff"] = gate.check_parity(
          predict(reloaded.signatures[signatures.DEFAULT], examples.serialized, output),
          _in_memory_probabilities(model, spec, examples.serialized, label))
    if signatures.SCORE_CANDIDATES in reloaded.signatures:
      parity.update(_check_item_index(reloaded, module.index, spec, examples,
                                      min_recall))
    auc = roc.auc(examples.labels, candidate)
    published_version, published_auc = _published_auc(base, examples)
    policy.check(auc, published_auc, published_version)
    warmup.write_warmup(
        staging, model_name, list(examples.serialized[:WARMUP_EXAMPLES]),
        [name for name, fn in sorted(serving_signatures.items())
         if signatures.signature_input_names(fn) == ["examples"]])
    metadata.write_metadata(staging, metadata.build_metadata(
        model_name=model_name, version=version, spec=spec, task=task,
        signature_inputs={name: signatures.signature_input_names(fn)
                          for name, fn in serving_signatures.items()},
        training=training or {},
        validation={"eval_examples": len(examples.labels), "eval_auc": auc,
                    **parity,
                    "compared_with_version": published_version,
                    "compared_with_auc": published_auc,
                    "policy": dataclasses.asdict(policy)}))
  except gate.ExportRefused:
    if tf.io.gfile.exists(staging):
      logging.error("Export refused; candidate kept at %s",
                    versions.reject(staging, base, version))
    raise
  except BaseException:
    if tf.io.gfile.exists(staging):  # A crash leaves no version and no litter.
      tf.io.gfile.rmtree(staging)
    raise
  path = versions.publish(staging, base, version)
  return ExportResult(version, path, metadata.read_metadata(path))


def export_student(model: distillation.DistillationModel, spec: spec_lib.FeatureSpec,
                   *, item_index: item_vectors.ItemVectors | None = None,
                   top_k: int = retrieval.DEFAULT_K, **kwargs) -> ExportResult:
  """`export_module` of the model's student over the task's regular features.

  Args:
    item_index: For a two-tower student: models.item_vectors' output, served (by
      its exact or IVF index) by the top_k and score_candidates signatures.
    top_k: Items the top_k signature returns.
    **kwargs: For `export_module`.
  """
  if not model.model_config.mode.has_student:
    raise ValueError(f"A {model.model_config.mode.value!r} run has no student to "
                     "export; train mode student, pfd, lupi or two_stage.")
  regular = spec.regular(model.model_config.task)
  if isinstance(model.student, two_tower.TwoTowerHead):
    if item_index is None:
      raise ValueError("A two-tower student ships with its item index: pass "
                       "item_index=models.item_vectors.read(...) or "
                       "load_item_index(...).")
    module = signatures.TwoTowerServingModule(model.student, regular,
                                              item_index.index(top_k))
  else:
    module = signatures.ServingModule(model.student, regular)
  return export_module(module, model, spec, **kwargs)


def load_item_index(model: distillation.DistillationModel,
                    dataset: str | dataset_lib.PublishedDataset,
                    vectors_dir: str | None) -> item_vectors.ItemVectors | None:
  """The two-tower student's index: the batch job's output (exact or IVF, as it was
  built), else exact over vectors computed now from `dataset` (a PublishedDataset or
  its directory)."""
  if not isinstance(model.student, two_tower.TwoTowerHead):
    return None
  if vectors_dir:
    return item_vectors.read(vectors_dir)
  dataset = dataset_lib.published(dataset)
  return item_vectors.ItemVectors(*item_vectors.compute(
      model.student, item_vectors.catalogue(dataset, model.student.item_feature_names),
      dataset.spec.item_feature))


@dataclasses.dataclass(frozen=True)
class ExportJob:
  """What one run of this job reads, where it publishes, and its gate."""
  model_dir: str = knob(help="A finished models.train run.")
  data_dir: str = knob(help="The dataset it was trained on (vocabularies, eval split); "
                       "another with the same spec and vocabularies may stand in.")
  export_base: str = knob(help="TF Serving's base path; versions go to "
                          "<export_base>/<model_name>/<version>/.")
  model_name: str | None = knob(None, "The served model's name (default: the task); "
                                "its published versions must serve the run's task.")
  version: int | None = knob(None, "Version number (default: seconds since the epoch, "
                             "past the latest).")
  min_auc: float = knob(gate.BlessingPolicy.min_auc, "Eval AUC floor for blessing.")
  max_auc_drop: float = knob(gate.BlessingPolicy.max_auc_drop, "Largest allowed AUC "
                             "drop below the published version on the same eval "
                             "examples.")
  item_vectors_dir: str | None = knob(None, "Two-tower students: the item vectors "
                                      "models.item_vectors wrote (default: computed "
                                      "from the dataset's items now).")
  top_k: int = knob(retrieval.DEFAULT_K, "Two-tower students: items the top_k "
                    "signature returns.")
  min_recall: float = knob(gate.MIN_RECALL, "Two-tower students: the share of the "
                           "exact top-k that the index's top_k must find on eval "
                           "users (an IVF index probes partitions).")
  max_eval_examples: int | None = knob(None, "Validate on at most this many eval "
                                       "examples (default: all).")


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(ExportJob)
  dataset = dataset_lib.PublishedDataset.open(job.data_dir)
  model, run = restore.restore_trained_model(job.model_dir, dataset)
  task = model.model_config.task
  result = export_student(
      model, dataset.spec, export_base=job.export_base,
      model_name=job.model_name or task,
      examples=load_eval_examples(dataset, task, job.max_eval_examples),
      training=run, version=job.version, top_k=job.top_k,
      item_index=load_item_index(model, dataset, job.item_vectors_dir),
      policy=gate.BlessingPolicy(job.min_auc, job.max_auc_drop),
      min_recall=job.min_recall)
  print(json.dumps({"version": result.version, "path": result.path,
                    "validation": result.metadata["validation"]}, indent=2))


if __name__ == "__main__":
  config_flags.define(ExportJob, required=["model_dir", "data_dir", "export_base"])
  cli.run(main)
