"""features.inference.defaults: what a proposal takes from the default spec."""

from features import spec as spec_lib
from features.inference import defaults


def test_the_proposal_takes_the_default_specs_windows_as_written():
  taken = defaults.proposed()
  ctr = spec_lib.DEFAULT_SPEC.task("ctr")
  assert (taken.click_window, taken.attribution_window, taken.cross_window,
          taken.history_length) == ("30m", "24h", "24h", 50)
  # As the file writes them: lists, not the parsed spec's tuples.
  assert taken.ctr_model_defaults["unshared_vocabularies"] == ["user_id"]
  assert set(taken.ctr_model_defaults) == {k for k, _ in ctr.model_defaults}
