"""WORKSPACE.md's serving examples: the REST bodies stay in step with the spec's
serving inputs, and the offline recipe (saved_model_cli, tf.saved_model.load) runs as
written on a published version."""

import dataclasses
import json
import re

import pytest

from export import export_model
from export import gate
from features import dataset as dataset_lib
from features import spec as spec_lib
from models.training import restore
from models import train
from models.config import ModelConfig
from simulation import preset, simulate

import doc_commands
from world_fixtures import run_join


def rest_bodies():
  """signature_name -> the JSON body of each `curl -s -d '...'` example."""
  text = open(doc_commands.WORKSPACE_MD).read()
  bodies = {}
  for chunk in text.split("curl -s -d '")[1:]:
    body = json.loads(chunk[:chunk.index("}'") + 1])
    bodies[body["signature_name"]] = body
  return bodies


def test_the_raw_example_sends_exactly_the_cvr_regular_features_in_their_dtypes():
  inputs = rest_bodies()["raw"]["inputs"]
  regular = spec_lib.DEFAULT_SPEC.regular("cvr")
  assert sorted(inputs) == sorted(f.name for f in regular)
  for f in regular:
    value = inputs[f.name][0]
    if f.is_sequence:
      assert all(isinstance(v, str) for v in value), f.name
    else:
      want = {spec_lib.DType.STRING: str, spec_lib.DType.INT64: int,
              spec_lib.DType.FLOAT32: float}[f.dtype]
      assert type(value) is want, f.name


def test_regress_and_classify_examples_name_only_regular_features():
  bodies = rest_bodies()
  names = {f.name for f in spec_lib.DEFAULT_SPEC.regular("cvr")}
  for signature in ("regress", "classify"):
    for example in bodies[signature]["examples"]:
      assert set(example) <= names, signature


# "Without a server" runs as written, from a directory laid out as make demo leaves
# `workspace/`: a joined world and a published cvr student.
OFFLINE = doc_commands.section(doc_commands.WORKSPACE_MD, "### Without a server")
# The tiny world converts too rarely for a CVR AUC (no eval purchase); with the
# purchase logit's bias raised from -5.6, 14 of its 25 eval clicks convert.
PURCHASE_BIAS = -1.0


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> str:
  """A directory whose `workspace/` holds `examples/` and `serving/cvr/<version>/`."""
  root = tmp_path_factory.mktemp("serving_docs")
  raw, examples = str(root / "raw"), str(root / "workspace" / "examples")
  simulate(dataclasses.replace(preset("tiny"), purchase_bias=PURCHASE_BIAS), raw,
           with_oracle=False)
  run_join(raw, examples)
  dataset = dataset_lib.PublishedDataset.open(examples)
  model_dir = str(root / "workspace" / "models" / "pfd-seed0")
  train.train_and_evaluate(
      dataset, model_dir,
      ModelConfig.for_task(dataset.spec, "cvr", mode="pfd", embedding_dim=4,
                           student_hidden=(8,), teacher_hidden=(8,)),
      train.TrainConfig(batch_size=64, epochs=1, seed=0))
  model, run = restore.restore_trained_model(model_dir, dataset)
  export_model.export_student(
      model, dataset.spec, export_base=str(root / "workspace" / "serving"),
      model_name="cvr", examples=export_model.load_eval_examples(dataset, "cvr"),
      training=run, policy=gate.BlessingPolicy(min_auc=0.0))  # Tiny data: no floor.
  return str(root)


def printed_arrays(stdout: str) -> list[list[float]]:
  """Each `[...]` numpy printed, as floats."""
  return [[float(v) for v in body.split()]
          for body in re.findall(r"\[([^\[\]]*)\]", stdout)]


def test_saved_model_cli_shows_and_runs_serving_default(demo_root):
  (block,) = doc_commands.blocks(OFFLINE, "sh")
  printed = doc_commands.run(block, {}, cwd=demo_root)
  assert "inputs['examples']" in printed and "outputs['probability']" in printed
  result = printed[printed.index("Result for output key probability:"):]
  (probability,), *_ = printed_arrays(result)
  assert 0.0 < probability < 1.0


def test_python_scores_eval_examples_and_one_built_by_hand(demo_root):
  (block,) = doc_commands.blocks(OFFLINE, "python")
  eval_scores, handmade = printed_arrays(
      doc_commands.run(block, {}, cwd=demo_root, lang="python"))
  assert len(eval_scores) == 3 and len(handmade) == 1
  assert all(0.0 < p < 1.0 for p in eval_scores + handmade)
