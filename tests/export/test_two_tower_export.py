"""The coarse-CTR export: a two-tower student with its item index (exact or IVF) and
four more signatures, each side parsing only its own features."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from export import export_model
from export import gate
from export import warmup
from features import dataset as dataset_lib
from models import item_vectors
from models.retrieval import ivf_index
from models.training import restore
from models import retrieval
from models import train
from models.config import ModelConfig

TASK = "ctr"


@pytest.fixture(scope="module")
def two_tower_run(tiny_world, tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp("two_tower") / "pfd")
  dataset = dataset_lib.PublishedDataset.open(tiny_world.examples_dir)
  train.train_and_evaluate(
      dataset, model_dir,
      ModelConfig.for_task(dataset.spec, TASK, mode="pfd", embedding_dim=4,
                           student_hidden=(8,), teacher_hidden=(8,), tower_dim=8),
      train.TrainConfig(batch_size=64, epochs=1, seed=0))
  model, run = restore.restore_trained_model(model_dir, dataset)
  index = item_vectors.ItemVectors(*item_vectors.compute(
      model.student, item_vectors.catalogue(dataset, model.student.item_feature_names),
      dataset.spec.item_feature))
  examples = export_model.load_eval_examples(dataset, TASK)
  return model, run, index, examples


def export(two_tower_run, base, index=None, top_k=5, **kwargs):
  model, run, computed, examples = two_tower_run
  return export_model.export_student(
      model, model.spec, export_base=str(base), model_name=TASK, examples=examples,
      training=run, item_index=computed if index is None else index, top_k=top_k,
      policy=gate.BlessingPolicy(min_auc=0.0), **kwargs)


def with_partitions(two_tower_run, num_partitions, num_probes):
  items = two_tower_run[2]
  return dataclasses.replace(items, partitions=ivf_index.build(
      items.vectors, ivf_index.IVFConfig(num_partitions=num_partitions,
                                         num_probes=num_probes)))


@pytest.fixture(scope="module")
def served(two_tower_run, tmp_path_factory):
  published = export(two_tower_run, tmp_path_factory.mktemp("serving"))
  return published, tf.saved_model.load(published.path).signatures


def only(serialized, names):
  """The Examples with every feature but `names` removed."""
  kept = []
  for record in serialized:
    example = tf.train.Example.FromString(record)
    for name in list(example.features.feature):
      if name not in names:
        del example.features.feature[name]
    kept.append(example.SerializeToString())
  return tf.constant(kept)


def test_each_side_needs_only_its_own_features(served, two_tower_run):
  published, signatures = served
  model, _, _, examples = two_tower_run
  batch = list(examples.serialized[:16])
  user_only = only(batch, model.student.user_feature_names)
  item_only = only(batch, model.student.item_feature_names)
  users = signatures["user_embedding"](examples=user_only)["user_vector"]
  items = signatures["item_embedding"](examples=item_only)["item_vector"]
  np.testing.assert_allclose(
      users.numpy(), signatures["user_embedding"](examples=tf.constant(batch))[
          "user_vector"].numpy(), atol=1e-6)
  # The full score is the inner product of the separately computed vectors.
  logits = signatures["serving_default"](examples=tf.constant(batch))["logit"]
  np.testing.assert_allclose(tf.reduce_sum(users * items, axis=-1).numpy(),
                             logits.numpy(), atol=1e-5)
  assert published.metadata["validation"]["index_coverage"] == 1.0
  assert published.metadata["validation"]["index_recall"] == 1.0  # Exact.


def test_top_k_is_numpy_brute_force_over_the_index(served, two_tower_run):
  _, signatures = served
  _, _, items, examples = two_tower_run
  ids, vectors = items.ids, items.vectors
  batch = tf.constant(list(examples.serialized[:8]))
  result = signatures["top_k"](examples=batch)
  users = signatures["user_embedding"](examples=batch)["user_vector"].numpy()
  scores = users @ vectors.T
  expected = ids[np.argsort(-scores, axis=1, kind="stable")[:, :5]]
  np.testing.assert_array_equal(result["item_ids"].numpy(), expected)
  np.testing.assert_allclose(result["scores"].numpy(),
                             np.sort(scores, axis=1)[:, ::-1][:, :5], atol=1e-5)


def test_explicit_candidates_are_scored_and_unknown_ids_never_win(served,
                                                                  two_tower_run):
  _, signatures = served
  _, _, items, examples = two_tower_run
  ids, vectors = items.ids, items.vectors
  batch = tf.constant(list(examples.serialized[:2]))
  candidates = tf.constant([[ids[0], b"not-an-item", ids[3]]] * 2)
  out = signatures["score_candidates"](examples=batch, candidate_ids=candidates)
  users = signatures["user_embedding"](examples=batch)["user_vector"].numpy()
  logits = out["logits"].numpy()
  np.testing.assert_allclose(logits[:, [0, 2]], users @ vectors[[0, 3]].T, atol=1e-5)
  assert np.isneginf(logits[:, 1]).all()
  assert (out["probabilities"].numpy()[:, 1] == 0).all()


def test_warmup_covers_the_retrieval_signatures(served):
  published, _ = served
  warmed = {log.predict_log.request.model_spec.signature_name
            for log in warmup.read_warmup(published.path) if log.HasField("predict_log")}
  assert warmed == {"serving_default", "user_embedding", "item_embedding", "top_k"}


def test_a_stale_or_foreign_item_index_is_refused(two_tower_run, tmp_path):
  _, _, items, _ = two_tower_run
  with pytest.raises(gate.ExportRefused, match="not computed by this model"):
    export(two_tower_run, tmp_path,
           index=dataclasses.replace(items, vectors=items.vectors + 0.01))
  foreign = np.array([f"other-{i}".encode() for i in range(len(items.ids))])
  with pytest.raises(gate.ExportRefused, match="None of"):
    export(two_tower_run, tmp_path, index=dataclasses.replace(items, ids=foreign))
  assert not [n for n in (tmp_path / TASK).iterdir() if n.name.isdigit()]


def test_the_job_reads_the_batch_jobs_vectors_and_partitions(two_tower_run, tiny_world,
                                                             tmp_path):
  model, _, _, _ = two_tower_run
  items = with_partitions(two_tower_run, num_partitions=4, num_probes=2)
  item_vectors.write(str(tmp_path), items, num_shards=2)
  read = export_model.load_item_index(model, tiny_world.examples_dir, str(tmp_path))
  np.testing.assert_array_equal(read.ids, items.ids)
  np.testing.assert_array_equal(read.vectors, items.vectors)
  np.testing.assert_array_equal(read.partitions.assignments,
                                items.partitions.assignments)


@pytest.fixture(scope="module")
def refused_ivf(two_tower_run, tmp_path_factory):
  """An IVF export below its recall floor: (its partitions, the refusal, the base).

  One partition of at most 1.2x the mean size (~500 / 32 items) holds < 50 items.
  """
  items = with_partitions(two_tower_run, num_partitions=32, num_probes=1)
  base = tmp_path_factory.mktemp("refused_ivf")
  with pytest.raises(gate.ExportRefused, match="min_recall=0.99") as refusal:
    export(two_tower_run, base, index=items, top_k=50, min_recall=0.99)
  return items, str(refusal.value), base / TASK


def test_an_ivf_index_below_the_recall_floor_is_refused(refused_ivf):
  _, _, base = refused_ivf
  assert not [n for n in base.iterdir() if n.name.isdigit()]
  assert [n for n in base.iterdir() if n.name.startswith(".rejected-")]


def test_top_k_of_the_ivf_saved_model_answers_like_the_in_memory_index(two_tower_run,
                                                                      refused_ivf):
  _, _, _, examples = two_tower_run
  items, refusal, base = refused_ivf
  (rejected,) = [n for n in base.iterdir() if n.name.startswith(".rejected-")]
  signatures = tf.saved_model.load(str(rejected)).signatures
  batch = tf.constant(list(examples.serialized[:export_model.RECALL_EXAMPLES]))
  served = signatures["top_k"](examples=batch)
  users = signatures["user_embedding"](examples=batch)["user_vector"]
  scores, ids = items.index(k=50).top_k(users)
  np.testing.assert_array_equal(served["item_ids"].numpy(), ids.numpy())
  np.testing.assert_allclose(served["scores"].numpy(), scores.numpy(), atol=1e-6)
  # The gate's recall is the recall against an exact search of the same users.
  _, exact = item_vectors.ItemVectors(items.ids, items.vectors).index(k=50).top_k(users)
  recall = retrieval.recall_at_k(ids.numpy(), exact.numpy())
  assert 0.0 < recall < 0.99 and f"finds {recall:.3f} " in refusal
