"""The export job: a published version's layout, atomicity and refusals (the metadata
and warm-up files' contents: test_metadata.py, test_warmup.py)."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

import roc
from export import export_model
from export import gate
from export import metadata
from export import versions
from export import warmup
from features import dataset as dataset_lib
from features import example_parser
from features import layout
from features import run_report
from models.training import restore

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def test_a_version_is_published_complete_under_an_integer_name(published):
  base = os.path.dirname(published.path)
  assert versions.published_versions(base) == [published.version]
  assert [n for n in os.listdir(base) if n.startswith(".")] == []
  assets = os.listdir(os.path.join(published.path, "assets"))
  assert "item_id.txt" in assets  # Vocabularies travel with the model.
  assert os.path.exists(warmup.warmup_path(published.path))
  assert os.path.exists(metadata.metadata_path(published.path))


def test_a_crash_mid_export_leaves_no_version_and_no_staging(trained_run, tmp_path,
                                                             monkeypatch):
  def crash(*args, **kwargs):
    raise RuntimeError("disk full")

  monkeypatch.setattr(warmup, "write_warmup", crash)
  with pytest.raises(RuntimeError, match="disk full"):
    export_model.export_student(
        trained_run.model, trained_run.spec, export_base=str(tmp_path),
        model_name="ctr", examples=trained_run.examples,
        policy=gate.BlessingPolicy(min_auc=0.0))
  assert os.listdir(tmp_path / "ctr") == []


def test_a_published_version_number_cannot_be_reused(published, trained_run):
  with pytest.raises(FileExistsError, match=str(published.version)):
    export_model.export_student(
        trained_run.model, trained_run.spec,
        export_base=os.path.dirname(os.path.dirname(published.path)),
        model_name="ctr", examples=trained_run.examples, version=published.version)


def test_the_restored_model_reproduces_the_training_runs_eval(trained_run):
  examples, spec = trained_run.examples, trained_run.spec
  parsed = example_parser.parse_batch(tf.constant(list(examples.serialized)),
                                     spec.regular("ctr"))
  scores = tf.sigmoid(trained_run.model(parsed)).numpy()
  gauc = roc.group_auc(examples.labels, scores, parsed["user_id"].numpy())
  assert gauc == pytest.approx(trained_run.run["eval"]["student_gauc"], abs=1e-6)


def test_the_job_restores_the_run_and_saved_model_cli_runs_its_examples(
    trained_run, published, tmp_path):
  """The absl entry point end to end, then TF's own CLI on what it published."""
  out = subprocess.run(
      [sys.executable, "-m", "export.export_model", f"--model_dir={trained_run.model_dir}",
       f"--data_dir={trained_run.data_dir}", f"--export_base={tmp_path}", "--min_auc=0"],
      capture_output=True, text=True, env=ENV, check=True).stdout
  result = json.loads(out[out.index("{"):])
  assert result["validation"]["parity_max_abs_diff"] <= gate.PARITY_TOLERANCE
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  run = subprocess.run(
      [cli, "run", "--dir", result["path"], "--tag_set", "serve", "--signature_def",
       "serving_default", "--input_examples",
       'examples=[{"item_id":["item_1"],"price":[12.5]},{"user_id":["nobody"]}]'],
      capture_output=True, text=True, env=ENV, check=True).stdout
  assert "probability" in run and "logit" in run
  values = run[run.index("probability"):].split("[", 1)[1].split("]", 1)[0].split()
  assert len(values) == 2 and all(0.0 < float(v) < 1.0 for v in values)
  # The job restored the same weights as the fixture did.
  assert result["validation"]["eval_auc"] == pytest.approx(
      published.metadata["validation"]["eval_auc"], abs=1e-9)


def _export(trained_run, export_base, *flags, data_dir=None):
  return subprocess.run(
      [sys.executable, "-m", "export.export_model",
       f"--model_dir={trained_run.model_dir}",
       f"--data_dir={data_dir or trained_run.data_dir}", f"--export_base={export_base}",
       "--min_auc=0", *flags], capture_output=True, text=True, env=ENV)


def test_a_model_name_serving_another_task_is_refused(trained_run, published,
                                                      tmp_path):
  # A CVR model published as `cvr`: its version's metadata names its task.
  served = tmp_path / "cvr" / "1"
  shutil.copytree(published.path, served)
  metadata.write_metadata(str(served), {**metadata.read_metadata(str(served)),
                                        "model_name": "cvr", "task": "cvr"})
  out = _export(trained_run, tmp_path, "--model_name=cvr")
  assert out.returncode != 0
  assert "'cvr' serves task 'cvr' (published version 1)" in out.stderr
  assert "trained for task 'ctr'" in out.stderr
  assert os.listdir(tmp_path / "cvr") == ["1"]  # Nothing staged, kept or published.


def test_a_dataset_with_other_vocabularies_is_refused_naming_the_vocabulary(
    trained_run, tmp_path):
  rejoined = str(tmp_path / "rejoined")
  shutil.copytree(trained_run.data_dir, rejoined)
  # The same logs joined again by another run: the same vocabularies stand in.
  with open(os.path.join(rejoined, layout.REPORT_FILE)) as f:
    report = json.load(f)
  with open(os.path.join(rejoined, layout.REPORT_FILE), "w") as f:
    json.dump({**report, run_report.RUN_ID: "another-run"}, f)
  restore.check_binding(trained_run.model_dir, trained_run.run,
                        dataset_lib.PublishedDataset.open(rejoined))
  # Another vocabulary order (other logs, another min_count): other embedding rows.
  name = sorted(trained_run.run["data"]["vocabularies"])[0]
  path = layout.vocabulary_path(rejoined, name)
  with open(path) as f:
    tokens = f.read().splitlines()
  with open(path, "w") as f:
    f.write("".join(f"{t}\n" for t in reversed(tokens)))
  out = _export(trained_run, tmp_path / "serving", data_dir=rejoined)
  assert out.returncode != 0
  lines = [line for line in out.stderr.splitlines() if f"vocabulary {name!r}" in line]
  assert lines, out.stderr[-3000:]
  assert repr(rejoined) in lines[0] and repr(trained_run.data_dir) in lines[0]
  assert not os.path.exists(tmp_path / "serving")


def test_a_dataset_rejoined_from_other_logs_is_refused(trained_run, tiny_world,
                                                       tmp_path):
  # The same spec joined over the logs without their first day: other vocabularies.
  from world_fixtures import run_join  # pylint: disable=g-import-not-at-top
  raw = tmp_path / "raw"
  shutil.copytree(tiny_world.raw_dir, raw)
  for log in ("impressions", "clicks", "detail_pages"):
    os.remove(sorted((raw / log).iterdir())[0])
  rejoined = str(tmp_path / "rejoined")
  run_join(str(raw), rejoined)
  out = _export(trained_run, tmp_path / "serving", data_dir=rejoined)
  assert out.returncode != 0
  assert "vocabulary" in out.stderr and repr(rejoined) in out.stderr
  assert not os.path.exists(tmp_path / "serving")
