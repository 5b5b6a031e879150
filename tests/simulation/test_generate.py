"""The generate job's world: the preset, its named overrides, then --set."""

import pytest

from simulation import generate


def test_set_overrides_any_world_field_typed_by_the_field():
  job = generate.GenerateJob("out", preset="tiny", seed=4,
                             set=("post_event_affinity=2", "n_days=3"))
  world = job.world_config()
  assert (world.post_event_affinity, world.n_days, world.seed) == (2.0, 3, 4)


@pytest.mark.parametrize("setting, message", [
    ("no_such_knob=1", "no_such_knob"), ("n_days", "name=value"), ("n_days=x", "int")])
def test_a_bad_setting_is_named(setting, message):
  with pytest.raises(ValueError, match=message):
    generate.parse_settings([setting])


def test_the_daily_preset_is_a_choice():
  world = generate.GenerateJob("out", preset="daily").world_config()
  assert world.n_days >= 10 and world.item_arrival_share > 0
