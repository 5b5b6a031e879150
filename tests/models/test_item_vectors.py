"""The item-vector job: every item of the logs, once, through the trained item tower,
and the IVF partitions it builds beside them."""

import json

import numpy as np
import pytest

from features import dataset as dataset_lib
from features import input as input_lib
from models import item_vectors
from models.retrieval import ivf_index
from models import retrieval
from models.training import restore
from models import train
from models.config import ModelConfig

SMALL = dict(embedding_dim=4, student_hidden=(8,), teacher_hidden=(8,), tower_dim=6)
FAST = train.TrainConfig(batch_size=128, epochs=1, steps_per_epoch=3)


@pytest.fixture(scope="module")
def ctr_run(tiny_world, tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp("ctr_run"))
  dataset = dataset_lib.PublishedDataset.open(tiny_world.examples_dir)
  train.train_and_evaluate(dataset, model_dir,
                           ModelConfig.for_task(dataset.spec, "ctr", **SMALL), FAST)
  return model_dir


def logged_item_ids(data_dir):
  ids = set()
  for split in ("train", "eval"):
    for features, _ in input_lib.make_dataset(data_dir, split, "ctr", 512,
                                              features=["item_id"], shuffle=False):
      ids.update(features["item_id"].numpy())
  return ids


def test_writes_each_logged_item_once_with_its_towers_vector(tiny_world, ctr_run,
                                                             tmp_path):
  output_dir = str(tmp_path / "vectors")
  written = item_vectors.run(tiny_world.examples_dir, ctr_run, output_dir,
                             num_shards=3)
  ids, vectors = written.ids, written.vectors
  read = item_vectors.read(output_dir)
  np.testing.assert_array_equal(read.ids, ids)
  np.testing.assert_array_equal(read.vectors, vectors)
  assert read.partitions is None and isinstance(read.index(k=5), retrieval.ItemIndex)
  assert len(set(ids)) == len(ids) and set(ids) == logged_item_ids(
      tiny_world.examples_dir)
  # Recomputed from the restored model's item tower on a few items' features.
  head = restore.restore_trained_model(ctr_run, tiny_world.examples_dir)[0].student
  items = item_vectors.catalogue(tiny_world.examples_dir, head.item_feature_names)
  np.testing.assert_allclose(head.item_vectors(items).numpy()[:20], vectors[:20],
                             atol=1e-6)
  assert vectors.shape[1] == head.vector_dim


def test_the_ivf_partitions_are_written_read_back_and_reported(tiny_world, ctr_run,
                                                               tmp_path):
  output_dir = str(tmp_path / "ivf")
  config = ivf_index.IVFConfig(num_partitions=8, num_probes=3)
  written = item_vectors.run(tiny_world.examples_dir, ctr_run, output_dir, ivf=config)
  read = item_vectors.read(output_dir)
  np.testing.assert_array_equal(read.partitions.assignments,
                                written.partitions.assignments)
  np.testing.assert_array_equal(read.partitions.centroids, written.partitions.centroids)
  assert read.partitions.num_probes == 3
  with open(tmp_path / "ivf" / item_vectors.MANIFEST_FILE) as f:
    report = json.load(f)["ivf"]
  assert report["num_partitions"] == read.partitions.num_partitions >= 8
  assert report["build_s"] > 0 and report["bytes"] > 0
  assert report["largest_partition"] == np.bincount(read.partitions.assignments).max()
  index = read.index(k=5)
  assert isinstance(index, ivf_index.IVFIndex) and index.num_probes == 3


def test_partitions_that_do_not_fit_the_vectors_are_refused(tmp_path):
  vectors = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
  ids = np.array([f"i{k}".encode() for k in range(50)])
  stale = ivf_index.build(vectors[:40], ivf_index.IVFConfig(num_partitions=4))
  item_vectors.write(str(tmp_path), item_vectors.ItemVectors(ids, vectors, stale))
  with pytest.raises(ValueError, match="do not fit its vectors"):
    item_vectors.read(str(tmp_path))


def test_read_refuses_an_unfinished_directory(tmp_path):
  with pytest.raises(FileNotFoundError, match="manifest"):
    item_vectors.read(str(tmp_path))


def test_a_run_without_a_two_tower_student_is_refused(tiny_world, tmp_path):
  model_dir = str(tmp_path / "mlp")
  train.train_and_evaluate(tiny_world.examples_dir, model_dir,
                           ModelConfig(task="ctr", mode="student", **SMALL), FAST)
  with pytest.raises(ValueError, match="two-tower"):
    item_vectors.run(tiny_world.examples_dir, model_dir, str(tmp_path / "out"))
