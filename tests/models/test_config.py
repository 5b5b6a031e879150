"""Tests for models/config.py: a task's model defaults come from the spec, and each
head's config is typed."""

import dataclasses

from absl import flags
import pytest

import config_flags
from features import spec as spec_lib
from models.config import (MODES, Architecture, HeadRole, Mode, ModelConfig, SecondTerm,
                           TeacherReads)
from models.heads import HeadConfig
from models.heads.esmm import EsmmSettings
from models.heads.towers import DcnSettings
from models.heads.two_tower import TwoTowerSettings

SPEC = spec_lib.DEFAULT_SPEC


def _with_model_defaults(**defaults) -> spec_lib.FeatureSpec:
  """The default spec with cvr deploying `defaults`."""
  tasks = [dataclasses.replace(t, model_defaults=tuple(defaults.items()))
           if t.name == "cvr" else t for t in SPEC.tasks.values()]
  return spec_lib.FeatureSpec(SPEC.features, tasks, SPEC.events.values(),
                              SPEC.identity, SPEC.slices)


def test_for_task_starts_from_the_specs_model_defaults_then_the_overrides():
  spec = _with_model_defaults(teacher_architecture="dcn", cross_layers=3,
                              teacher_hidden=(32, 16))
  config = ModelConfig.for_task(spec, "cvr", cross_layers=1)
  assert config.teacher == HeadConfig(Architecture.DCN, (32, 16), DcnSettings(1))
  assert config.task == "cvr"


def test_the_default_specs_ctr_deploys_a_two_tower_under_a_dcn():
  config = ModelConfig.for_task(SPEC, "ctr")
  assert (config.student.architecture, config.teacher.architecture) == (
      Architecture.TWO_TOWER, Architecture.DCN)
  assert config.unshared_vocabularies == frozenset({"user_id"})
  assert ModelConfig.for_task(SPEC, "cvr") == ModelConfig(task="cvr")


def test_the_default_specs_ctcvr_is_dmtl_and_its_esmm_knobs_round_trip():
  config = ModelConfig.for_task(SPEC, "ctcvr", mmoe_experts=2, expert_hidden=(8, 4))
  assert (config.student.architecture, config.teacher.architecture) == (
      Architecture.TWO_TOWER, Architecture.ESMM)
  assert config.teacher.settings == EsmmSettings(2, (8, 4))
  assert ModelConfig.from_dict(config.to_dict()) == config
  with pytest.raises(ValueError, match=r"mmoe_experts must be >= 1 .* got 0 and"):
    ModelConfig(task="ctcvr", mmoe_experts=0)


def test_an_unknown_model_default_names_the_task_and_the_key():
  spec = _with_model_defaults(cross_layers=3, teacher_depth=4)
  with pytest.raises(ValueError,
                     match=r"Task 'cvr': model_defaults \['teacher_depth'\] are not"):
    ModelConfig.for_task(spec, "cvr")


def test_the_task_is_the_specs_to_check_not_the_configs():
  assert ModelConfig(task="ltr").task == "ltr"  # Another dataset may have it.
  with pytest.raises(ValueError,
                     match=r"Unknown task 'ltr'.*\['ctcvr', 'ctr', 'cvr'\]"):
    ModelConfig.for_task(SPEC, "ltr")
  with pytest.raises(ValueError, match="task must name a task"):
    ModelConfig(task="")


def test_the_distillation_loss_is_a_registry_name_checked_at_construction():
  assert ModelConfig(task="cvr", distillation_loss="kl").distillation_loss == "kl"
  with pytest.raises(ValueError, match="'hinge'.*'confidence_ranking', 'cross_entropy', "
                     "'hardness_aware', 'js', 'kl', 'listwise', 'mse_logits'"):
    ModelConfig(task="cvr", distillation_loss="hinge")


def test_ranking_top_k_is_at_least_one():
  assert ModelConfig(task="ctr", ranking_top_k=5).ranking_top_k == 5
  with pytest.raises(ValueError, match="ranking_top_k must be >= 1, got 0"):
    ModelConfig(task="ctr", ranking_top_k=0)


def test_lambda_value_is_a_number_or_auto_from_its_flag():
  flag_values = flags.FlagValues()
  config_flags.define(ModelConfig, flag_values=flag_values)
  flag_values(["train", "--lambda_value=auto"])
  assert config_flags.explicit(ModelConfig, flag_values) == {"lambda_value": "auto"}
  flag_values(["train", "--lambda_value=0.25"])
  assert config_flags.from_flags(ModelConfig, flag_values, task="cvr").lambda_value == 0.25
  with pytest.raises(ValueError, match="'half' is neither a number nor 'auto'"):
    flag_values(["train", "--lambda_value=half"])
    config_flags.values(ModelConfig, flag_values)
  with pytest.raises(ValueError, match="mode 'student' does not distil"):
    ModelConfig(task="cvr", mode="student", lambda_value="auto")
  with pytest.raises(ValueError, match="a number >= 0 or 'auto'"):
    ModelConfig(task="cvr", lambda_value=-0.5)


def test_every_mode_is_declared_once_and_reads_as_declared():
  assert set(MODES) == set(Mode)
  for mode, spec in MODES.items():
    assert mode.roles() == tuple(r for r in HeadRole if r in spec.heads)
    # A teacher reads something exactly when there is one; distilling needs both.
    assert (spec.teacher_reads is not None) == mode.has_teacher
    assert mode.distills == (spec.second_term is SecondTerm.DISTILLATION)
    assert not mode.distills or spec.heads == frozenset(HeadRole)
  assert Mode.PFD_PERMUTED.permutes_privileged and not Mode.PFD.permutes_privileged
  assert Mode.SMOOTH.smooths_labels and not Mode.SMOOTH.has_teacher
  assert MODES[Mode.LUPI].teacher_reads is TeacherReads.PRIVILEGED


def test_each_head_reads_its_architecture_widths_and_that_architectures_settings():
  config = ModelConfig(task="ctr", student_architecture="two_tower", student_hidden=(8,),
                       teacher_architecture="dcn", teacher_hidden=(32, 16),
                       cross_layers=3, tower_dim=6, item_bias=False)
  assert config.student == HeadConfig(Architecture.TWO_TOWER, (8,),
                                      TwoTowerSettings(6, None, False))
  assert config.teacher == HeadConfig(Architecture.DCN, (32, 16), DcnSettings(3))
  assert [config.head(role) for role in HeadRole] == [config.student, config.teacher]
  assert ModelConfig(task="ctr").student == HeadConfig(Architecture.MLP, (128, 64))
  assert config.student.settings.vector_dim == 6


def test_every_architectures_settings_are_checked_whatever_the_heads_are():
  # MLP heads read none of them, but a bad knob is a bad flag: it fails at once.
  for knobs, message in [(dict(cross_layers=-1), "cross_layers must be >= 0"),
                         (dict(tower_dim=0), "tower_dim must be >= 1"),
                         (dict(inner_product_scale=0.0), "inner_product_scale must be"),
                         (dict(expert_hidden=()), "expert_hidden non-empty")]:
    with pytest.raises(ValueError, match=message):
      ModelConfig(task="cvr", **knobs)


def test_an_old_flat_metrics_json_model_config_loads_into_typed_heads():
  # What metrics.json records, JSON-decoded: flat per-head knobs, lists for tuples.
  recorded = {
      "task": "ctcvr", "mode": "pfd", "embedding_dim": 4,
      "student_architecture": "two_tower", "teacher_architecture": "esmm",
      "student_hidden": [8], "teacher_hidden": [16, 8], "cross_layers": 2,
      "tower_dim": 6, "inner_product_scale": None, "item_bias": True,
      "unshared_vocabularies": ["user_id"], "hash_bins": {},
      "distillation_loss": "cross_entropy", "temperature": 1.0, "ranking_top_k": 10,
      "lambda_value": 0.5, "swap_step": 0, "ramp_steps": 0,
      "distill_into_shared": True, "block_distillation_gradient": True,
      "hint_weight": 0.0, "smoothing_base_rate": None, "learning_rate": 0.001,
      "mmoe_experts": 2, "expert_hidden": [8], "share_student_encoding": False,
      "teacher_dropped_features": [], "distillation_head": False}
  config = ModelConfig.from_dict(recorded)
  assert config.student == HeadConfig(Architecture.TWO_TOWER, (8,),
                                      TwoTowerSettings(6, None, True))
  assert config.teacher == HeadConfig(Architecture.ESMM, (16, 8),
                                      EsmmSettings(2, (8,)))
  assert config.to_dict() == recorded
