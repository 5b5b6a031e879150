"""Tests for models/embeddings.py: id tables over the job's vocabulary files."""

import os

import numpy as np
import pytest
import tensorflow as tf

from features import layout
from models import embeddings


def _dataset(tmp_path, vocabularies):
  data_dir = str(tmp_path)
  for name, tokens in vocabularies.items():
    path = layout.vocabulary_path(data_dir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
      f.write("".join(f"{token}\n" for token in tokens))
  return data_dir


def test_a_token_gets_its_line_s_row_and_an_unknown_id_the_oov_row(tmp_path):
  data_dir = _dataset(tmp_path, {"item_id": ["b", "a", "c"]})
  table = embeddings.EmbeddingTable(embeddings.vocabulary_path(data_dir, "item_id"), 4)
  assert table.tokens() == ["[UNK]", "b", "a", "c"]
  rows = table.embedding(tf.range(4)).numpy()  # Builds the table too.
  np.testing.assert_array_equal(table(tf.constant(["a", "zz", "b"])).numpy(),
                                rows[[2, 0, 1]])
  ragged = table(tf.ragged.constant([["c"], [], ["a", "nope"]]))
  np.testing.assert_array_equal(ragged.flat_values.numpy(), rows[[3, 2, 0]])
  assert ragged.row_lengths().numpy().tolist() == [1, 0, 2]


def test_an_empty_vocabulary_has_one_oov_row_and_hashing_has_no_tokens(tmp_path):
  data_dir = _dataset(tmp_path, {"shop_id": [], "user_id": ["u1", "u2"]})
  empty = embeddings.EmbeddingTable(embeddings.vocabulary_path(data_dir, "shop_id"), 3)
  assert empty(tf.constant(["x", "y"])).shape == (2, 3)
  assert empty.embedding.input_dim == 1
  hashed = embeddings.EmbeddingTable(embeddings.vocabulary_path(data_dir, "user_id"),
                                     3, hash_bins=7)
  assert hashed.tokens() is None
  assert hashed.embedding.input_dim == 7


def test_build_tables_names_one_table_per_vocabulary(tmp_path):
  data_dir = _dataset(tmp_path, {"item_id": ["a"], "user_id": ["u"]})
  tables = embeddings.build_tables(data_dir, ["user_id", "item_id", "user_id"], 2,
                                   "shared", {"user_id": 5})
  assert {name: table.name for name, table in tables.items()} == {
      "item_id": "shared_item_id", "user_id": "shared_user_id"}
  assert tables["user_id"].tokens() is None


def test_a_missing_vocabulary_file_names_the_vocabulary_and_the_dataset(tmp_path):
  with pytest.raises(ValueError, match=r"No vocabulary file for 'item_id' .* is "
                     + str(tmp_path)):
    embeddings.vocabulary_path(str(tmp_path), "item_id")
