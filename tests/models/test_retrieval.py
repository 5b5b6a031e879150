"""Retrieval over precomputed item vectors: exact top-K, candidate scores, the model's
own scores when the index holds its item vectors, recall@k."""

import numpy as np
import pytest
import tensorflow as tf

from models import retrieval

from synthetic import build_ctr_model, make_batch


def random_catalogue(num_items=200, dim=9, seed=0):
  rng = np.random.default_rng(seed)
  ids = np.array([f"item_{k}" for k in range(num_items)])
  return ids, rng.normal(size=(num_items, dim)).astype(np.float32)


# One top-k; blocks of 4; blocks of 17 with a padded last one.
@pytest.mark.parametrize("num_items", [30, 200, 3001])
def test_top_k_matches_a_numpy_brute_force_exactly(num_items):
  ids, vectors = random_catalogue(num_items)
  users = np.random.default_rng(1).normal(size=(5, 9)).astype(np.float32)
  index = retrieval.ItemIndex(ids, vectors, k=10)
  scores, top_ids = index.top_k(tf.constant(users))
  reference = users.astype(np.float64) @ vectors.astype(np.float64).T
  best = np.argsort(-reference, axis=1, kind="stable")[:, :10]
  np.testing.assert_array_equal(top_ids.numpy().astype(str), ids[best])
  np.testing.assert_allclose(scores.numpy(), np.take_along_axis(reference, best, 1),
                             atol=1e-5)


def test_candidate_scores_are_inner_products_and_unknown_ids_score_minus_inf():
  ids, vectors = random_catalogue()
  index = retrieval.ItemIndex(ids, vectors, k=3)
  user = np.random.default_rng(2).normal(size=(1, 9)).astype(np.float32)
  scores = index.score(tf.constant(user), tf.constant([["item_7", "nope", "item_0"]]))
  np.testing.assert_allclose(scores.numpy()[0, [0, 2]],
                             [user[0] @ vectors[7], user[0] @ vectors[0]], atol=1e-5)
  assert scores.numpy()[0, 1] == -np.inf


def test_index_over_the_students_item_vectors_reproduces_its_scores(data_dir):
  model = build_ctr_model(data_dir)
  head = model.student
  features, _ = make_batch(5)
  items = head.item_vectors(features).numpy()
  # One vector per distinct item id (make_batch draws item features independently,
  # so keep each id's first row and score against that row's features).
  item_ids = features["item_id"].numpy()
  _, first = np.unique(item_ids, return_index=True)
  index = retrieval.ItemIndex(item_ids[first], items[first], k=len(first))
  users = head.user_vectors(features)
  scores = index.score(users, tf.constant(item_ids)[:, tf.newaxis])[:, 0]
  rows = np.isin(np.arange(len(item_ids)), first)
  np.testing.assert_allclose(scores.numpy()[rows], model(features).numpy()[rows],
                             atol=1e-5)
  top_scores, _ = index.top_k(users)
  np.testing.assert_allclose(top_scores.numpy()[:, 0],
                             np.max(users.numpy() @ items[first].T, axis=1), atol=1e-5)


@pytest.mark.parametrize("ids, vectors, k, message", [
    (["a", "a"], np.zeros((2, 3)), 1, "repeat"),
    (["a", "b"], np.zeros((3, 3)), 1, "Expected"),
    (["a", "b"], np.zeros((2, 3)), 3, "k must be"),
])
def test_bad_indexes_are_refused(ids, vectors, k, message):
  with pytest.raises(ValueError, match=message):
    retrieval.ItemIndex(np.array(ids), vectors, k=k)


def test_index_survives_a_saved_model_round_trip(tmp_path):
  ids, vectors = random_catalogue()
  module = tf.Module()
  module.index = retrieval.ItemIndex(ids, vectors, k=4)
  module.top_k = tf.function(lambda users: module.index.top_k(users),
                             input_signature=[tf.TensorSpec([None, 9], tf.float32)])
  module.score = tf.function(
      lambda users, candidates: module.index.score(users, candidates),
      input_signature=[tf.TensorSpec([None, 9], tf.float32),
                       tf.TensorSpec([None, None], tf.string)])
  tf.saved_model.save(module, str(tmp_path))
  loaded = tf.saved_model.load(str(tmp_path))
  users = tf.constant(np.random.default_rng(3).normal(size=(2, 9)), tf.float32)
  for a, b in zip(loaded.top_k(users), module.top_k(users)):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  candidates = tf.constant([["item_3", "x"], ["item_9", "item_1"]])
  np.testing.assert_array_equal(loaded.score(users, candidates).numpy(),
                                module.score(users, candidates).numpy())


def test_block_sizes_balance_the_two_top_ks_and_small_searches_use_one():
  assert retrieval.block_size(100_000, 100) == 32  # sqrt(100000 / 100)
  assert retrieval.block_size(30, 10) == 1  # 15 blocks of 2: fewer than 2k.


def test_block_search_finds_a_top_k_crowded_into_one_block():
  ids, vectors = random_catalogue(3000)
  block = retrieval.block_size(3000, 10)
  user = np.ones((1, 9), np.float32)
  start = 2 * block + 1  # Ten items of block 2.
  vectors[start:start + 10] = 10.0 + np.arange(10, dtype=np.float32)[:, np.newaxis]
  _, top_ids = retrieval.ItemIndex(ids, vectors, k=10).top_k(tf.constant(user))
  np.testing.assert_array_equal(top_ids.numpy()[0].astype(str),
                                ids[start:start + 10][::-1])


def test_items_give_back_every_id_with_its_vector():
  ids, vectors = random_catalogue()
  got_ids, got_vectors = retrieval.ItemIndex(ids, vectors, k=3).items()
  rows = {i: r for r, i in enumerate(ids.astype(bytes))}
  np.testing.assert_array_equal(got_vectors, vectors[[rows[i] for i in got_ids]])
  assert sorted(got_ids) == sorted(ids.astype(bytes))


def test_recall_is_the_mean_share_of_each_exact_top_k_found():
  exact = np.array([[b"a", b"b"], [b"c", b"d"]])
  # User 0: both found, in another order; user 1: one of two.
  assert retrieval.recall_at_k(np.array([[b"b", b"a"], [b"c", b"x"]]), exact) == 0.75
  with pytest.raises(ValueError, match="one shape"):
    retrieval.recall_at_k(exact[:, :1], exact)
