"""features.inference.measures: the lift and leak verdicts by hand."""

import math

import pytest

from features.inference import measures


def _entropy(*shares):
  return -sum(p * math.log2(p) for p in shares if p)


def test_lift_figures_by_hand():
  # 100 impressions; 20 where the user clicked the value before, 10 of them clicked;
  # 8 clicks among the other 80.
  lift = measures.Lift(100, 20, 10, 8, odds_ratio=2.0, within_chi2=1.0)
  assert (lift.rate_repeat, lift.rate_other, lift.lift) == pytest.approx((0.5, 0.1, 5))
  # I(X; Y) = H(Y) - H(Y | X), from the same 2x2 table.
  info = _entropy(0.18, 0.82) - 0.2 * _entropy(0.5, 0.5) - 0.8 * _entropy(0.1, 0.9)
  assert lift.bits == pytest.approx(info)
  # G = 2 N I (nats) = 14.5 >= 10.83: significant; within users not reversed.
  assert lift.significant and not lift.contradicted and lift.chosen


def test_a_lift_reversed_within_users_is_not_chosen():
  lift = measures.Lift(100, 20, 10, 8, odds_ratio=0.5, within_chi2=4.0)
  assert lift.contradicted and not lift.chosen


@pytest.mark.parametrize("auc,positives,leak", [
    (0.99, 40, True), (0.01, 40, True),  # Either way from 0.5.
    (0.97, 40, False),
    (0.99, 10, False),  # Under MIN_LEAK_EVIDENCE positives: not judged.
])
def test_a_leak_is_an_auc_far_from_one_half_on_enough_of_each_class(auc, positives,
                                                                    leak):
  candidate = measures.Candidate(auc, clicked=100, positives=positives)
  assert candidate.leak is leak
  assert candidate.judged is (positives >= measures.MIN_LEAK_EVIDENCE)
