"""What the exported signature costs over the bare student, per request size.

A CVR student (default size) trained briefly on a simulated world, exported by the
export job's own function, reloaded as a server loads it; requests are serialized eval
Examples of 1, 100 and 1000 candidates (one user's ranking request), called one at a
time after a warm-up, on this CPU:

* serving.default_<n>_p50_ms / _p99_ms: the reloaded `serving_default` signature
  (parse + student);
* serving.raw_1000_p50_ms: the in-memory student, as a tf.function, on the same 1000
  candidates already parsed (the floor: what the model alone costs);
* serving.default_1000_p50_over_raw: their ratio (goal <= 2.0): what parsing and the
  signature add.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Callable

import numpy as np
import tensorflow as tf

from benchmarks import datasets
from export import export_model
from export import gate
from features import dataset as dataset_lib
from features import example_parser
from features import input as input_lib
from models import distillation
from models.config import Mode, ModelConfig

TASK = "cvr"
BATCH_SIZES = (1, 100, 1000)
CALLS = {1: 500, 100: 300, 1000: 200}
TRAIN_STEPS = 50


def latencies_ms(call: Callable[[], object], calls: int, warmup: int = 20
                 ) -> np.ndarray:
  """Wall-clock milliseconds of `calls` sequential calls, after `warmup` calls."""
  for _ in range(warmup):
    call()
  times = []
  for _ in range(calls):
    start = time.perf_counter()
    call()
    times.append((time.perf_counter() - start) * 1e3)
  return np.array(times)


def _trained_student(dataset: dataset_lib.PublishedDataset
                     ) -> distillation.DistillationModel:
  tf.keras.utils.set_random_seed(0)
  model = distillation.DistillationModel(dataset.spec, dataset.data_dir,
                                         ModelConfig(task=TASK, mode=Mode.STUDENT))
  model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
  model.fit(input_lib.make_dataset(dataset, "train", TASK, 512, seed=0, repeat=True),
            steps_per_epoch=TRAIN_STEPS, epochs=1, verbose=0)
  return model


def measure() -> dict[str, float]:
  with tempfile.TemporaryDirectory() as tmp:
    dataset = dataset_lib.PublishedDataset.open(datasets.simulate_and_join(
        os.path.join(tmp, "raw"), os.path.join(tmp, "examples"), 100_000))
    spec = dataset.spec
    model = _trained_student(dataset)
    result = export_model.export_student(
        model, spec, export_base=f"{tmp}/serving", model_name=TASK,
        examples=export_model.load_eval_examples(dataset, TASK),
        policy=gate.BlessingPolicy(min_auc=0.0))
    serve = tf.saved_model.load(result.path).signatures["serving_default"]
    # Candidates: any eval impressions (a ranker scores before anyone clicks).
    candidates = [r.numpy() for r in input_lib.task_records(dataset, "eval", "ctr")
                  .take(max(BATCH_SIZES))]
    figures = {}
    for size in BATCH_SIZES:
      request = tf.constant(candidates[:size])
      times = latencies_ms(lambda: serve(examples=request), CALLS[size])
      figures[f"serving.default_{size}_p50_ms"] = float(np.percentile(times, 50))
      figures[f"serving.default_{size}_p99_ms"] = float(np.percentile(times, 99))
    parsed = example_parser.parse_batch(tf.constant(candidates), spec.regular(TASK))
    student = tf.function(lambda features: tf.sigmoid(model.student(features)))
    raw = latencies_ms(lambda: student(parsed), CALLS[max(BATCH_SIZES)])
  figures["serving.raw_1000_p50_ms"] = float(np.percentile(raw, 50))
  figures["serving.default_1000_p50_over_raw"] = (
      figures["serving.default_1000_p50_ms"] / figures["serving.raw_1000_p50_ms"])
  return figures


if __name__ == "__main__":
  print(measure())
