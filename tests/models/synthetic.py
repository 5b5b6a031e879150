"""Synthetic batches and vocabularies for model tests: no dataset, no Beam."""

import os

import numpy as np
import tensorflow as tf

from features import spec as spec_lib
from models import distillation
from models.config import ModelConfig

SPEC = spec_lib.DEFAULT_SPEC
TOKENS = 6  # Per vocabulary: "<vocab>_0" .. "<vocab>_5".


def write_vocabularies(root):
  """Makes `root` hold only what the model reads: vocab/<name>.txt files."""
  os.makedirs(os.path.join(root, "vocab"), exist_ok=True)
  for name in SPEC.vocabularies():
    with open(os.path.join(root, "vocab", f"{name}.txt"), "w") as f:
      f.write("".join(f"{name}_{k}\n" for k in range(TOKENS)))
  return str(root)


def make_batch(seed: int, batch_size: int = 16):
  """Every spec feature, random but valid; labels with both classes."""
  rng = np.random.default_rng(seed)
  features = {}
  for f in SPEC:
    if f.kind is spec_lib.Kind.SEQUENCE:
      lengths = rng.integers(0, 4, batch_size)
      values = [f"{f.vocabulary}_{k}" for k in rng.integers(0, TOKENS + 1,
                                                             lengths.sum())]
      features[f.name] = tf.RaggedTensor.from_row_lengths(
          tf.constant(values, tf.string), tf.constant(lengths, tf.int64))
    elif f.dtype is spec_lib.DType.STRING:
      prefix = f.vocabulary or f.name
      features[f.name] = tf.constant(
          [f"{prefix}_{k}" for k in rng.integers(0, TOKENS + 1, batch_size)])
    elif f.kind is spec_lib.Kind.LABEL:  # Auxiliary labels come in the features.
      features[f.name] = tf.constant(rng.integers(0, 2, batch_size), tf.float32)
    elif f.dtype is spec_lib.DType.INT64:
      features[f.name] = tf.constant(rng.integers(0, 5, batch_size), tf.int64)
    else:
      features[f.name] = tf.constant(rng.gamma(2.0, 50.0, batch_size), tf.float32)
  labels = tf.constant(np.arange(batch_size) % 2, tf.float32)
  return features, labels


def build_ctr_model(data_dir, seed: int = 0, **overrides):
  """A small CTR model (two-tower student, DCN teacher by default), built and compiled
  with SGD (whose step size follows the gradient's, unlike Adam's first steps)."""
  tf.keras.utils.set_random_seed(seed)
  config = ModelConfig.for_task(SPEC, "ctr", **{
      **dict(embedding_dim=4, student_hidden=(8,), teacher_hidden=(8,), tower_dim=6),
      **overrides})
  model = distillation.DistillationModel(SPEC, data_dir, config)
  model.compile(optimizer=tf.keras.optimizers.SGD(0.1))
  model.build_from_batch(make_batch(99)[0])
  return model


def assert_distillation_misses_the_teacher(model):
  """The distillation loss is positive and has no gradient to any teacher-only
  variable (PFD's gradient block), on one synthetic batch, while the teacher loss
  does reach them all.

  No gradient: None, or exact zeros where the heads share an op (both heads'
  attention poolings of a shared sequence are one batched product, so the
  student's output is connected to the teacher's kernel with a zero derivative).
  """
  features, labels = make_batch(1)
  with tf.GradientTape(persistent=True) as tape:
    out = model.compute_losses(features, labels, None, training=True)
  teacher_only = model.variable_groups()["teacher_only"]
  grads = tape.gradient(out["distillation_loss"], teacher_only)
  assert teacher_only and all(g is None or not np.any(tf.convert_to_tensor(g))
                              for g in grads)
  assert float(out["distillation_loss"]) > 0
  own = tape.gradient(out["teacher_loss"], teacher_only)
  assert all(g is not None and np.any(tf.convert_to_tensor(g)) for g in own)
