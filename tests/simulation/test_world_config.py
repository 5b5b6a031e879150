"""WorldConfig validation and presets."""

import dataclasses

import pytest

from simulation import config as config_lib


def test_presets_are_valid_and_sized_as_documented():
  assert 2_000 <= config_lib.preset("tiny").num_impressions <= 5_000
  assert config_lib.preset("demo").num_impressions == 1_500_000
  assert config_lib.preset("demo").n_days == 7


def test_the_evidence_world_keeps_the_demos_behaviour_model():
  # Only sizes, days and the activity cap (with its buffer) differ: no knob of the
  # behaviour model was tuned for it.
  demo, evidence = config_lib.preset("demo"), config_lib.preset("evidence")
  scale = {"n_users", "n_items", "n_categories", "n_shops", "n_brands", "n_days",
           "num_impressions", "max_requests_per_user_day", "click_buffer_size"}
  differing = {f.name for f in dataclasses.fields(demo)
               if getattr(demo, f.name) != getattr(evidence, f.name)}
  assert differing == scale


def test_the_sweep_world_is_the_evidence_world_at_a_quarter_of_its_size():
  evidence, sweep = config_lib.preset("evidence"), config_lib.preset("sweep")
  differing = {f.name for f in dataclasses.fields(sweep)
               if getattr(sweep, f.name) != getattr(evidence, f.name)}
  assert differing == {"n_users", "n_items", "n_shops", "n_brands", "num_impressions"}
  # Impressions per user and per item, hence clicks per user and per item, kept.
  for size in ("n_users", "n_items"):
    assert (evidence.num_impressions / getattr(evidence, size)
            == sweep.num_impressions / getattr(sweep, size))


def test_unknown_preset_names_the_choices():
  with pytest.raises(ValueError, match="'huge'.*demo"):
    config_lib.preset("huge")


@pytest.mark.parametrize("name, value", [
    ("label_noise", 0.5), ("step_minutes", 7), ("n_users", 0), ("cross_effect", -1.0),
    ("impressions_per_request", 200), ("start_ts_ms", 0), ("n_categories", 10**6)])
def test_bad_knobs_raise_with_name_and_value(name, value):
  with pytest.raises(ValueError, match=f"{name}={value!r}"):
    dataclasses.replace(config_lib.preset("tiny"), **{name: value})


def test_num_requests_rounds_up_to_whole_requests():
  tiny = dataclasses.replace(config_lib.preset("tiny"), num_impressions=11,
                             impressions_per_request=5)
  assert tiny.num_requests == 3


def test_the_daily_world_changes_its_ids_every_day_for_ten_days_or_more():
  daily = config_lib.preset("daily")
  assert daily.n_days >= 10
  assert daily.item_arrival_share > 0 and daily.user_arrival_share > 0
  assert daily.item_mean_lifetime_days > 0
  # The other presets keep the whole catalogue and population on every day.
  for name in set(config_lib.PRESETS) - {"daily"}:
    world = config_lib.preset(name)
    assert (world.item_arrival_share, world.item_mean_lifetime_days,
            world.user_arrival_share) == (0, 0, 0)


@pytest.mark.parametrize("name, value", [
    ("item_arrival_share", 1.0), ("user_arrival_share", -0.1),
    ("item_mean_lifetime_days", -1.0)])
def test_bad_churn_knobs_raise_with_name_and_value(name, value):
  with pytest.raises(ValueError, match=f"{name}={value!r}"):
    dataclasses.replace(config_lib.preset("tiny"), **{name: value})


def test_arrivals_need_a_later_day():
  with pytest.raises(ValueError, match="item_arrival_share=0.5 needs n_days >= 2"):
    dataclasses.replace(config_lib.preset("tiny"), n_days=1, item_arrival_share=0.5)
