"""Tests for features/example_columns.py: the same columns whatever the examples'
key order or missing keys, and unknown keys named."""

import pytest

from features import example_columns

NAMES = ("a", "b", "c")


def test_examples_keyed_alike_in_any_order_give_the_same_columns():
  in_order = [{"a": 1, "b": "x", "c": [1]}, {"a": 2, "b": None, "c": []}]
  reordered = [dict(reversed(list(e.items()))) for e in in_order]
  expected = [[1, 2], ["x", None], [[1], []]]
  for examples in (in_order, reordered):
    assert [list(c) for c in example_columns.columns(NAMES, examples)] == expected


@pytest.mark.parametrize("examples", [
    [{"a": 1, "c": 3}, {"a": 2, "c": 4}],  # The same keys, one name absent in all.
    [{"a": 1, "c": 3}, {"a": 2, "b": 5}],  # As many keys, not the same.
    [{"a": 1}, {"a": 2, "b": 5, "c": 6}],  # Fewer keys first.
    [{"a": 1, "b": 5, "c": 6}, {"a": 2}],  # More keys first.
])
def test_an_absent_name_is_none(examples):
  columns = example_columns.columns(NAMES, examples)
  assert [list(c) for c in columns] == [
      [e.get(name) for e in examples] for name in NAMES]


def test_no_examples_give_empty_columns():
  assert [list(c) for c in example_columns.columns(NAMES, [])] == [[], [], []]


@pytest.mark.parametrize("examples", [
    [{"a": 1, "b": 2, "typo": 3}],
    [{"a": 1, "b": 2}, {"a": 1, "typo": 2}],
    [{"a": 1, "b": 2}, {"a": 1, "b": 2, "typo": 3}],
])
def test_a_key_not_in_the_names_is_named(examples):
  with pytest.raises(ValueError, match="'typo'"):
    example_columns.columns(NAMES, examples)
