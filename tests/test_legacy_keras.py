"""Every package pins Keras 2 (and oneDNN) before TensorFlow reads its settings."""

import subprocess
import sys

import pytest

PACKAGES = ["pipelines", "features", "models", "export", "simulation", "benchmarks"]


def run_python(code: str, **extra_env: str) -> subprocess.CompletedProcess:
  # No TF_USE_LEGACY_KERAS or TF_ENABLE_ONEDNN_OPTS here unless given.
  env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ".", **extra_env}
  return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        env=env, check=False)


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_a_package_first_gives_keras_2(package):
  result = run_python(f"import {package}\nimport tensorflow as tf\n"
                      "print(tf.keras.Model.__module__)")
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip().startswith("tf_keras")


def test_keras_3_already_loaded_fails_with_the_fix():
  result = run_python("import tensorflow as tf\ntf.keras.Model\nimport features")
  assert result.returncode != 0
  assert "TF_USE_LEGACY_KERAS" in result.stderr


@pytest.mark.parametrize("given, expected", [(None, "1"), ("0", "0")])
def test_onednn_is_on_unless_the_environment_says_otherwise(given, expected):
  extra = {} if given is None else {"TF_ENABLE_ONEDNN_OPTS": given}
  result = run_python("import models, os\nprint(os.environ['TF_ENABLE_ONEDNN_OPTS'])",
                      **extra)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip() == expected
