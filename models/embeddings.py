"""Id embeddings: one table per vocabulary, looked up by every feature that names it.

A table is a StringLookup over the vocabulary file the Beam job wrote (so the file
travels with a SavedModel as an asset) followed by an Embedding. Index 0 is the OOV
bucket: ids unseen in training (or below the frequency threshold) share it, exactly as
at serving time. A vocabulary the job found empty gets a single OOV row.
"""

from __future__ import annotations

from typing import Iterable, Mapping

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
    hash_bins: Hash ids into this many rows instead of looking them up: for id
      spaces too large for a vocabulary (the file is then not read).
  """

  def __init__(self, vocab_path: str, dim: int, hash_bins: int | None = None,
               **kwargs):
    super().__init__(**kwargs)
    if hash_bins or _is_empty(vocab_path):
      size = hash_bins or NUM_OOV_INDICES
      self.lookup = tf.keras.layers.Hashing(num_bins=size)
    else:
      self.lookup = tf.keras.layers.StringLookup(vocabulary=vocab_path,
                                                 num_oov_indices=NUM_OOV_INDICES)
      size = self.lookup.vocabulary_size()
    self.embedding = tf.keras.layers.Embedding(size, dim, name="embedding")

  def tokens(self) -> list[str] | None:
    """Each row's token, row 0 the OOV bucket's ("[UNK]"); None where rows are hash
    buckets, which no token names."""
    if isinstance(self.lookup, tf.keras.layers.StringLookup):
      return self.lookup.get_vocabulary()
    return None

  def call(self, ids):
    if isinstance(ids, tf.RaggedTensor):
      return tf.ragged.map_flat_values(lambda flat: self.embedding(self.lookup(flat)),
                                       ids)
    return self.embedding(self.lookup(ids))


def build_tables(data_dir: str, vocab_names: Iterable[str], dim: int, prefix: str,
                 hash_bins: Mapping[str, int] | None = None
                 ) -> dict[str, EmbeddingTable]:
  """One table per vocabulary name, named `<prefix>_<vocabulary>`.

  Args:
    hash_bins: Vocabulary name -> bins, for the vocabularies to hash.
  """
  hash_bins = hash_bins or {}
  return {name: EmbeddingTable(vocabulary_path(data_dir, name), dim,
                               hash_bins.get(name), name=f"{prefix}_{name}")
          for name in sorted(set(vocab_names))}
