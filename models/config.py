"""The teacher/student model's hyper-parameters, in one typed config.

Everything a run can change lives here, so `get_config()` and metrics.json record it and
the training entry point only maps flags onto it.
"""

from __future__ import annotations

import dataclasses
import enum

from features import spec as spec_lib


class Mode(str, enum.Enum):
  """What is trained, all on one code path (PFD section 4 and its baselines)."""
  STUDENT = "student"  # The baseline: the student alone, no teacher.
  PFD = "pfd"  # Teacher (regular + privileged) and student trained jointly.
  TEACHER = "teacher"  # The teacher alone (its quality is PFD's ceiling).
  LUPI = "lupi"  # Joint, but the teacher sees privileged features only.
  TWO_STAGE = "two_stage"  # Teacher first, then frozen while the student distils.

  @property
  def has_student(self) -> bool:
    return self is not Mode.TEACHER

  @property
  def has_teacher(self) -> bool:
    return self is not Mode.STUDENT


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Hyper-parameters of the teacher/student model.

  Attributes:
    task: "cvr" or "ctr" (features/spec.py TASKS).
    mode: See Mode.
    embedding_dim: Width of every id embedding.
    student_hidden: Student MLP widths.
    teacher_hidden: Teacher MLP widths; wider/deeper than the student is PFD+MD.
    unshared_vocabularies: Vocabularies whose embedding tables the teacher and
      student do NOT share (the paper kept user_id separate for CTR). All others are
      shared: one table serves both, so joint training costs little more than the
      student alone.
    hash_bins: Vocabulary name -> number of hash bins, for id spaces too large for
      a vocabulary (e.g. {"user_id": 1_000_000}); others use the job's vocabulary.
    distillation_loss: Name in models.losses' registry.
    temperature: Soft-label temperature.
    lambda_value: The distillation weight after the swap step.
    swap_step: lambda is exactly 0 before this optimizer step.
    ramp_steps: Linear ramp of lambda after swap_step (0: a step).
    distill_into_shared: Whether shared weights also receive the distillation
      gradient (through the student).
    block_distillation_gradient: Keep the distillation term away from the teacher
      (gradient blocking as in Rocket Launching). Off only to show what it prevents.
    learning_rate: Adam's learning rate.
  """
  task: str = "cvr"
  mode: Mode = Mode.PFD
  embedding_dim: int = 16
  student_hidden: tuple[int, ...] = (128, 64)
  teacher_hidden: tuple[int, ...] = (128, 64)
  unshared_vocabularies: frozenset[str] = frozenset()
  hash_bins: tuple[tuple[str, int], ...] = ()
  distillation_loss: str = "cross_entropy"
  temperature: float = 1.0
  lambda_value: float = 0.5
  swap_step: int = 0
  ramp_steps: int = 0
  distill_into_shared: bool = True
  block_distillation_gradient: bool = True
  learning_rate: float = 1e-3

  def __post_init__(self):
    spec_lib.task(self.task)
    object.__setattr__(self, "mode", Mode(self.mode))
    object.__setattr__(self, "unshared_vocabularies",
                       frozenset(self.unshared_vocabularies))
    hash_bins = dict(self.hash_bins)
    object.__setattr__(self, "hash_bins", tuple(sorted(hash_bins.items())))
    for name, bins in hash_bins.items():
      if bins < 1:
        raise ValueError(f"hash_bins[{name!r}] must be >= 1, got {bins}.")
    if self.embedding_dim < 1:
      raise ValueError(f"embedding_dim must be >= 1, got {self.embedding_dim}.")
    if self.temperature <= 0:
      raise ValueError(f"temperature must be > 0, got {self.temperature}.")

  @classmethod
  def from_dict(cls, values: dict) -> ModelConfig:
    """The inverse of `to_dict` (metrics.json records it; export rebuilds from it)."""
    known = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
      raise ValueError(f"Unknown ModelConfig fields {unknown}; known: {sorted(known)}.")
    values = {name: tuple(value) if isinstance(known[name].default, tuple) and
              isinstance(value, list) else value for name, value in values.items()}
    return cls(**values)

  def to_dict(self) -> dict:
    values = dataclasses.asdict(self)
    values.update(mode=self.mode.value,
                  unshared_vocabularies=sorted(self.unshared_vocabularies),
                  hash_bins=dict(self.hash_bins),
                  student_hidden=list(self.student_hidden),
                  teacher_hidden=list(self.teacher_hidden))
    return values
