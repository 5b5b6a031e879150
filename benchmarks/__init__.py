"""Speed and memory benchmarks behind `make bench` (benchmarks/results.json)."""

import legacy_keras  # noqa: F401  (Keras 2 before TensorFlow loads)
