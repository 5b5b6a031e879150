"""DMTL on task ctcvr: a two-tower student of an ESMM teacher retrieves by CTCVR, and a
multi-task ESMM student's one export serves both heads and refuses privileged inputs."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from export import export_model
from export import gate
from export import signatures
from features import dataset as dataset_lib
from features import example_parser
from models import item_vectors
from models.training import restore
from models import train
from models.config import Architecture, ModelConfig
from simulation import preset, simulate
from world_fixtures import run_join

TASK = "ctcvr"
SMALL = dict(mode="pfd", embedding_dim=4, student_hidden=(8,), teacher_hidden=(8,),
             tower_dim=8, mmoe_experts=2, expert_hidden=(8,))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  """The tiny world with more clicks and purchases: its eval split has a CTCVR AUC
  (the shared tiny world has no eval purchase)."""
  root = tmp_path_factory.mktemp("dmtl_world")
  simulate(dataclasses.replace(preset("tiny"), click_bias=-2.0, purchase_bias=-2.0),
           str(root / "raw"), with_oracle=False)
  run_join(str(root / "raw"), str(root / "examples"))
  return dataset_lib.PublishedDataset.open(str(root / "examples"))


def trained(dataset, tmp_path_factory, name, **overrides):
  model_dir = str(tmp_path_factory.mktemp(name) / "pfd")
  train.train_and_evaluate(dataset, model_dir,
                           ModelConfig.for_task(dataset.spec, TASK, **SMALL, **overrides),
                           train.TrainConfig(batch_size=64, epochs=1, seed=0))
  return restore.restore_trained_model(model_dir, dataset)


def export(model, run, dataset, base, **kwargs):
  return export_model.export_student(
      model, dataset.spec, export_base=str(base), model_name=TASK,
      examples=export_model.load_eval_examples(dataset, TASK), training=run,
      policy=gate.BlessingPolicy(min_auc=0.0), **kwargs)


def test_the_two_tower_student_of_an_esmm_teacher_retrieves_by_ctcvr(
    dataset, tmp_path_factory):
  model, run = trained(dataset, tmp_path_factory, "two_tower")  # The task's defaults.
  assert run["model_config"]["teacher_architecture"] == "esmm"
  assert {"teacher_auc", "teacher_click_auc", "student_auc"} <= set(run["eval"])
  index = item_vectors.ItemVectors(*item_vectors.compute(
      model.student, item_vectors.catalogue(dataset, model.student.item_feature_names),
      dataset.spec.item_feature))
  # The gate checks scores through the index against the student's own and the
  # served top-k against an exact search.
  published = export(model, run, dataset, tmp_path_factory.mktemp("serving"),
                     item_index=index, top_k=5)
  assert published.metadata["validation"]["index_recall"] == 1.0
  served = tf.saved_model.load(published.path).signatures
  batch = tf.constant(list(export_model.load_eval_examples(dataset, TASK)
                           .serialized[:16]))
  users = served[signatures.USER_EMBEDDING](examples=batch)["user_vector"]
  items = served[signatures.ITEM_EMBEDDING](examples=batch)["item_vector"]
  np.testing.assert_allclose(
      tf.reduce_sum(users * items, -1),
      served[signatures.DEFAULT](examples=batch)["logit"], atol=1e-5)
  assert served[signatures.TOP_K](examples=batch)["item_ids"].shape == (16, 5)


@pytest.fixture(scope="module")
def multi_task(dataset, tmp_path_factory):
  model, run = trained(dataset, tmp_path_factory, "multi_task",
                       student_architecture=Architecture.ESMM)
  return model, run, export(model, run, dataset, tmp_path_factory.mktemp("serving"))


def test_one_multi_task_export_serves_ctcvr_and_ctr(multi_task, dataset):
  model, run, published = multi_task
  assert {"student_auc", "student_click_auc"} <= set(run["eval"])
  validation = published.metadata["validation"]
  assert validation["click_probability_parity_max_abs_diff"] <= gate.PARITY_TOLERANCE
  served = tf.saved_model.load(published.path).signatures
  batch = tf.constant(list(export_model.load_eval_examples(dataset, TASK)
                           .serialized[:32]))
  features = dataset.spec.regular(TASK)
  for name in (signatures.DEFAULT, signatures.RAW):
    out = (served[name](examples=batch) if name == signatures.DEFAULT else
           served[name](**_raw_inputs(batch, features)))
    ctr, cvr = model.student.task_logits(
        example_parser.parse_batch(batch, features))
    np.testing.assert_allclose(out["click_probability"], tf.sigmoid(ctr), atol=1e-5)
    np.testing.assert_allclose(out["probability"], tf.sigmoid(ctr) * tf.sigmoid(cvr),
                               atol=1e-5)
    # pCTCVR never passes pCTR: a purchase needs the click.
    assert (out["probability"].numpy() <= out["click_probability"].numpy()).all()


def _raw_inputs(batch, features):
  parsed = example_parser.parse_batch(batch, features)
  return {f.name: parsed[f.name].to_tensor(default_value=signatures.SEQUENCE_PADDING)
          if f.is_sequence else parsed[f.name] for f in features}


def test_the_multi_task_export_refuses_a_privileged_input(multi_task, dataset,
                                                          tmp_path):
  model, run, _ = multi_task
  privileged = dataset.spec.privileged(TASK)
  module = signatures.ServingModule(model.student,
                                    dataset.spec.regular(TASK) + privileged[:1])
  with pytest.raises(gate.ExportRefused, match=privileged[0].name):
    export_model.export_module(
        module, model, dataset.spec, export_base=str(tmp_path), model_name=TASK,
        examples=export_model.load_eval_examples(dataset, TASK), training=run,
        policy=gate.BlessingPolicy(min_auc=0.0))
  assert not (tmp_path / TASK).exists() or not [
      n for n in (tmp_path / TASK).iterdir() if n.name.isdigit()]
