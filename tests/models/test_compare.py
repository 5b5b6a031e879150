"""models/compare.py on hand-made rows: the privileged share of PFD's gain."""

import numpy as np
import pytest

from models import compare


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
