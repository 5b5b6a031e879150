"""The step-cost bench covers every distillation loss the registry has."""

from benchmarks import train_throughput
from models import losses
from models.config import Mode, ModelConfig


def test_every_registered_loss_gets_a_step_cost_ratio():
  # cross_entropy is PFD's own (train.pfd_shared_over_student).
  assert set(losses.DISTILLATION_LOSSES) - {"cross_entropy"} <= set(
      train_throughput.METHODS)
  for overrides in train_throughput.METHODS.values():
    ModelConfig(task=train_throughput.TASK, mode=Mode.PFD, **overrides)
