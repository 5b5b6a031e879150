"""A synthetic e-commerce world with known ground truth: the project's default data."""

import legacy_keras  # noqa: F401  (Keras 2 before TensorFlow loads)

from simulation.config import WorldConfig, preset
from simulation.faults import FaultConfig
from simulation.oracle import load_oracle
from simulation.simulator import simulate
