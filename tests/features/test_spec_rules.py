"""features.spec_rules: a spec built in code keeps the rules a file's does."""

import dataclasses

import pytest

from features import spec as spec_lib
from features import spec_rules

DEFAULT = spec_lib.DEFAULT_SPEC


def _with_feature(name, **changes):
  return [dataclasses.replace(f, **changes) if f.name == name else f for f in DEFAULT]


@pytest.mark.parametrize("source,scope_keys", [
    ("user.geo.country", ("user", ("geo", "country"))),
    ("impression.position", ("impression", ("position",))),
])
def test_source_path_splits_scope_and_keys(source, scope_keys):
  assert spec_rules.source_path(source) == scope_keys


@pytest.mark.parametrize("name,changes,message", [
    ("segment", dict(bounds=(0, 1)), r"feature 'segment': bounds are for numeric"),
    ("segment", dict(vocabulary=None), r"feature 'segment' of kind categorical needs a "
                                       r"vocabulary"),
    ("price", dict(source="derived"), r"feature 'price': a derived feature needs"),
    ("item_id", dict(min_count_days=0), r"feature 'item_id': min_count_days is a "
                                        r"whole number of days >= 1"),
    ("price", dict(retire_after_days=3), r"feature 'price': retire_after_days is a "
                                         r"whole number of days >= 1 for a feature "
                                         r"with a vocabulary"),
])
def test_a_spec_built_in_code_checks_each_feature(name, changes, message):
  with pytest.raises(ValueError, match=message):
    DEFAULT.with_features(_with_feature(name, **changes))


def test_event_fields_are_numbers_in_code_too():
  view = DEFAULT.events["view"]
  text_field = dataclasses.replace(view.fields[0], dtype=spec_lib.DType.STRING)
  events = [dataclasses.replace(view, fields=(text_field,)) if e is view else e
            for e in DEFAULT.events.values()]
  with pytest.raises(ValueError, match=r"event 'view' field 'dwell_ms': event fields "
                                       r"are numbers"):
    spec_lib.FeatureSpec(DEFAULT.features, DEFAULT.tasks.values(), events,
                         DEFAULT.identity, DEFAULT.slices)


def test_duplicate_names_fail():
  with pytest.raises(ValueError, match=r"repeated: \['price'\]"):
    DEFAULT.with_features([*DEFAULT, DEFAULT["price"]])
