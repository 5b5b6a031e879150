"""What joint training costs over the student alone, and whether input keeps up.

On a simulated world pushed through the join job, CVR task, one process, the same
batches for every variant (parsed once and held in memory, each step called directly
as one compiled `train_step`, so the step cost is the model's alone: `fit` over an
in-memory `cache()` can pace a machine at a fixed time per step); each
figure is the median of 5 interleaved rounds (ratios: the median of the per-round
ratios):

* train.student_examples_per_s, train.pfd_shared_examples_per_s,
  train.pfd_independent_examples_per_s;
* train.pfd_shared_over_student / train.pfd_independent_over_student: the step-cost
  ratios (student throughput over PFD throughput; the paper measured +3.6% for CVR
  with shared embeddings);
* train.pfd_shared_encoding_over_student: the same when the teacher also reads the
  student's encoding (ModelConfig.share_student_encoding: the pooled behaviour
  sequence is computed once, not per head);
* train.<method>_over_student: the same ratio for PFD with each distillation of the
  literature (METHODS: other losses, hint transfer), on the same batches;
* train.dmtl_over_student: the same ratio for DMTL (`dmtl_configs`: the CTCVR
  two-tower student taught by an ESMM teacher) over that student alone, on CTCVR
  batches of their own (all impressions, with the click label the teacher also
  learns), in rounds of their own;
* input.examples_per_s_over_training: the tf.data pipeline alone (features.input, read
  from disk) over the training loop that consumes it (the student's compiled step,
  fed by the same pipeline), in rounds of one each: input is never the bottleneck
  when this is well above 1.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf

from benchmarks import datasets
from features import dataset as dataset_lib
from features import input as input_lib
from features import spec as spec_lib
from models import distillation
from models.config import Mode, ModelConfig

BATCH_SIZE = 512
CACHED_BATCHES = 20
TIMED_STEPS = 200
REPEATS = 5
TASK = "cvr"
# PFD variants whose step cost the bench compares (ModelConfig overrides): each loss
# of models.losses beyond the default cross-entropy, and hint transfer.
METHODS = {
    **{loss: {"distillation_loss": loss}
       for loss in ("kl", "js", "confidence_ranking", "mse_logits", "hardness_aware",
                    "top_k", "ranking_distillation", "bpr", "listwise", "rcr")},
    "hint": {"hint_weight": 1.0},
}
DMTL_TASK = "ctcvr"


Batch = tuple[dict[str, tf.Tensor], tf.Tensor]


def _examples_per_s(step: Callable[[Batch], dict[str, tf.Tensor]],
                    batches: Iterator[Batch], steps: int) -> float:
  """Examples/s of `steps` calls of a compiled train step on the next batches."""
  start = time.perf_counter()
  for batch in itertools.islice(batches, steps):
    logs = step(batch)
  float(logs["student_loss"])  # Wait for the last step.
  return steps * BATCH_SIZE / (time.perf_counter() - start)


def _rounds(models: dict[str, tf.keras.Model], batches: list[Batch]
            ) -> list[dict[str, float]]:
  """REPEATS rounds of examples/s, the variants interleaved within each round so that
  load from other tenants of the machine falls on all of them alike."""
  steps = {name: tf.function(model.train_step) for name, model in models.items()}
  for step in steps.values():
    _examples_per_s(step, iter(batches), len(batches))  # Trace, warm up.
  return [{name: _examples_per_s(step, itertools.cycle(batches), TIMED_STEPS)
           for name, step in steps.items()} for _ in range(REPEATS)]


def _input_rounds(model: tf.keras.Model, pipeline: tf.data.Dataset
                  ) -> list[dict[str, float]]:
  """REPEATS rounds of: the pipeline alone, then the student's step fed by it (both
  timed after a warm-up, as examples_per_second skips the pipeline's start-up)."""
  step = tf.function(model.train_step)
  fed = iter(pipeline)
  _examples_per_s(step, fed, 10)
  return [{"input": input_lib.examples_per_second(pipeline, TIMED_STEPS),
           "training": _examples_per_s(step, fed, TIMED_STEPS)}
          for _ in range(REPEATS)]


def _median(rounds: list[dict[str, float]], value) -> float:
  return float(np.median([value(r) for r in rounds]))


def dmtl_configs(spec: spec_lib.FeatureSpec) -> dict[str, ModelConfig]:
  """The CTCVR student alone and DMTL (that student taught by the task's ESMM
  teacher), by the spec's model_defaults: what benchmarks/evidence/registry.py trains as the
  ctcvr task's `student` and its `dmtl` method."""
  return {"ctcvr_student": ModelConfig.for_task(spec, DMTL_TASK, mode=Mode.STUDENT),
          "dmtl": ModelConfig.for_task(spec, DMTL_TASK, mode=Mode.PFD)}


def _model(dataset: dataset_lib.PublishedDataset, mode: Mode, **overrides):
  return _compiled(dataset, ModelConfig(task=TASK, mode=mode, **overrides))


def _compiled(dataset: dataset_lib.PublishedDataset, config: ModelConfig):
  tf.keras.utils.set_random_seed(0)
  model = distillation.DistillationModel(dataset.spec, dataset.data_dir, config)
  model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
  return model


def _dmtl_rounds(dataset: dataset_lib.PublishedDataset) -> list[dict[str, float]]:
  """`_rounds` of `dmtl_configs` on CTCVR batches: DMTL's task reads every
  impression and its teacher a label more, so the CVR batches would not do."""
  batches = list(input_lib.make_dataset(
      dataset, "train", DMTL_TASK, BATCH_SIZE, seed=0, repeat=True,
      drop_remainder=True).take(CACHED_BATCHES))
  return _rounds({name: _compiled(dataset, config)
                  for name, config in dmtl_configs(dataset.spec).items()}, batches)


def measure() -> dict[str, float]:
  with tempfile.TemporaryDirectory() as tmp:
    dataset = dataset_lib.PublishedDataset.open(datasets.simulate_and_join(
        os.path.join(tmp, "raw"), os.path.join(tmp, "examples"), 300_000))
    pipeline = input_lib.make_dataset(dataset, "train", TASK, BATCH_SIZE, seed=0,
                                      repeat=True, drop_remainder=True)
    batches = list(pipeline.take(CACHED_BATCHES))
    every_vocabulary = frozenset(dataset.spec.vocabularies())
    rounds = _rounds({
        "student": _model(dataset, Mode.STUDENT),
        "pfd_shared": _model(dataset, Mode.PFD),
        "pfd_independent": _model(dataset, Mode.PFD,
                                  unshared_vocabularies=every_vocabulary),
        "pfd_shared_encoding": _model(dataset, Mode.PFD,
                                      share_student_encoding=True),
        **{name: _model(dataset, Mode.PFD, **overrides)
           for name, overrides in METHODS.items()},
    }, batches)
    dmtl_rounds = _dmtl_rounds(dataset)
    input_rounds = _input_rounds(_model(dataset, Mode.STUDENT), pipeline)
  figures = {f"train.{name}_examples_per_s": _median(each, lambda r: r[name])
             for each in (rounds, dmtl_rounds) for name in each[0]}
  for name in ("pfd_shared", "pfd_independent", "pfd_shared_encoding", *METHODS):
    # The ratio within each round, then the median: a burst of load on the machine
    # moves one round's speeds together, not their ratio.
    figures[f"train.{name}_over_student"] = _median(
        rounds, lambda r: r["student"] / r[name])
  figures["train.dmtl_over_student"] = _median(
      dmtl_rounds, lambda r: r["ctcvr_student"] / r["dmtl"])
  figures["input.examples_per_s"] = _median(input_rounds, lambda r: r["input"])
  figures["input.examples_per_s_over_training"] = _median(
      input_rounds, lambda r: r["input"] / r["training"])
  return figures


if __name__ == "__main__":
  print(measure())
