"""What `make evidence` trains per task, and which steps it reports (TASKS)."""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

from benchmarks import teacher_ceiling
from benchmarks.evidence import findings
from features import spec as spec_lib
from models import train
from models.config import Architecture, Mode, ModelConfig


@dataclasses.dataclass(frozen=True)
class Sweep:
  """One knob of one variant over a few values (the paper's RQ3, the swap step).

  Each value is a run per seed, named `<sweep>-<value>`; its figure is the paired
  student AUC gain over the task's baseline, `quality.<task>.<sweep>.<value>`.

  Attributes:
    base: The config swept.
    field: A ModelConfig field, or SWAP_FRACTION: the swap step as a fraction of the
      run's optimizer steps.
    values: The field's values, in plot order.
  """
  base: ModelConfig
  field: str
  values: tuple[float, ...]


SWAP_FRACTION = "swap_fraction"


RQ3_LAMBDAS = (0.1, 0.3, 0.5, 0.7, 0.9)


SIZE_SWEEP = (50_000, 200_000, 800_000)  # Train clicks.


SIZE_SWEEP_NAME = "size_sweep"


# What `make evidence` runs beside the RQ1 rows, in this order (EvidenceJob.parts).
PARTS = ("methods", "lr_grid", "world_sweeps", "sweeps")


# The lr_grid part's rates: ModelConfig's default learning rate, half and twice it.
LR_GRID = (5e-4, 1e-3, 2e-3)


LR_GRID_NAME = "lr_grid"


@dataclasses.dataclass(frozen=True)
class TaskEvidence:
  """What `make evidence` trains for one task, and which steps it reports.

  Attributes:
    variants: Row name -> model config, in table order.
    gains: Figure name -> (variant, reference): the variant's student AUC minus the
      reference's, paired by seed. Each step of a ladder is one (e.g. PFD over the
      baseline, PFD+MD over PFD).
    batch_size: One epoch at this size must be enough for the student to converge.
    shuffle_buffer: Train records shuffled together (TrainConfig).
    legend: What the rows are, for the markdown.
    notes: Figures -> what they show, for the markdown (every number read from
      the figures: EVIDENCE.md carries no number typed into prose).
    paper: Row -> the paper's reported student AUC, the figures
      `quality.<task>.paper.<row>_auc` (a reference, not a measurement).
    baseline: The variant whose gap to the Bayes ceiling a gain over it closes.
    sweeps: Name -> Sweep, run unless the job is --quick.
    methods: The literature's other distillations, each on the task it
      fits, run unless --quick: name -> config, the run `method.<name>` and the gain
      `method.<name>_gain` over the baseline.
    independent: The variant whose embeddings are not shared (RQ4) and the one it
      is compared to: `quality.<task>.shared_minus_independent` (student AUC) and
      `quality.<task>.shared_over_independent_seconds` (train time).
    oracle_teachers: Also train the "pfd" variant taught by the simulator's oracle
      (benchmarks/teacher_ceiling.py: rows oracle_full, oracle_regular): how much
      any teacher could give the student in this world.
    train_examples: Every run trains on at most this many of the task's train
      examples (a fixed hashed subset, TrainConfig.train_fraction), which bounds a
      run's time on a large world.
    validation_examples / eval_examples: Likewise for what validates each epoch
      and what each final model is evaluated on (TrainConfig.validation_fraction,
      eval_fraction: the same hashed subset for every run, so DeLong stays paired).
    sizes: The size sweep, unless --quick: at each number of train examples (a
      hashed subset), the "pfd" variant's student AUC minus the baseline's at the
      same size, `quality.<task>.size_sweep.<size>`. A size beyond the split is
      skipped and said.
    tuned: The lr_grid part, unless --quick: each of these variants trains once (the
      first seed) with the learning rate chosen from LR_GRID on validation
      (TrainConfig.learning_rate_grid), `quality.<task>.lr_grid.<variant>.chosen`
      beside each candidate's validation AUC: whether the rate every row trains at
      is the one validation would pick for each mode.
  """
  variants: Mapping[str, ModelConfig]
  gains: Mapping[str, tuple[str, str]]
  batch_size: int
  legend: str
  notes: Callable[[Mapping[str, float]], str] | None = None
  paper: Mapping[str, float] = dataclasses.field(default_factory=dict)
  shuffle_buffer: int = train.TrainConfig.shuffle_buffer
  baseline: str = "student"
  oracle_teachers: bool = False
  sweeps: Mapping[str, Sweep] = dataclasses.field(default_factory=dict)
  methods: Mapping[str, ModelConfig] = dataclasses.field(default_factory=dict)
  independent: tuple[str, str] | None = None
  train_examples: int | None = None
  validation_examples: int | None = None
  eval_examples: int | None = None
  sizes: tuple[int, ...] = ()
  tuned: tuple[str, ...] = ()

  @property
  def all_gains(self) -> dict[str, tuple[str, str]]:
    """`gains` and a gain over the baseline per method."""
    return {**self.gains, **{f"method.{name}_gain": (f"method.{name}", self.baseline)
                             for name in self.methods}}

  @property
  def row_names(self) -> list[str]:
    """Every row's name, in table order: the variants, then any oracle teachers."""
    oracles = list(teacher_ceiling.ORACLE_COLUMNS) if self.oracle_teachers else []
    return list(self.variants) + oracles


# Every vocabulary of the default spec: no table shared (RQ4's independent row).
ALL_VOCABULARIES = frozenset(spec_lib.DEFAULT_SPEC.vocabularies())


def _cvr(mode: Mode, **overrides) -> ModelConfig:
  return ModelConfig(task="cvr", mode=mode, **overrides)


def _ctr(mode: Mode, **overrides) -> ModelConfig:
  return ModelConfig.for_task(spec_lib.DEFAULT_SPEC, "ctr", mode=mode, **overrides)


def _ctcvr(mode: Mode, **overrides) -> ModelConfig:
  return ModelConfig.for_task(spec_lib.DEFAULT_SPEC, "ctcvr", mode=mode, **overrides)


TASKS: Mapping[str, TaskEvidence] = {
    # 256: ~1,000 steps per epoch of the evidence world's ~260k clicked train rows
    # (its last train day validates), for several epochs under early stopping: half
    # the steps of 128, each far less than twice as dear (a step's fixed cost rules).
    "cvr": TaskEvidence(
        variants={
            **{m.value: ModelConfig(task="cvr", mode=m)
               for m in (Mode.STUDENT, Mode.PFD, Mode.TEACHER, Mode.LUPI)},
            "pfd_shared_encoding": ModelConfig(task="cvr", mode=Mode.PFD,
                                               share_student_encoding=True),
            "pfd_independent": ModelConfig(task="cvr", mode=Mode.PFD,
                                           unshared_vocabularies=ALL_VOCABULARIES),
        },
        sweeps={"lambda_sweep": Sweep(_cvr(Mode.PFD), "lambda_value", RQ3_LAMBDAS),
                "lupi_lambda_sweep": Sweep(_cvr(Mode.LUPI), "lambda_value",
                                           RQ3_LAMBDAS),
                "swap_sweep": Sweep(_cvr(Mode.PFD), SWAP_FRACTION, (0.0, 0.1, 0.3))},
        independent=("pfd_independent", "pfd"),
        tuned=("student", "pfd", "teacher", "lupi"),
        methods={
            "kl": _cvr(Mode.PFD, distillation_loss="kl"),
            "js": _cvr(Mode.PFD, distillation_loss="js"),
            "hint": _cvr(Mode.PFD, hint_weight=1.0),
            "cr": _cvr(Mode.PFD, distillation_loss="confidence_ranking"),
            "rcr": _cvr(Mode.PFD, distillation_loss="rcr"),
            "md": _cvr(Mode.MD, teacher_hidden=(256, 128)),
            "pfd_md": _cvr(Mode.PFD, teacher_architecture=Architecture.DCN,
                           teacher_hidden=(256, 128)),
        },
        gains={"pfd_gain": ("pfd", "student"),
               "lupi_gain": ("lupi", "student"),
               "pfd_shared_encoding_gain": ("pfd_shared_encoding", "student"),
               "oracle_full_gain": ("oracle_full", "student"),
               "oracle_regular_gain": ("oracle_regular", "student")},
        batch_size=256, oracle_teachers=True, sizes=SIZE_SWEEP,
        # All the evidence world's ~350k clicked train rows (written user by user).
        shuffle_buffer=400_000,
        legend="MLP heads. lupi: the teacher sees post-event features only. "
        "pfd_shared_encoding: PFD whose teacher reads the student's encoding of the "
        "regular features (ModelConfig.share_student_encoding, the cheaper step). "
        "oracle_full / oracle_regular: PFD whose teacher is the simulator's "
        "P(purchase | x, x*) / P(purchase | x) (benchmarks/teacher_ceiling.py); their "
        "teacher rows are the oracle itself.",
        notes=findings.cvr_findings),
    # At most 100k train impressions (a 36th of what trains in the evidence world),
    # 50k validating each epoch and 100k evaluated: PFD's CTR gain is many times
    # DeLong's noise at this size, and the job's many CTR runs fit its time.
    "ctr": TaskEvidence(
        train_examples=100_000, validation_examples=50_000, eval_examples=100_000,
        variants={
            "student": _ctr(Mode.STUDENT),
            "pfd": _ctr(Mode.PFD, teacher_architecture=Architecture.TWO_TOWER),
            "pfd_md": _ctr(Mode.PFD),
        },
        sweeps={"lambda_sweep": Sweep(_ctr(Mode.PFD), "lambda_value", RQ3_LAMBDAS),
                "lupi_lambda_sweep": Sweep(_ctr(Mode.LUPI), "lambda_value",
                                           RQ3_LAMBDAS)},
        methods={loss: _ctr(Mode.PFD, distillation_loss=loss)
                 for loss in ("top_k", "bpr", "listwise", "ranking_distillation")},
        gains={"pfd_gain": ("pfd", "student"), "pfdmd_gain": ("pfd_md", "student"),
               "pfdmd_over_pfd_gain": ("pfd_md", "pfd")},
        tuned=("student", "pfd", "pfd_md"),
        batch_size=512,
        # A full shuffle: the split is written user by user and ends with ~100k
        # impressions of users who never click, which a 10k buffer leaves together
        # at the end of the epoch (the two-tower then collapses to "no click").
        shuffle_buffer=1_500_000,
        legend="The student is a two-tower (user tower . item tower). pfd: its "
        "teacher is a two-tower too, with the cross features and position on the "
        "user side; pfd_md: its teacher is a DCN over all features (PFD+MD).",
        notes=findings.ctr_findings,
        paper={"student": 0.6625, "pfd": 0.6712, "pfd_md": 0.6745}),
    # DMTL: the two-tower pre-ranker by CTCVR over all impressions, taught
    # by a multi-task ESMM/MMoE teacher, against one taught by a single-task DCN.
    "ctcvr": TaskEvidence(
        train_examples=300_000, validation_examples=100_000, eval_examples=300_000,
        variants={"student": _ctcvr(Mode.STUDENT),
                  "pfd_md": _ctcvr(Mode.PFD, teacher_architecture=Architecture.DCN)},
        methods={"dmtl": _ctcvr(Mode.PFD)},
        gains={"pfdmd_gain": ("pfd_md", "student"),
               "dmtl_over_pfdmd_gain": ("method.dmtl", "pfd_md")},
        batch_size=512, shuffle_buffer=1_500_000,  # As CTR's, over the same records.
        legend="The student is a two-tower scoring click-and-purchase over all "
        "impressions. pfd_md: its teacher is a DCN over all features but the "
        "post-click ones; dmtl (methods): an ESMM teacher (pCTCVR = pCTR x pCVR over "
        "MMoE experts) learning from the click too."),
}
