"""Student-only SavedModel signatures and serving checks."""

import legacy_keras  # noqa: F401  (Keras 2 before TensorFlow loads)
