"""What each attribution study trains: its world, task, arms and remedies (STUDIES)."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from features import spec as spec_lib
from models import compare
from models import train
from models.config import Architecture, Mode, ModelConfig


CONTROLS = tuple(mode.value for mode in compare.CONTROL_MODES)


STUDENT = Mode.STUDENT.value


HAPFD = "hapfd"


@dataclasses.dataclass(frozen=True)
class Study:
  """One world and task: which arms train and which PFD the controls mirror.

  Attributes:
    world: The figures' namespace (`quality.<world>.<task>`), and which dataset.
    task: A task of the world's spec.
    arms: Arm name -> ModelConfig overrides of the task's spec defaults. The
      controls (CONTROLS) and the student are added, with `pfd`'s teacher.
    pfd: The arm the controls mirror (same teacher, same everything but what they
      take away): its gain is split into the controls' and the privileged share.
    remedies: Arms scored as remedies (HAPFD: hardness-aware distillation without
      the most predictive privileged feature, chosen on the train split).
    train_examples / validation_examples / eval_examples: Caps on the examples
      that train, validate at each check and evaluate, as benchmarks.evidence's (a
      hashed subset, the same for every arm).
    shuffle_buffer: Train records shuffled together; the simulated worlds' splits
      are written user by user and need theirs whole (benchmarks.evidence's TASKS).
    legend: What the arms are, for the report.
  """
  world: str
  task: str
  arms: Mapping[str, Mapping[str, Any]]
  legend: str
  pfd: str = "pfd"
  remedies: tuple[str, ...] = ()
  train_examples: int | None = None
  validation_examples: int | None = None
  eval_examples: int | None = None
  shuffle_buffer: int = train.TrainConfig.shuffle_buffer

  @property
  def name(self) -> str:
    return f"{self.world}.{self.task}"

  def configs(self, spec: spec_lib.FeatureSpec, dropped: frozenset[str] = frozenset()
              ) -> dict[str, ModelConfig]:
    """Every arm's config: the student, the arms, the controls on `pfd`'s teacher, and
    HAPFD's teacher without `dropped` (empty: no HAPFD arm)."""
    pfd = self.arms[self.pfd]
    configs = {STUDENT: {"mode": Mode.STUDENT}, **self.arms,
               **{control: {**pfd, "mode": Mode(control)} for control in CONTROLS}}
    if dropped and HAPFD in self.remedies:
      configs[HAPFD] = {**pfd, "distillation_loss": "hardness_aware",
                        "teacher_dropped_features": dropped}
    for mode_only in (STUDENT, Mode.SMOOTH.value):
      configs[mode_only] = {"mode": configs[mode_only]["mode"]}
    return {name: ModelConfig.for_task(spec, self.task, **overrides)
            for name, overrides in configs.items()}


_PFD = {"mode": Mode.PFD}


STUDIES: Mapping[str, Study] = {study.name: study for study in (
    Study("kuairand", "like",
          arms={"pfd": _PFD, "lupi": {"mode": Mode.LUPI},
                "pfd_aux": {**_PFD, "distillation_head": True}},
          remedies=(HAPFD, "pfd_aux"),
          legend="Like given click; MLP heads. pfd's teacher sees the post-click "
          "signals; lupi's sees them alone; pfd_aux distils through an auxiliary "
          "logit of the student (Khani et al., RecSys 2024); hapfd weighs each "
          "example's distillation by the teacher's fit of its label and drops the "
          "most predictive privileged feature (HA-PFD, KDD 2025)."),
    Study("kuairand", "ctr",
          arms={"pfd": {**_PFD, "teacher_architecture": Architecture.TWO_TOWER},
                "pfd_md": _PFD},
          pfd="pfd_md", remedies=(HAPFD,),
          legend="CTR on every exposure; the student is a two-tower. pfd's teacher is "
          "a two-tower too, with the user x author and user x tag crosses on its user "
          "side; pfd_md's a DCN over every feature (PFD+MD), which the controls "
          "mirror; hapfd as for like (an auxiliary logit needs an MLP student)."),
    Study("evidence", "cvr", arms={"pfd": _PFD}, shuffle_buffer=400_000,
          legend="The simulated evidence world's CVR, MLP heads."),
    Study("evidence", "ctr", arms={"pfd_md": _PFD}, pfd="pfd_md",
          train_examples=100_000, validation_examples=50_000, eval_examples=100_000,
          shuffle_buffer=1_500_000,
          legend="The simulated evidence world's CTR: a two-tower student, a DCN "
          "teacher (PFD+MD)."),
)}
