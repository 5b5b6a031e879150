"""The teacher/student model's hyper-parameters, in one typed config.

Everything a run can change lives here, so `get_config()` and metrics.json record it; each
field is also a flag of the jobs that train (config_flags: its default and help are here).
The per-head knobs are flat fields for those flags and records; the code reads them as
`ModelConfig.student` / `.teacher`, typed `heads.HeadConfig`s.
"""

from __future__ import annotations

import dataclasses
import enum

from config_flags import knob
from features import spec as spec_lib
from models import losses
from models.heads import Architecture, HeadConfig, HeadRole, HeadSettings
from models.heads import esmm
from models.heads import towers
from models.heads import two_tower


class Mode(str, enum.Enum):
  """What is trained, all on one code path (PFD section 4 and its baselines)."""
  STUDENT = "student"  # The baseline: the student alone, no teacher.
  PFD = "pfd"  # Teacher (regular + privileged) and student trained jointly.
  TEACHER = "teacher"  # The teacher alone (its quality is PFD's ceiling).
  LUPI = "lupi"  # Joint, but the teacher sees privileged features only.
  # Joint model distillation: the teacher sees the student's regular features only,
  # through its own (larger: --teacher_architecture, --teacher_hidden) head.
  MD = "md"
  TWO_STAGE = "two_stage"  # Teacher first, then frozen while the student distils.
  # Controls of PFD (is a gain privileged information or regularisation?).
  # The student alone on label-smoothed targets, (1 - lambda) y + lambda base_rate:
  # what softer targets give without any teacher.
  SMOOTH = "smooth"
  # PFD whose teacher reads the privileged features of another example of the batch
  # (a cyclic shift of the batch's rows): their marginals kept, their link to the
  # example and its label gone.
  PFD_PERMUTED = "pfd_permuted"

  @property
  def spec(self) -> ModeSpec:
    """What the mode trains, declared in MODES."""
    return MODES[self]

  @property
  def has_student(self) -> bool:
    return HeadRole.STUDENT in self.spec.heads

  @property
  def has_teacher(self) -> bool:
    return HeadRole.TEACHER in self.spec.heads

  def has(self, role: HeadRole) -> bool:
    """Whether the mode trains the head of `role`."""
    return role in self.spec.heads

  def roles(self) -> tuple[HeadRole, ...]:
    """The heads the mode trains, student first."""
    return tuple(role for role in HeadRole if self.has(role))

  @property
  def distills(self) -> bool:
    """Whether the student learns from the teacher (lambda weighs that term)."""
    return self.spec.second_term is SecondTerm.DISTILLATION

  @property
  def smooths_labels(self) -> bool:
    """Whether lambda mixes the base rate into the student's targets instead."""
    return self.spec.second_term is SecondTerm.BASE_RATE

  @property
  def weighs_lambda(self) -> bool:
    """Whether lambda weighs a second term of the student loss (either kind)."""
    return self.spec.second_term is not None

  @property
  def permutes_privileged(self) -> bool:
    """Whether the teacher's privileged inputs are shifted across the batch."""
    return self.spec.teacher_reads is TeacherReads.PERMUTED


class TeacherReads(str, enum.Enum):
  """What a mode's teacher reads of the batch."""
  ALL = "all"  # The regular and the privileged features.
  PRIVILEGED = "privileged"  # The privileged ones alone (LUPI).
  REGULAR = "regular"  # The student's regular ones alone (model distillation).
  # All, the privileged rows taken from another example of the batch (a control).
  PERMUTED = "permuted"


class SecondTerm(str, enum.Enum):
  """What lambda weighs beside the student's hard-label loss."""
  DISTILLATION = "distillation"  # The teacher's soft labels.
  BASE_RATE = "base_rate"  # The train base rate: label smoothing, no teacher.


@dataclasses.dataclass(frozen=True)
class ModeSpec:
  """A mode, declared: its heads, what its teacher reads, what lambda weighs and
  whether it trains in two stages (the teacher first, then the student against it)."""
  heads: frozenset[HeadRole]
  teacher_reads: TeacherReads | None = None
  second_term: SecondTerm | None = None
  two_stages: bool = False


_BOTH = frozenset(HeadRole)
_DISTILS = dict(heads=_BOTH, second_term=SecondTerm.DISTILLATION)
MODES: dict[Mode, ModeSpec] = {
    Mode.STUDENT: ModeSpec(frozenset({HeadRole.STUDENT})),
    Mode.PFD: ModeSpec(teacher_reads=TeacherReads.ALL, **_DISTILS),
    Mode.TEACHER: ModeSpec(frozenset({HeadRole.TEACHER}), TeacherReads.ALL),
    Mode.LUPI: ModeSpec(teacher_reads=TeacherReads.PRIVILEGED, **_DISTILS),
    Mode.MD: ModeSpec(teacher_reads=TeacherReads.REGULAR, **_DISTILS),
    Mode.TWO_STAGE: ModeSpec(teacher_reads=TeacherReads.ALL, two_stages=True,
                             **_DISTILS),
    Mode.SMOOTH: ModeSpec(frozenset({HeadRole.STUDENT}),
                          second_term=SecondTerm.BASE_RATE),
    Mode.PFD_PERMUTED: ModeSpec(teacher_reads=TeacherReads.PERMUTED, **_DISTILS),
}


LAMBDA_AUTO = "auto"  # --lambda_value=auto: models.train chooses it on validation.


def parse_lambda(text: str) -> float | str:
  """`"0.5"` -> 0.5; `"auto"` -> LAMBDA_AUTO."""
  if text == LAMBDA_AUTO:
    return LAMBDA_AUTO
  try:
    return float(text)
  except ValueError as e:
    raise ValueError(f"lambda_value: {text!r} is neither a number nor "
                     f"{LAMBDA_AUTO!r}.") from e


def parse_hash_bins(text: str) -> tuple[tuple[str, int], ...]:
  """`"user_id:1000000,item_id:5000"` -> `(("user_id", 1000000), ("item_id", 5000))`."""
  pairs = []
  for pair in filter(None, text.split(",")):
    name, _, bins = pair.partition(":")
    if not name or not bins.isdigit():
      raise ValueError(f"hash_bins: {pair!r} is not a vocabulary:bins pair "
                       "(e.g. user_id:1000000).")
    pairs.append((name, int(bins)))
  return tuple(pairs)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Hyper-parameters of the teacher/student model.

  Attributes:
    task: A task of the dataset's spec (checked when a model is built over it).
    mode: See Mode.
    embedding_dim: Width of every id embedding.
    student_architecture: What the student is (see Architecture).
    teacher_architecture: What the teacher is. A stronger kind than the student's
      (e.g. DCN over a two-tower student) is PFD+MD: privileged features and model
      distillation at once.
    student_hidden: Student MLP widths (for a two-tower head, each tower's).
    teacher_hidden: Teacher MLP widths; wider/deeper than the student is PFD+MD.
    cross_layers, tower_dim, inner_product_scale, item_bias, mmoe_experts,
      expert_hidden: The architectures' own knobs, shared by both heads: see
      towers.DcnSettings, two_tower.TwoTowerSettings and esmm.EsmmSettings.
    unshared_vocabularies: Vocabularies whose embedding tables the teacher and
      student do NOT share (the paper kept user_id separate for CTR). All others are
      shared: one table serves both, so joint training costs little more than the
      student alone.
    hash_bins: Vocabulary name -> number of hash bins, for id spaces too large for
      a vocabulary (e.g. {"user_id": 1_000_000}); others use the job's vocabulary.
    distillation_loss: Name in models.losses' registry.
    temperature: Soft-label temperature.
    ranking_top_k: K of the losses that distil the teacher's top K of a request
      (models.losses.REQUEST_LOSSES batch whole requests).
    lambda_value: The distillation weight after the swap step, or LAMBDA_AUTO:
      models.train then trains one model per lambda of its `lambda_grid` (0, the
      student alone trained the same way, included) and keeps the one that
      validates best; a model is built from the chosen number.
    swap_step: lambda is exactly 0 before this optimizer step.
    ramp_steps: Linear ramp of lambda after swap_step (0: a step).
    distill_into_shared: Whether shared weights also receive the distillation
      gradient (through the student).
    block_distillation_gradient: Keep the distillation term away from the teacher
      (gradient blocking as in Rocket Launching). Off only to show what it prevents.
    hint_weight: Hint transfer (Rocket Launching's hint, iQiyi's dual DNN): the
      student's last hidden layer, through a learnt linear projection, regresses the
      teacher's (gradient-blocked), weighted like the distillation term (lambda) times
      this; 0 turns it off. MLP/DCN heads only.
    smoothing_base_rate: Mode smooth: the rate the student's targets are mixed with,
      target = (1 - lambda) * y + lambda * smoothing_base_rate; None: models.train
      sets the train split's positive rate of the task from the run report (a
      constant, where a batch's label mean would be noisy at a few positives per
      batch and would carry each example's own label into its target).
    learning_rate: Adam's learning rate.
    share_student_encoding: The teacher (MLP or DCN) reads the student's encoding of
      the regular features (their embeddings and the attention-pooled behaviour) and
      encodes only the privileged ones itself. Sharing embeddings is the paper's;
      this also shares what is computed from them, so a step costs little more than
      the student's. The student's encoder then learns from both losses, as shared
      embeddings do. Needs MLP/DCN heads and a teacher that sees regular features.
    teacher_dropped_features: Privileged features of the task the teacher does not
      read (HA-PFD's selection: a privileged feature that nearly determines the label
      makes a confident teacher whose soft labels the student cannot follow).
    distillation_head: The student distils through its own auxiliary logit on its
      last hidden layer (Khani et al., RecSys 2024), not through the served logit,
      which learns from the hard labels alone; the auxiliary logit is never exported.
      MLP/DCN students.
  """
  task: str  # Not a knob: each job names it (a required flag, or its own loop).
  mode: Mode = knob(Mode.PFD, "What to train.")
  embedding_dim: int = knob(16, "Embedding width.")
  student_architecture: Architecture = knob(Architecture.MLP, "What the student is.")
  teacher_architecture: Architecture = knob(Architecture.MLP, "What the teacher is.")
  student_hidden: tuple[int, ...] = knob((128, 64), "Student MLP widths.")
  teacher_hidden: tuple[int, ...] = knob((128, 64), "Teacher MLP widths.")
  cross_layers: int = knob(2, "Cross layers of a dcn head.")
  tower_dim: int = knob(64, "Two-tower heads: width of the unit vectors.")
  inner_product_scale: float | None = knob(
      None, "Two-tower heads: logit = scale * <u, v>; default: learnt, from 5.")
  item_bias: bool = knob(True, "Two-tower heads: a per-item bias folded into the item "
                         "vector.")
  unshared_vocabularies: frozenset[str] = knob(
      frozenset(), "Vocabularies the heads do not share.")
  hash_bins: tuple[tuple[str, int], ...] = knob(
      (), "vocabulary:bins pairs to hash instead of look up, e.g. user_id:1000000.",
      parse=parse_hash_bins, flag_default=None)
  distillation_loss: str = knob(
      "cross_entropy",
      f"models.losses registry name: {', '.join(sorted(losses.DISTILLATION_LOSSES))}.")
  temperature: float = knob(1.0, "Soft-label temperature.")
  ranking_top_k: int = knob(losses.DEFAULT_TOP_K, "top_k and ranking_distillation "
                            "losses: the teacher's top K of a request.")
  lambda_value: float | str = knob(
      0.5, f"Distillation weight after the swap step; {LAMBDA_AUTO}: chosen on "
      "validation from --lambda_grid.", parse=parse_lambda, flag_default="0.5")
  swap_step: int = knob(0, "Lambda is 0 before this step.")
  ramp_steps: int = knob(0, "Linear lambda ramp after the swap step.")
  distill_into_shared: bool = knob(True, "Shared weights also receive the "
                                   "distillation gradient (through the student).")
  block_distillation_gradient: bool = knob(
      True, "Keep the distillation term away from the teacher (off only to show what "
      "it prevents).")
  hint_weight: float = knob(0.0, "Hint transfer: the weight of the projected student "
                            "hidden layer's squared error to the teacher's (MLP/DCN "
                            "heads; 0: off).")
  smoothing_base_rate: float | None = knob(
      None, "Mode smooth: target = (1 - lambda) y + lambda * this; default: the train "
      "split's positive rate (the run report's).")
  learning_rate: float = knob(1e-3, "Adam learning rate.")
  mmoe_experts: int = knob(4, "ESMM heads: MMoE experts shared by the CTR and CVR "
                           "towers.")
  expert_hidden: tuple[int, ...] = knob((64,), "ESMM heads: each expert's MLP widths.")
  share_student_encoding: bool = knob(
      False, "The teacher reads the student's encoding of the regular features and "
      "encodes only the privileged ones (a cheaper step).")
  teacher_dropped_features: frozenset[str] = knob(
      frozenset(), "Privileged features the teacher does not read (HA-PFD).")
  distillation_head: bool = knob(
      False, "The student distils through an auxiliary logit, not the served one "
      "(MLP/DCN students).")

  def __post_init__(self):
    if not isinstance(self.task, str) or not self.task:
      raise ValueError(f"task must name a task of the dataset's spec, got "
                       f"{self.task!r}.")
    object.__setattr__(self, "mode", Mode(self.mode))
    object.__setattr__(self, "student_architecture",
                       Architecture(self.student_architecture))
    object.__setattr__(self, "teacher_architecture",
                       Architecture(self.teacher_architecture))
    object.__setattr__(self, "unshared_vocabularies",
                       frozenset(self.unshared_vocabularies))
    object.__setattr__(self, "teacher_dropped_features",
                       frozenset(self.teacher_dropped_features))
    hash_bins = dict(self.hash_bins)
    object.__setattr__(self, "hash_bins", tuple(sorted(hash_bins.items())))
    for name, bins in hash_bins.items():
      if bins < 1:
        raise ValueError(f"hash_bins[{name!r}] must be >= 1, got {bins}.")
    if self.embedding_dim < 1:
      raise ValueError(f"embedding_dim must be >= 1, got {self.embedding_dim}.")
    if self.temperature <= 0:
      raise ValueError(f"temperature must be > 0, got {self.temperature}.")
    if self.ranking_top_k < 1:
      raise ValueError(f"ranking_top_k must be >= 1, got {self.ranking_top_k}.")
    if self.lambda_value == LAMBDA_AUTO:
      if not self.mode.weighs_lambda:
        raise ValueError(f"lambda_value={LAMBDA_AUTO} chooses a distillation weight, "
                         f"but mode {self.mode.value!r} does not distil.")
    elif isinstance(self.lambda_value, str) or self.lambda_value < 0:
      raise ValueError(f"lambda_value must be a number >= 0 or {LAMBDA_AUTO!r}, got "
                       f"{self.lambda_value!r}.")
    else:
      object.__setattr__(self, "lambda_value", float(self.lambda_value))
    # Checked here, not when the model is built: a typo fails before any data loads.
    losses.get_distillation_loss(self.distillation_loss)
    # Building the heads' configs checks every architecture's settings.
    student, teacher = self.student, self.teacher
    mlp_heads = student.is_mlp_head and teacher.is_mlp_head
    if self.hint_weight < 0 or self.hint_weight and (
        not mlp_heads or not (self.mode.has_student and self.mode.has_teacher)):
      raise ValueError(
          f"hint_weight={self.hint_weight} needs to be >= 0 and, when on, a student and "
          f"a teacher with MLP or DCN heads (mode {self.mode.value!r}, heads "
          f"{self.student_architecture.value!r}, {self.teacher_architecture.value!r}).")
    if self.distillation_head and not (self.mode.distills and student.is_mlp_head):
      raise ValueError(
          f"distillation_head needs a mode that distils (got {self.mode.value!r}) and "
          f"an MLP or DCN student (got {self.student_architecture.value!r}).")
    if self.teacher_dropped_features and not self.mode.has_teacher:
      raise ValueError(f"teacher_dropped_features needs a teacher; mode "
                       f"{self.mode.value!r} has none.")
    if self.share_student_encoding and (
        not self.mode.has_student
        or self.mode.spec.teacher_reads not in (TeacherReads.ALL, TeacherReads.PERMUTED)
        or not mlp_heads):
      raise ValueError(
          "share_student_encoding needs a student and a teacher that sees regular "
          "features (mode pfd, pfd_permuted or two_stage, got "
          f"{self.mode.value!r}) and MLP or DCN "
          f"heads (got {self.student_architecture.value!r}, "
          f"{self.teacher_architecture.value!r}).")
    if self.smoothing_base_rate is not None and (
        not self.mode.smooths_labels or not 0.0 < self.smoothing_base_rate < 1.0):
      raise ValueError(
          f"smoothing_base_rate={self.smoothing_base_rate} needs mode "
          f"{Mode.SMOOTH.value!r} (got {self.mode.value!r}) and a rate in (0, 1); leave "
          "it unset for the train split's positive rate.")

  def _settings(self) -> dict[Architecture, HeadSettings]:
    """Each architecture's settings, from its knobs (raises on an invalid one)."""
    return {
        Architecture.MLP: None,
        Architecture.DCN: towers.DcnSettings(self.cross_layers),
        Architecture.TWO_TOWER: two_tower.TwoTowerSettings(
            self.tower_dim, self.inner_product_scale, self.item_bias),
        Architecture.ESMM: esmm.EsmmSettings(self.mmoe_experts, self.expert_hidden),
    }

  def head(self, role: HeadRole) -> HeadConfig:
    """The head of `role`: its architecture, widths and that architecture's
    settings."""
    if role is HeadRole.STUDENT:
      architecture, hidden = self.student_architecture, self.student_hidden
    else:
      architecture, hidden = self.teacher_architecture, self.teacher_hidden
    return HeadConfig(architecture, hidden, self._settings()[architecture])

  @property
  def student(self) -> HeadConfig:
    return self.head(HeadRole.STUDENT)

  @property
  def teacher(self) -> HeadConfig:
    return self.head(HeadRole.TEACHER)

  @classmethod
  def for_task(cls, spec: spec_lib.FeatureSpec, task: str, **overrides
               ) -> ModelConfig:
    """The spec's `model_defaults` for `task` (what it deploys), then `overrides`.

    Raises:
      ValueError: `task` is not a task of `spec`, or its model_defaults name a key
        that is no ModelConfig field (the message names the task and the key).
    """
    defaults = dict(spec.task(task).model_defaults)
    known = {field.name for field in dataclasses.fields(cls)} - {"task"}
    unknown = sorted(set(defaults) - known)
    if unknown:
      raise ValueError(f"Task {task!r}: model_defaults {unknown} are not ModelConfig "
                       f"fields; known: {sorted(known)}.")
    return cls(task=task, **{**defaults, **overrides})

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
                  student_architecture=self.student_architecture.value,
                  teacher_architecture=self.teacher_architecture.value,
                  unshared_vocabularies=sorted(self.unshared_vocabularies),
                  teacher_dropped_features=sorted(self.teacher_dropped_features),
                  hash_bins=dict(self.hash_bins),
                  student_hidden=list(self.student_hidden),
                  teacher_hidden=list(self.teacher_hidden),
                  expert_hidden=list(self.expert_hidden))
    return values

