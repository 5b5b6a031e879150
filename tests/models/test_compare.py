"""models/compare.py on hand-made rows: the privileged share of PFD's gain, the
first-check flag."""

import numpy as np
import pytest

from features import spec as spec_lib
from models import compare
from models import train


def _rows(aucs):
  """{mode: [student AUC per seed]} -> compare's rows."""
  return [{"mode": mode, "seed": seed, "student_auc": auc}
          for mode, values in aucs.items() for seed, auc in enumerate(values)]


AUCS = {"student": [0.70, 0.72, 0.71], "pfd": [0.74, 0.75, 0.73],
        "md": [0.72, 0.74, 0.72], "smooth": [0.71, 0.72, 0.72],
        "pfd_permuted": [0.73, 0.72, 0.71]}


def test_the_privileged_share_is_pfds_gain_less_the_largest_controls_by_seed():
  share = compare.privileged_share(_rows(AUCS))
  # Mean gains over the student: pfd 0.03, md 0.05/3, smooth 0.02/3, pfd_permuted
  # 0.01: md is the largest. Per seed: (0.04, 0.03, 0.02) - (0.02, 0.02, 0.01).
  assert share.control == "md" and share.seeds == (0, 1, 2)
  np.testing.assert_allclose(share.per_seed, [0.02, 0.01, 0.01], atol=1e-12)
  line = compare.format_privileged_share(share)
  assert f"{np.mean([0.02, 0.01, 0.01]):+.4f} ± {np.std([0.02, 0.01, 0.01]):.4f}" in line
  assert "over 3 seed(s)" in line and "minus md's" in line


def test_the_share_pairs_only_the_seeds_every_mode_ran():
  rows = [r for r in _rows(AUCS) if (r["mode"], r["seed"]) != ("smooth", 2)]
  share = compare.privileged_share(rows)
  assert share.seeds == (0, 1)
  np.testing.assert_allclose(share.per_seed, [0.02, 0.01], atol=1e-12)


@pytest.mark.parametrize("missing", ["student", "pfd", "md", "smooth", "pfd_permuted"])
def test_no_share_without_every_control(missing):
  assert compare.privileged_share(
      _rows({m: v for m, v in AUCS.items() if m != missing})) is None


@pytest.mark.parametrize("validation, flagged", [
    ({"kept_epoch": 1, "checks": 4}, True),  # Overfitted within its first epoch.
    ({"kept_epoch": 2, "checks": 4}, False),
    ({"kept_epoch": 1, "checks": 1}, False),  # One check: nothing to choose from.
    ({"kept_epoch": 1, "auc_per_epoch": [0.7, 0.6]}, True),  # Recorded before checks.
    (None, False),  # No validation.
])
def test_a_run_kept_at_its_first_of_several_checks_is_flagged(validation, flagged):
  assert compare.best_at_first_check(validation) is flagged


def test_the_table_marks_the_modes_a_seed_kept_at_its_first_check():
  spec = spec_lib.DEFAULT_SPEC
  rows = [{"mode": mode, "seed": seed, compare.FIRST_CHECK: first,
           **{f"student_{metric}": 0.7 for metric, _ in compare.head_metrics(spec)}}
          for mode, seed, first in [("student", 0, False), ("student", 1, True),
                                    ("pfd", 0, False), ("pfd", 1, False)]]
  summary = compare.summarize(rows)
  assert compare.FIRST_CHECK not in summary["student"]  # A flag, not a metric.
  assert compare.flagged_modes(rows) == {"student"}
  table = compare.format_table(summary, {}, spec, compare.flagged_modes(rows))
  names = [line.split("|")[1].strip() for line in table.splitlines()[2:4]]
  assert names == ["student*", "pfd"]
  assert table.splitlines()[-1] == compare.FIRST_CHECK_NOTE
  assert "lower learning rate" in compare.FIRST_CHECK_NOTE
  assert compare.FIRST_CHECK_NOTE not in compare.format_table(summary, {}, spec)


def test_the_tuned_protocol_grids_every_arm_and_checks_four_times_a_pass():
  # 10 batches a pass: checks every ceil(10 / 4) = 3 steps; 2 passes: 7 checks.
  tuned = compare.tuned_protocol(train.TrainConfig(epochs=2), batches_per_pass=10)
  assert tuned.learning_rate_grid == compare.TUNED_LEARNING_RATES
  assert (tuned.validation_days, tuned.steps_per_epoch, tuned.epochs) == (1, 3, 7)
  assert tuned.early_stopping_patience == 4  # A pass without a better check.
  assert "0.0005, 0.001, 0.002" in compare.format_protocol(tuned)
  # What the flags set is kept.
  given = train.TrainConfig(epochs=5, steps_per_epoch=2, validation_days=2,
                            early_stopping_patience=1, learning_rate_grid=(0.01,))
  assert compare.tuned_protocol(given, batches_per_pass=10) == given
  assert "one learning rate, epoch-level stopping" in compare.FAST_NOTE
