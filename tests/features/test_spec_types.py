"""features.spec_types: a feature's role and missing value, and the kinds of op."""

import pytest

from features import spec as spec_lib
from features import spec_types
from features.spec_types import DType, Feature, Group, Kind, Op, Role

DEFAULT = spec_lib.DEFAULT_SPEC


def _feature(kind=Kind.NUMERIC, dtype=DType.FLOAT32, **fields):
  return Feature("f", dtype, kind, Group.ITEM, "item.f", **fields)


def test_labels_and_post_event_aggregates_are_disjoint_kinds_of_op():
  assert {op for op in Op if op.is_label} == {Op.CLICK, Op.EVENT}
  assert {op for op in Op if op.is_post_event} == {Op.COUNT, Op.ANY, Op.SUM, Op.MAX}
  assert not Op.HISTORY.is_label and not Op.CLICKS_SHARING.is_post_event


def test_a_task_on_clicked_impressions_is_clicked_only():
  assert spec_types.Task("cvr", "purchase", spec_types.Examples.CLICKED).clicked_only
  assert not spec_types.Task("ctr", "click").clicked_only


def test_excluded_wins_over_privileged_and_labels_are_never_inputs():
  both = _feature(privileged_in=frozenset({"cvr"}), excluded_from=frozenset({"cvr"}))
  assert both.role("cvr") is Role.EXCLUDED
  assert _feature(privileged_in=frozenset({"cvr"})).role("cvr") is Role.PRIVILEGED
  assert _feature(privileged_in=frozenset({"cvr"})).role("ctr") is Role.REGULAR
  for kind in (Kind.LABEL, Kind.METADATA):
    assert _feature(kind, privileged_in=frozenset({"ctr"})).role(
        "ctr") is Role.NOT_AN_INPUT


@pytest.mark.parametrize("kind,dtype,default,parsed", [
    (Kind.NUMERIC, DType.FLOAT32, 2.5, 2.5),  # Declared: as declared.
    (Kind.CATEGORICAL, DType.STRING, None, spec_types.MISSING_TOKEN),
    (Kind.CATEGORICAL, DType.INT64, None, spec_types.MISSING_TOKEN),
    (Kind.NUMERIC, DType.INT64, None, 0),
    (Kind.NUMERIC, DType.FLOAT32, None, 0.0),
    (Kind.METADATA, DType.STRING, None, ""),
])
def test_a_missing_scalar_parses_as_its_default_else_the_missing_token_or_zero(
    kind, dtype, default, parsed):
  value = _feature(kind, dtype, default=default).parse_default
  assert value == parsed and type(value) is type(parsed)


def test_missing_categorical_values_parse_as_the_missing_token():
  assert DEFAULT["brand_id"].parse_default == spec_lib.MISSING_TOKEN
  assert DEFAULT["price"].parse_default == 0.0
