"""Another shop's logs, from raw lines to a served student, with no code change:
infer a spec, edit it a little, join, train both tasks (student and PFD), export."""

import os
import subprocess
import sys

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import statistics_pb2
import yaml

from export import export_model
from export import gate
from export import signatures
from features import dataset as dataset_lib
from features import spec as spec_lib
from models import restore
from models import train
from models.config import ModelConfig
from pipelines import join_logs

import other_shop_logs

# The extra detail-page event the simulator never logs, and what infer_spec proposes
# for it: a count, privileged for the conversion task.
SHARE_COUNT = "share_count"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
  root = tmp_path_factory.mktemp("other_shop")
  logs = other_shop_logs.write(str(root / "raw"))
  proposal = root / "proposed_spec.yaml"
  subprocess.run(
      [sys.executable, "-m", "features.infer_spec", f"--impressions={logs['impressions']}",
       f"--detail_pages={logs['detail_pages']}", f"--output={proposal}"],
      check=True, capture_output=True)
  # The person's edit: `scene` has one value in these logs, so it can teach nothing;
  # user ids seen once are noise.
  edited = yaml.safe_load(proposal.read_text())
  edited["features"] = [f for f in edited["features"] if f["name"] != "scene"]
  next(f for f in edited["features"] if f["name"] == "user_id")["min_count"] = 2
  spec_path = root / "spec.yaml"
  spec_path.write_text(yaml.safe_dump(edited))
  spec = spec_lib.load_spec_file(str(spec_path))
  report = join_logs.run(join_logs.JoinConfig(
      logs["impressions"], logs["clicks"], logs["detail_pages"],
      str(root / "examples"), feature_spec=spec), ["--runner=FnApiRunner"])
  return dataset_lib.PublishedDataset.open(str(root / "examples")), report, root


def test_the_proposal_declares_the_shops_own_keys_and_events(published):
  dataset, report, _ = published
  spec = dataset.spec
  logged = {f.source for f in spec.logged()}
  assert {"user.gender", "user.member_level", "item.cat", "item.seller", "item.brand",
          "item.price_cny"} <= logged
  assert report["coverage"]["logged_not_declared"] == {}  # Nothing left behind.
  coverage = report["coverage"]["declared"]
  member_level = next(f.name for f in spec.logged() if f.source == "user.member_level")
  assert 0.85 < coverage[member_level]["fraction"] < 0.95  # ~10% lack it.
  assert set(spec.events) == set(other_shop_logs.EVENTS)
  share = spec[SHARE_COUNT]
  assert share.derive.event == "share"
  conversion = next(t for t in spec.tasks.values() if t.clicked_only)
  assert share.role(conversion.name) is spec_lib.Role.PRIVILEGED
  assert all(share.role(t.name) is spec_lib.Role.EXCLUDED
             for t in spec.tasks.values() if not t.clicked_only)


def test_every_declared_key_has_a_vocabulary_or_numeric_statistics(published):
  dataset, report, root = published
  sizes = report["vocabulary_sizes"]
  for feature in dataset.spec.logged():
    if feature.vocabulary is not None:
      assert sizes[feature.vocabulary] > 1, feature.name
      tokens = open(dataset.vocabulary_path(feature.vocabulary)).read().split("\n")[:-1]
      assert all(tokens), feature.name  # No empty line: a missing value has a token.
  with open(root / "examples" / "stats" / "train.pb", "rb") as f:
    proto = statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())
  numeric = {s.path.step[0]: s.num_stats for s in proto.datasets[0].features
             if s.HasField("num_stats")}
  for feature in dataset.spec.logged():
    if feature.kind is spec_lib.Kind.NUMERIC:
      assert numeric[feature.name].max > numeric[feature.name].min, feature.name


@pytest.mark.parametrize("task_kind", ["all", "clicked"])
@pytest.mark.parametrize("mode", ["student", "pfd"])
def test_train_and_export_both_tasks(published, tmp_path, task_kind, mode):
  dataset, _, _ = published
  spec = dataset.spec
  task = next(t.name for t in spec.tasks.values() if t.examples.value == task_kind)
  model_dir = str(tmp_path / "model")
  results = train.train_and_evaluate(
      dataset, model_dir,
      ModelConfig.for_task(spec, task, mode=mode, embedding_dim=4,
                           student_hidden=(8,), teacher_hidden=(8,), tower_dim=8),
      train.TrainConfig(batch_size=128, epochs=1, seed=0))
  assert results["eval"]["eval_examples"] == dataset.example_count("eval", task)
  assert 0.0 <= results["eval"]["student_auc"] <= 1.0

  model, run = restore.restore_trained_model(model_dir, dataset)
  privileged = {f.name for f in spec.privileged(task)}
  if mode == "pfd":
    assert privileged <= {f.name for f in model.teacher_features}
    if task_kind == "clicked":
      assert SHARE_COUNT in privileged
  examples = export_model.load_eval_examples(dataset, task)
  published_model = export_model.export_student(
      model, spec, item_index=export_model.load_item_index(model, dataset, None),
      export_base=str(tmp_path / "serving"), model_name=task, examples=examples,
      training=run, policy=gate.BlessingPolicy(min_auc=0.0))
  reloaded = tf.saved_model.load(published_model.path)
  regular = {f.name for f in spec.regular(task)}
  assert set(signatures.signature_input_names(
      reloaded.signatures[signatures.RAW])) == regular
  served = reloaded.signatures[signatures.DEFAULT](
      examples=tf.constant(list(examples.serialized[:8])))["probability"]
  assert served.shape == [min(8, len(examples.serialized))]
  # The gate walked what ships: no signature reads a privileged feature, no teacher
  # weight is saved.
  inputs = {name for names in published_model.metadata["signatures"].values()
            for name in names}
  assert not inputs & privileged and SHARE_COUNT not in inputs
  assert set(published_model.metadata["regular_features"]) == regular
  saved = tf.train.list_variables(
      os.path.join(published_model.path, "variables", "variables"))
  assert saved and not any("teacher" in name for name, _ in saved)
