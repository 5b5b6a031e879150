"""The head registry: every architecture has a builder, and each builds its head."""

import pytest

from models import embeddings
from models import heads
from models.heads import esmm
from models.heads import towers
from models.heads import two_tower
from models.config import Architecture, HeadRole, ModelConfig
from synthetic import SPEC


def test_every_architecture_has_a_builder_and_a_duplicate_is_refused():
  assert set(heads.HEADS) == set(Architecture)
  with pytest.raises(ValueError, match="'mlp' is already registered"):
    heads.register_head(Architecture.MLP)(heads.mlp_head)


@pytest.mark.parametrize("architecture, kind, crosses", [
    (Architecture.MLP, towers.MlpHead, 0), (Architecture.DCN, towers.MlpHead, 3),
    (Architecture.TWO_TOWER, two_tower.TwoTowerHead, None)])
def test_each_builder_builds_its_head_from_the_config(data_dir, architecture, kind,
                                                      crosses):
  config = ModelConfig(task="cvr", teacher_architecture=architecture, cross_layers=3,
                       teacher_hidden=(8,))
  features = SPEC.regular("cvr")
  tables = embeddings.build_tables(
      data_dir, {f.vocabulary for f in features if f.vocabulary}, 4, "teacher", {})
  head = heads.build_head(heads.HeadInputs(HeadRole.TEACHER, config.teacher, "cvr",
                                           features, tables, SPEC))
  assert isinstance(head, kind) and isinstance(head, heads.Head)
  assert head.name == "teacher"
  if crosses is not None:
    assert len(head.tower._crosses) == crosses  # pylint: disable=protected-access


def test_a_head_config_refuses_settings_of_another_architecture():
  with pytest.raises(TypeError, match="dcn heads take settings of type DcnSettings"):
    heads.HeadConfig(Architecture.DCN, (8,), esmm.EsmmSettings(2, (8,)))
  with pytest.raises(TypeError, match="mlp heads take settings of type None"):
    heads.HeadConfig(Architecture.MLP, (8,), towers.DcnSettings(1))
