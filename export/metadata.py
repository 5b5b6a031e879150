"""What a published version is, in a JSON file inside it: `assets.extra/model_metadata.json`.

Operators and the next export read it: the task (a model name serves one), the
feature spec's fingerprint (a client built against another spec is a bug to catch),
the data the model is bound to (the dataset's run id and each vocabulary's digest:
features.dataset.DataBinding), the training run's metrics, the gate's figures, and
which features were privileged and therefore left out of every signature. TF Serving
ignores assets.extra except for its warm-up file.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any, Mapping

import tensorflow as tf

from export import warmup
from features import spec as spec_lib

METADATA_FILE = "model_metadata.json"


def metadata_path(export_dir: str) -> str:
  return posixpath.join(export_dir, warmup.ASSETS_EXTRA, METADATA_FILE)


def build_metadata(*, model_name: str, version: int, spec: spec_lib.FeatureSpec,
                   task: str, signature_inputs: Mapping[str, list[str]],
                   training: Mapping[str, Any], validation: Mapping[str, Any]
                   ) -> dict[str, Any]:
  """The metadata record of one version.

  Args:
    signature_inputs: Signature name -> the input keys clients send.
    training: The training run's metrics.json (config, eval metrics, and `data`: the
      DataBinding record of what the model was trained on; a run of older code has
      none, and the version's `data` is then None).
    validation: The gate's figures (eval AUC, parity, the version compared against).
  """
  def names(role):
    return [f.name for f in spec.with_role(task, role)]

  return {
      "model_name": model_name,
      "version": version,
      "task": task,
      "feature_spec_fingerprint": spec.fingerprint(),
      "data": training.get("data"),
      "regular_features": names(spec_lib.Role.REGULAR),
      "privileged_features_excluded": names(spec_lib.Role.PRIVILEGED),
      "excluded_features": names(spec_lib.Role.EXCLUDED),
      "signatures": dict(signature_inputs),
      "training": dict(training),
      "validation": dict(validation),
  }


def write_metadata(export_dir: str, record: Mapping[str, Any]) -> str:
  path = metadata_path(export_dir)
  tf.io.gfile.makedirs(posixpath.dirname(path))
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(json.dumps(record, indent=2, sort_keys=True))
  return path


def read_metadata(export_dir: str) -> dict[str, Any]:
  path = metadata_path(export_dir)
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"No {METADATA_FILE} in {export_dir}: was it exported by "
                            "export.export_model?")
  with tf.io.gfile.GFile(path, "r") as f:
    return json.loads(f.read())
