"""What the daily study runs: its worlds (WORLDS), their tasks, and the arms (ARMS)."""

from __future__ import annotations

import dataclasses

from models.config import Mode


@dataclasses.dataclass(frozen=True)
class World:
  """A world whose logs come as one file per UTC day and log.

  Attributes:
    name: The figures' namespace (`quality.daily.<name>`).
    task: The task of its spec every arm trains (the one with the most positives).
    spec_file: Its feature spec file; None: the simulated world's default spec.
    legend: What the world is, for the report.
  """
  name: str
  task: str
  legend: str
  spec_file: str | None = None


CHURN, KUAIRAND = "churn", "kuairand"


WORLDS = {world.name: world for world in (
    World(CHURN, "ctr", legend="The simulator's `daily` preset (items and users "
          "arrive and retire day by day), CTR on every impression."),
    World(KUAIRAND, "ctr", spec_file="examples/kuairand/spec.yaml",
          legend="KuaiRand's exposure logs, a file per day, CTR on every exposure "
          "(click: the task with the most positives)."),
)}


@dataclasses.dataclass(frozen=True)
class Arm:
  """One way to make a model a day.

  Attributes:
    name: The figures' name of the arm.
    mode: What trains (PFD, or the student alone).
    warm: True: on the day alone, continuing the model of the day before
      (workflow.daily); False: from scratch on the window of the last days.
  """
  name: str
  mode: Mode
  warm: bool


PFD_WARM, PFD_WINDOW, STUDENT_WARM = "pfd_warm", "pfd_window", "student_warm"


ARMS = (Arm(PFD_WARM, Mode.PFD, warm=True), Arm(PFD_WINDOW, Mode.PFD, warm=False),
        Arm(STUDENT_WARM, Mode.STUDENT, warm=True))


# (arm, reference): the gains the figures test.
PAIRS = ((PFD_WARM, PFD_WINDOW), (PFD_WARM, STUDENT_WARM), (PFD_WINDOW, STUDENT_WARM))
