"""Test bootstrap: Keras 2 before anything imports TensorFlow."""

import legacy_keras  # noqa: F401
