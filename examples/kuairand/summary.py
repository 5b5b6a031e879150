r"""Prints what `make kuairand` trained and published: one line per task.

  python -m examples.kuairand.summary --work_dir=workspace/kuairand

Per task: the eval split's examples and positives, the shipped student's and its
teacher's eval AUC (metrics.json of `<work_dir>/models/<task>`), the epoch early
stopping kept, and the latest version under `<work_dir>/serving/<task>`. Figures only:
a gain needs seeds and a paired test (make evidence), not one run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import NamedTuple, Sequence

import cli
import config_flags
from config_flags import knob


@dataclasses.dataclass(frozen=True)
class SummaryJob:
  """Where the documented commands wrote, and which tasks to report."""
  work_dir: str = knob(help="The --output_dir root of the documented commands "
                       "(models/ and serving/ under it).")
  tasks: tuple[str, ...] = knob(("ctr", "like"), "The tasks to report.")


class TaskFigures(NamedTuple):
  """One task's run, as its metrics.json and its serving directory hold it."""
  task: str
  eval_examples: int
  eval_positives: int
  student_auc: float
  teacher_auc: float | None  # None: a run without a teacher (mode student).
  kept_epoch: int | None  # None: no validation.
  version: str | None  # The latest published version's directory; None: none.


def task_figures(work_dir: str, task: str) -> TaskFigures:
  """Reads `task`'s run and export under `work_dir`.

  Raises:
    OSError: the task's run has no metrics.json (it did not finish).
  """
  with open(os.path.join(work_dir, "models", task, "metrics.json")) as f:
    metrics = json.load(f)
  figures = metrics["eval"]
  base = os.path.join(work_dir, "serving", task)
  names = os.listdir(base) if os.path.isdir(base) else []
  versions = sorted(int(name) for name in names if name.isdigit())
  return TaskFigures(
      task=task, eval_examples=figures["eval_examples"],
      eval_positives=figures["eval_positives"], student_auc=figures["student_auc"],
      teacher_auc=figures.get("teacher_auc"),
      kept_epoch=(metrics.get("validation") or {}).get("kept_epoch"),
      version=os.path.join(base, str(versions[-1])) if versions else None)


def render(rows: Sequence[TaskFigures]) -> str:
  """A few aligned lines, one per task."""
  lines = ["task   eval examples (positives)   student AUC   teacher AUC   kept epoch   "
           "published"]
  for row in rows:
    teacher = "-" if row.teacher_auc is None else f"{row.teacher_auc:.4f}"
    lines.append(f"{row.task:<6} {row.eval_examples:>13,} ({row.eval_positives:>7,})   "
                 f"{row.student_auc:>11.4f}   {teacher:>11}   "
                 f"{row.kept_epoch if row.kept_epoch is not None else '-':>10}   "
                 f"{row.version or 'none'}")
  return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
  del argv  # Unused.
  job = config_flags.from_flags(SummaryJob)
  print(render([task_figures(job.work_dir, task) for task in job.tasks]))


if __name__ == "__main__":
  config_flags.define(SummaryJob, required=["work_dir"])
  cli.run(main)
