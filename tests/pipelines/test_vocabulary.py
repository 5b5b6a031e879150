"""Token selection: frequency order, ties by token, thresholds and caps."""

from pipelines import vocabulary


def test_most_frequent_first_ties_by_token_rare_dropped_and_capped():
  counts = [("b", 3), ("a", 3), ("c", 5), ("rare", 1), ("d", 2)]
  assert vocabulary.select_tokens(counts, min_count=2, max_tokens=None) == [
      "c", "a", "b", "d"]
  assert vocabulary.select_tokens(counts, min_count=2, max_tokens=2) == ["c", "a"]
  assert vocabulary.select_tokens(counts, min_count=10, max_tokens=None) == []
