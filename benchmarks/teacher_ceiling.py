"""How much can distillation give on this world at all? Students taught by the oracle.

The evidence's PFD student does not beat the baseline. Either the learnt teacher is
not good enough, or this world (with this student and this much data) rewards soft
labels little. The simulator knows the truth, so two diagnostic teachers settle it;
they replace the learnt teacher's logits inside the same train_step (same lambda,
gradient routing and everything else):

* `oracle_full`: P(purchase | x, x*), the Bayes-optimal privileged teacher: PFD with
  a perfect teacher, the most PFD could give here.
* `oracle_regular`: P(purchase | x), the Bayes-optimal prediction from regular
  features: the best target any teacher could hand the student (no real teacher has
  it; it bounds distillation of any kind).

And one statistic, `soft_label_noise_kept`: of the hard labels' noise around P(y | x),
E[(y - P(y|x))^2], the fraction a perfect privileged teacher's soft labels keep,
E[(P(y|x,x*) - P(y|x))^2]. Small means soft labels are far cleaner targets.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf

from features import dataset as dataset_lib
from features import spec as spec_lib
from models import compare
from models import distillation
from models import train
from models.config import Mode, ModelConfig

ORACLE_COLUMNS = {"oracle_full": "p_purchase_full",
                  "oracle_regular": "p_purchase_regular"}
_EPSILON = 1e-6


def oracle_logits(oracle: Mapping[str, np.ndarray], column: str
                  ) -> tf.lookup.StaticHashTable:
  """impression_id -> logit of the oracle's probability (0 for ids it lacks)."""
  p = np.asarray(oracle[column], np.float64)
  known = np.isfinite(p)
  p = np.clip(p[known], _EPSILON, 1.0 - _EPSILON)
  ids = np.asarray(oracle["impression_id"]).astype(bytes)[known]
  return tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
          tf.constant(ids), tf.constant(np.log(p / (1.0 - p)), tf.float32)),
      default_value=0.0)


class OracleTeacherModel(distillation.DistillationModel):
  """PFD whose soft labels come from the simulator's oracle, by impression id.

  An oracle is a probability, not a network: it has no hidden layer for hint
  transfer to match, so a config with `hint_weight` > 0 is refused rather than
  trained against the learnt teacher's hidden layer.
  """

  def __init__(self, spec: spec_lib.FeatureSpec, data_dir: str, config: ModelConfig,
               table: tf.lookup.StaticHashTable, **kwargs):
    if config.hint_weight:
      raise ValueError(_no_hint(config))
    super().__init__(spec, data_dir, config, **kwargs)
    self._oracle = table

  def teacher_logits(self, features, training=False, lookups=None, with_hidden=False):
    del training, lookups
    if with_hidden:
      raise ValueError(_no_hint(self.model_config))
    return self._oracle.lookup(features["impression_id"])


def _no_hint(config: ModelConfig) -> str:
  return (f"hint_weight={config.hint_weight}: the oracle teacher of "
          "benchmarks/teacher_ceiling.py has no hidden layer to hint from; set "
          "hint_weight=0 (--hint_weight=0) for its runs.")


def soft_label_noise_kept(oracle: Mapping[str, np.ndarray]) -> float:
  """E[(p_full - p_regular)^2] / E[(y - p_regular)^2] over clicked impressions.

  With y ~ Bernoulli(p_full), E[(y - p_regular)^2] = E[p_full (1 - p_full)] +
  E[(p_full - p_regular)^2]; the expectations are taken exactly, not sampled.
  """
  full = np.asarray(oracle["p_purchase_full"], np.float64)
  regular = np.asarray(oracle["p_purchase_regular"], np.float64)
  known = np.isfinite(full) & np.isfinite(regular)
  full, regular = full[known], regular[known]
  kept = np.mean((full - regular) ** 2)
  return float(kept / (np.mean(full * (1.0 - full)) + kept))


def run(dataset: str | dataset_lib.PublishedDataset, work_dir: str,
        oracle: Mapping[str, np.ndarray], seeds: Sequence[int],
        model_config: ModelConfig, train_config: train.TrainConfig,
        share: compare.Share | None = None, train_missing: bool = True
        ) -> list[dict[str, Any]]:
  """Rows (as models.compare's) of PFD runs taught by each oracle column (`share`,
  `train_missing`: as compare.run_variants)."""
  dataset = dataset_lib.published(dataset)
  rows = []
  for name, column in ORACLE_COLUMNS.items():
    rows += compare.run_variants(
        dataset, work_dir, {name: dataclasses.replace(model_config, mode=Mode.PFD)},
        seeds, train_config, build_model=_builder(oracle, column), share=share,
        train_missing=train_missing)
  return rows


def _builder(oracle: Mapping[str, np.ndarray], column: str) -> train.ModelBuilder:
  """OracleTeacherModel's builder, its table made at the first run that trains: a
  table of millions of ids is never freed, and a job that reads finished runs
  needs none."""

  @functools.cache
  def table() -> tf.lookup.StaticHashTable:
    return oracle_logits(oracle, column)

  return lambda spec, data_dir, config: OracleTeacherModel(spec, data_dir, config,
                                                           table())
