"""The whole data path on a tiny simulated world: simulator -> join job -> examples."""

import collections
import json
import os

import pytest
import tensorflow as tf

from features import example_codec
from features import spec
from pipelines import join_logs
from simulation import FaultConfig, load_oracle, preset, simulate

RUNNER = ["--runner=FnApiRunner"]


def run_join(raw_dir, output_dir, **kwargs):
  return join_logs.run(join_logs.JoinConfig(
      impressions=f"{raw_dir}/impressions/*", clicks=f"{raw_dir}/clicks/*",
      detail_pages=f"{raw_dir}/detail_pages/*", output_dir=output_dir, **kwargs),
                       RUNNER)


def serialized_examples(output_dir):
  files = sorted(tf.io.gfile.glob(f"{output_dir}/pfd-*.tfrecord-*"))
  by_split = collections.defaultdict(list)
  for path in files:
    split = os.path.basename(path).split("-")[1].split(".")[0]
    by_split[split].extend(tf.data.TFRecordDataset(path).as_numpy_iterator())
  return {split: sorted(records) for split, records in by_split.items()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
  root = tmp_path_factory.mktemp("clean")
  summary = simulate(preset("tiny"), str(root / "raw"), with_oracle=True)
  report = run_join(str(root / "raw"), str(root / "examples"))
  return root, summary, report


def test_clean_world_passes_with_zero_dead_letters(clean):
  _, summary, report = clean
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


def test_job_labels_agree_with_the_oracle_file(clean):
  root, _, _ = clean
  oracle = load_oracle(str(root / "raw" / "oracle"))
  truth = {i: (c, p) for i, c, p in zip(oracle["impression_id"], oracle["click"],
                                        oracle["purchase"])}
  for records in serialized_examples(str(root / "examples")).values():
    parsed = example_codec.parse_batch(tf.constant(records), spec.DEFAULT_SPEC)
    for imp_id, click, purchase in zip(parsed["impression_id"].numpy(),
                                       parsed["click"].numpy(),
                                       parsed["purchase"].numpy()):
      key = imp_id.decode()
      assert truth[key] == (click, purchase), key


def test_injected_faults_are_all_accounted_for_exactly(clean, tmp_path):
  clean_root, _, _ = clean
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
      str(clean_root / "examples"))
