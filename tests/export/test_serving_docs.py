"""The REST examples in WORKSPACE.md stay in step with the spec's serving inputs."""

import json
import os

from features import spec as spec_lib

WORKSPACE_MD = os.path.join(os.path.dirname(__file__), "..", "..", "WORKSPACE.md")


def rest_bodies():
  """signature_name -> the JSON body of each `curl -s -d '...'` example."""
  text = open(WORKSPACE_MD).read()
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
