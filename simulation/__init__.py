"""A synthetic e-commerce world with known ground truth: the project's default data."""

import legacy_keras  # noqa: F401  (Keras 2 before TensorFlow loads)
