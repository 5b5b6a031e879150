"""Day-after-day runs: the daily join, warm-started training and gated export."""

import legacy_keras  # noqa: F401  (Keras 2 before TensorFlow loads)
