"""The whole data path on a tiny simulated world: simulator -> join job -> examples."""

import collections
import json
import os

import tensorflow as tf

from export import export_model
from export import gate
from features import example_parser
from features import spec
from models.training import restore
from models import train
from models.config import ModelConfig
from simulation import FaultConfig, load_oracle, preset, simulate
from world_fixtures import run_join


def serialized_examples(output_dir):
  files = sorted(tf.io.gfile.glob(f"{output_dir}/pfd-*.tfrecord-*"))
  by_split = collections.defaultdict(list)
  for path in files:
    split = os.path.basename(path).split("-")[1].split(".")[0]
    by_split[split].extend(tf.data.TFRecordDataset(path).as_numpy_iterator())
  return {split: sorted(records) for split, records in by_split.items()}


def test_clean_world_passes_with_zero_dead_letters(tiny_world):
  summary, report = tiny_world.summary, tiny_world.report
  assert report["reconciled"]
  assert report["dead_letter_lines"] == 0
  assert sum(e["duplicate"] for e in report["inputs"].values()) == 0
  counts = summary["all"]["counts"]
  assert sum(report["examples"].values()) == counts["impressions"]
  positives = report["positives"]
  assert positives.get("train/click", 0) + positives.get("eval/click", 0) == (
      counts["clicks"])
  assert positives.get("train/purchase", 0) + positives.get("eval/purchase", 0) == (
      counts["purchases"])


def test_job_labels_agree_with_the_oracle_file(tiny_world):
  oracle = load_oracle(os.path.join(tiny_world.raw_dir, "oracle"))
  truth = {i: (c, p) for i, c, p in zip(oracle["impression_id"], oracle["click"],
                                        oracle["purchase"])}
  for records in serialized_examples(tiny_world.examples_dir).values():
    parsed = example_parser.parse_batch(tf.constant(records), spec.DEFAULT_SPEC)
    for imp_id, click, purchase in zip(parsed["impression_id"].numpy(),
                                       parsed["click"].numpy(),
                                       parsed["purchase"].numpy()):
      key = imp_id.decode()
      assert truth[key] == (click, purchase), key


def test_injected_faults_are_all_accounted_for_exactly(tiny_world, tmp_path):
  raw = str(tmp_path / "raw")
  simulate(preset("tiny"), raw, with_oracle=False, faults=FaultConfig(fraction=0.03))
  report = run_join(raw, str(tmp_path / "examples"), max_bad_fraction=0.5)
  faults = [json.loads(line) for line in open(os.path.join(raw, "faults.jsonl"))]
  assert len({f["kind"] for f in faults}) >= 8
  expected_dead = collections.Counter(
      (f["log"], f["expected"].split(":", 1)[1]) for f in faults
      if f["expected"].startswith("dead_letter:"))
  got_dead = collections.Counter(
      (log, reason) for log, entry in report["inputs"].items()
      for reason, n in entry["dead_letter"].items() for _ in range(n))
  assert got_dead == expected_dead
  expected_duplicates = collections.Counter(f["log"] for f in faults
                                            if f["expected"] == "duplicate")
  assert {log: e["duplicate"] for log, e in report["inputs"].items()
          if e["duplicate"]} == dict(expected_duplicates)
  assert report["reconciled"]
  # The faults only added lines: the examples are exactly the clean run's.
  assert serialized_examples(str(tmp_path / "examples")) == serialized_examples(
      tiny_world.examples_dir)


def test_whole_path_from_logs_to_a_served_student(tiny_world, tmp_path):
  """Simulator -> join job -> PFD training -> student-only SavedModel, tiny world."""
  results = train.train_and_evaluate(
      tiny_world.examples_dir, str(tmp_path / "model"),
      ModelConfig(task="ctr", mode="pfd", embedding_dim=4, student_hidden=(8,),
                  teacher_hidden=(8,)),
      train.TrainConfig(batch_size=64, epochs=1, seed=0))
  evaluation = results["eval"]
  assert evaluation["eval_examples"] == tiny_world.report["examples"]["eval"]
  assert evaluation["eval_positives"] == tiny_world.report["positives"]["eval/click"]
  for head in ("student", "teacher"):
    assert 0.0 <= evaluation[f"{head}_auc"] <= 1.0
    assert 0.0 <= evaluation[f"{head}_gauc"] <= 1.0
  assert os.path.exists(tmp_path / "model" / "metrics.json")

  model, run = restore.restore_trained_model(str(tmp_path / "model"),
                                                  tiny_world.examples_dir)
  examples = export_model.load_eval_examples(tiny_world.examples_dir, "ctr")
  published = export_model.export_student(
      model, spec.DEFAULT_SPEC, export_base=str(tmp_path / "serving"),
      model_name="ctr", examples=examples, training=run,
      policy=gate.BlessingPolicy(min_auc=0.0))
  serve = tf.saved_model.load(published.path).signatures["serving_default"]
  # What a server receives has no privileged feature: strip them, same scores.
  stripped = []
  for record in examples.serialized[:20]:
    example = tf.train.Example.FromString(record)
    for feature in spec.DEFAULT_SPEC.privileged("ctr"):
      del example.features.feature[feature.name]
    stripped.append(example.SerializeToString())
  full = serve(examples=tf.constant(list(examples.serialized[:20])))["probability"]
  served = serve(examples=tf.constant(stripped))["probability"]
  assert (full.numpy() == served.numpy()).all()
