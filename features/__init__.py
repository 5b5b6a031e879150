"""The feature spec (single source of truth), Example encoding/parsing, tf.data input."""

import legacy_keras  # noqa: F401  (Keras 2 before TensorFlow loads)
