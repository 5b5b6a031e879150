"""The attribution job: trains each study's arms (finished runs are read) and merges
its figures into benchmarks/evidence.json."""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import tensorflow as tf

import config_flags
from config_flags import knob
from benchmarks import datasets
from benchmarks import results
from benchmarks.attribution import figures
from benchmarks.attribution import studies
from features import dataset as dataset_lib
from features import input as input_lib
from features import layout
from models import compare
from models import train
from models.training import evaluation


@dataclasses.dataclass(frozen=True)
class AttributionJob:
  """Which studies, on which datasets, and where the runs and figures go."""
  studies: tuple[str, ...] = knob(tuple(studies.STUDIES), "Studies to run, <world>.<task>.")
  seeds: tuple[int, ...] = knob((0, 1, 2), "Seeds.")
  kuairand_dir: str = knob("workspace/kuairand/examples", "KuaiRand's dataset "
                           "(make kuairand's); absent: its studies are skipped.")
  evidence_dir: str = knob("workspace/evidence_world/examples", "The evidence world's "
                           "dataset (generated with --evidence_raw_dir if absent).")
  evidence_raw_dir: str = knob("workspace/evidence_world/raw", "Its raw logs.")
  work_dir: str = knob("workspace/attribution", "Runs, under <world>/<task>/; a "
                       "finished run there is read, not trained again.")
  epochs: int = knob(3, "Passes over the train days at most (the tuned protocol "
                     "checks several times a pass).")
  batch_size: int = knob(512, "Batch size of every arm.")
  output_dir: str = knob("benchmarks", "Where evidence.json and EVIDENCE.md are.")

  def __post_init__(self):
    config_flags.check_choices("studies", self.studies, studies.STUDIES, "attribution studies")


def dataset_of(job: AttributionJob, world: str) -> dataset_lib.PublishedDataset | None:
  """The world's published dataset; None (said) where KuaiRand's is absent."""
  if world == "kuairand":
    if not tf.io.gfile.exists(os.path.join(job.kuairand_dir, layout.SUCCESS_FILE)):
      print(f"attribution: no KuaiRand dataset at {job.kuairand_dir!r} (make kuairand "
            "joins ../shared/data/kuairand there): its studies are skipped.")
      return None
    return dataset_lib.PublishedDataset.open(job.kuairand_dir)
  if not tf.io.gfile.exists(os.path.join(job.evidence_dir, layout.SUCCESS_FILE)):
    datasets.simulate_and_join(job.evidence_raw_dir, job.evidence_dir, oracle=True,
                               quiet=False, preset="evidence")
  return dataset_lib.PublishedDataset.open(job.evidence_dir)


def run_study(job: AttributionJob, study: studies.Study,
              dataset: dataset_lib.PublishedDataset) -> dict[str, float]:
  """Trains the study's arms for every seed (finished runs are read) and returns
  its figures."""
  aucs = figures.privileged_aucs(dataset, study.task)
  dropped = frozenset([max(aucs, key=aucs.get)]) if aucs else frozenset()
  configs = study.configs(dataset.spec, dropped)

  def fraction(cap, split, time_range=None):
    count = input_lib.example_count(dataset, split, study.task, time_range)
    return min(1.0, (cap or count) / count)

  # The tuned protocol validates on the train split's last day (compare.tune).
  train_range, validation_range = train.validation_split(dataset, study.task, 1)
  train_config = compare.tune(train.TrainConfig(
      epochs=job.epochs, batch_size=job.batch_size, shuffle_buffer=study.shuffle_buffer,
      eval_fraction=fraction(study.eval_examples, "eval"),
      train_fraction=fraction(study.train_examples, "train", train_range),
      validation_fraction=fraction(study.validation_examples, "train",
                                   validation_range),
      # A capped subset is small: held in memory for every later epoch and run.
      cache_subsets=study.train_examples is not None), dataset, study.task)
  work_dir = os.path.join(job.work_dir, study.world, study.task)
  rows = compare.run_variants(dataset, work_dir, configs, job.seeds, train_config)
  scores = {arm: [evaluation.read_scores(os.path.join(work_dir, f"{arm}-seed{seed}"))
                  for seed in job.seeds] for arm in configs}
  return figures.figures(study, rows, scores, aucs)


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(AttributionJob)
  path = os.path.join(job.output_dir, "evidence.json")
  for name in job.studies:
    study = studies.STUDIES[name]
    dataset = dataset_of(job, study.world)
    if dataset is not None:
      results.update_results(path, run_study(job, study, dataset),
                             replace_prefix=f"quality.{study.name}.")
  # EVIDENCE.md holds every section; benchmarks.evidence renders it (and this one).
  from benchmarks.evidence import report  # pylint: disable=g-import-not-at-top
  report.render(job.output_dir)
