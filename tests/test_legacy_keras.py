"""Every package pins Keras 2 before TensorFlow resolves tf.keras."""

import subprocess
import sys

import pytest

PACKAGES = ["pipelines", "features", "models", "export", "simulation", "benchmarks"]


def run_python(code: str) -> subprocess.CompletedProcess:
  env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "."}  # No TF_USE_LEGACY_KERAS here.
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
