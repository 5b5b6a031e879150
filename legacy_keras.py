"""Pins TensorFlow to Keras 2 (tf-keras) and its CPU kernels to oneDNN, and quiets the
libraries' logs (`cli.prepare_process`): the one place every entry point passes through
before any library loads.

tensorflow-recommenders is written against Keras 2, while TensorFlow 2.16+ resolves
``tf.keras`` to Keras 3 unless ``TF_USE_LEGACY_KERAS=1`` is set before ``tf.keras`` is
first touched. Every package of this project imports this module first (its
``__init__``), so entry points, tests and Beam workers (which import our packages to
unpickle DoFns) all get the same Keras.
"""

import os
import sys

import cli

os.environ["TF_USE_LEGACY_KERAS"] = "1"
# oneDNN's CPU kernels, which TensorFlow enables by itself only on CPUs with AVX-512:
# on AVX2-only CPUs they also run the item index's matmul on every core and train
# faster (make bench's retrieval and train figures). Set here so
# every process computes the same way whatever CPU it lands on; an explicit
# TF_ENABLE_ONEDNN_OPTS=0 still wins. TF Serving reads the same variable
# (WORKSPACE.md's docker command sets it).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
cli.prepare_process()


def check_keras2() -> None:
  """Raises ImportError with the fix if TensorFlow already resolved Keras 3.

  Called lazily (by code that builds models) rather than at import time, so that
  importing a Beam-only module never pays for importing TensorFlow.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  module = tf.keras.Model.__module__
  if not module.startswith("tf_keras"):
    raise ImportError(
        f"tf.keras resolved to {module}, but this project needs Keras 2 (tf_keras). "
        "TensorFlow was imported before TF_USE_LEGACY_KERAS=1 was set: import "
        "`legacy_keras` (or any package of this project) before `tensorflow`, or "
        "export TF_USE_LEGACY_KERAS=1 in the environment.")


if "tensorflow" in sys.modules and "tf_keras" not in sys.modules:
  # TensorFlow was imported first; tf.keras may still be unresolved (it is lazy),
  # in which case the variable set above is still in time. Verify now.
  check_keras2()
