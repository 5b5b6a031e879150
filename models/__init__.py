"""Layers, losses, the teacher/student model and training."""

import legacy_keras  # noqa: F401  (Keras 2 before TensorFlow loads)
