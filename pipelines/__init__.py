"""Beam jobs: raw impression, click and detail-page logs in, training examples out."""

import legacy_keras  # noqa: F401  (Keras 2 before TensorFlow loads)
