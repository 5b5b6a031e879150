"""Id embeddings: one table per vocabulary, looked up by every feature that names it.

A table is a StringLookup over the vocabulary file the Beam job wrote (so the file
travels with a SavedModel as an asset) followed by an Embedding. Index 0 is the OOV
bucket: ids unseen in training (or below the frequency threshold) share it, exactly as
at serving time. A vocabulary the job found empty gets a single OOV row.
"""

from __future__ import annotations

import posixpath
from typing import Iterable

import tensorflow as tf

from features import layout

NUM_OOV_INDICES = 1


def vocabulary_path(data_dir: str, vocab_name: str) -> str:
  path = layout.vocabulary_path(data_dir, vocab_name)
  if not tf.io.gfile.exists(path):
    raise ValueError(f"No vocabulary file for {vocab_name!r} at {path}: is {data_dir} "
                     "a dataset published by pipelines.join_logs?")
  return path


def _is_empty(path: str) -> bool:
  return tf.io.gfile.stat(path).length == 0


class EmbeddingTable(tf.keras.layers.Layer):
  """String ids -> embeddings; `[batch]` -> `[batch, dim]`, ragged `[batch, None]` too.

  Args:
    vocab_path: The vocabulary file (one token per line).
    dim: Embedding width.
  """

  def __init__(self, vocab_path: str, dim: int, **kwargs):
    super().__init__(**kwargs)
    if _is_empty(vocab_path):
      self.lookup = tf.keras.layers.Hashing(num_bins=NUM_OOV_INDICES)
      size = NUM_OOV_INDICES
    else:
      self.lookup = tf.keras.layers.StringLookup(vocabulary=vocab_path,
                                                 num_oov_indices=NUM_OOV_INDICES)
      size = self.lookup.vocabulary_size()
    self.embedding = tf.keras.layers.Embedding(size, dim, name="embedding")

  def call(self, ids):
    if isinstance(ids, tf.RaggedTensor):
      return tf.ragged.map_flat_values(lambda flat: self.embedding(self.lookup(flat)),
                                       ids)
    return self.embedding(self.lookup(ids))


def build_tables(data_dir: str, vocab_names: Iterable[str], dim: int, prefix: str
                 ) -> dict[str, EmbeddingTable]:
  """One table per vocabulary name, named `<prefix>_<vocabulary>`."""
  return {name: EmbeddingTable(vocabulary_path(data_dir, name), dim,
                               name=f"{prefix}_{name}")
          for name in sorted(set(vocab_names))}
