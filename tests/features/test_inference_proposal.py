"""features.inference.proposal: feature names from log keys, sanitized and unique."""

import pytest

from features.inference import proposal


@pytest.mark.parametrize("key,name", [
    ("Brand Name", "brand_name"),
    ("geo.City", "geo_city"),  # A nested key's path, joined by _.
    ("9lives", "f_9lives"),  # A name starts with a letter.
    ("__x__", "x"),
    ("!!!", "field"),  # Nothing left.
])
def test_sanitize_keeps_lowercase_letters_digits_and_underscores(key, name):
  assert proposal.sanitize(key) == name


def test_a_taken_name_gets_its_objects_prefix_then_a_number():
  names = proposal.Names()
  assert names.take("segment", prefix="user") == "segment"
  assert names.take("segment", prefix="item") == "item_segment"
  assert names.take("segment", prefix="item") == "segment_2"
  assert names.take("Segment") == "segment_3"
  assert names.taken == {"segment", "item_segment", "segment_2", "segment_3"}
