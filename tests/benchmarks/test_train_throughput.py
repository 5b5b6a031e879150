"""The step-cost bench covers every distillation loss the registry has, and DMTL."""

from benchmarks.evidence import registry
from benchmarks import train_throughput
from features import spec as spec_lib
from models import losses
from models.config import Architecture, Mode, ModelConfig


def test_every_registered_loss_gets_a_step_cost_ratio():
  # cross_entropy is PFD's own (train.pfd_shared_over_student).
  assert set(losses.DISTILLATION_LOSSES) - {"cross_entropy"} <= set(
      train_throughput.METHODS)
  for overrides in train_throughput.METHODS.values():
    ModelConfig(task=train_throughput.TASK, mode=Mode.PFD, **overrides)


def test_dmtl_step_cost_is_that_of_the_evidence_runs():
  # train.dmtl_over_student times the models `make evidence` compares for ctcvr.
  configs = train_throughput.dmtl_configs(spec_lib.DEFAULT_SPEC)
  ctcvr = registry.TASKS[train_throughput.DMTL_TASK]
  assert configs["dmtl"] == ctcvr.methods["dmtl"]
  assert configs["ctcvr_student"] == ctcvr.variants["student"]
  assert configs["dmtl"].teacher.architecture is Architecture.ESMM
  assert configs["ctcvr_student"].mode is Mode.STUDENT
