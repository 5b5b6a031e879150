"""Measures on the samples joined by impression id: who clicked what, when, and what
followed; by them the proposal chooses its crosses, histories and leaks.

Everything is per sampled impression, in numpy.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import math
from typing import Any

import numpy as np

import roc
from features import spec as spec_lib
from features.inference import defaults
from features.inference.sampling import (ClickSample, DetailSample, ImpressionSample,
                                         percent)

# Item attributes whose click history and clicks-sharing counts are proposed are
# chosen by a measure on the sample (`Measures.lift`): how much "the user clicked
# this value before" tells about the click. Kept: a lift above 1 that a G-test finds
# at p < 0.001 (G, chi-squared with 1 degree of freedom, at or above this) and that
# within users is not reversed beyond chance (a Mantel-Haenszel odds ratio below 1
# at p < 0.05: the pooled lift is then the users' activity, an active user having
# clicked every coarse value before); the CROSSES of most mutual information.
LIFT_G_CRITICAL = 10.83
WITHIN_CHI2_CRITICAL = 3.84
# A post-event aggregate whose univariate AUC against its label is this far from 0.5
# (either way) nearly determines the label: a teacher that sees it reads the label off
# it ("teacher cheating") and teaches the student nothing it can use; too predictive
# a privileged feature makes a worse teacher (Yang et al., "Toward Understanding
# Privileged Features Distillation in Learning-to-Rank", NeurIPS 2022; ByteDance's
# HA-PFD, KDD 2025). Proposed excluded from every task, the reason in its comment.
LEAK_AUC = 0.98
# ... judged only on this many sampled positives and negatives each: on fewer, an AUC
# of 1 is chance.
MIN_LEAK_EVIDENCE = 30


def _id_keys(values: list[Any]) -> list[str | None]:
  """Ids as the job reads them: strings, integers as their decimal string."""
  if all(type(v) is str for v in values):
    return values
  return [v if type(v) is str else str(v) if type(v) is int and type(v) is not bool
          else None for v in values]


def _times(values: list[Any]) -> np.ndarray:
  """[n] int64 ms; -1 where a value is no integer time in the contract's range."""
  return np.fromiter((v if type(v) is int and spec_lib.MIN_TS_MS <= v
                      < spec_lib.MAX_TS_MS else -1 for v in values), np.int64,
                     len(values))


def _coded(values: list[Any]) -> tuple[np.ndarray, int]:
  """([n] int64 codes, -1 for None; how many codes) of hashable `values`."""
  index = collections.defaultdict()
  index.default_factory = index.__len__
  codes = np.fromiter(map(index.__getitem__, values), np.int64, len(values))
  if None in index:
    codes[codes == index[None]] = -1
  return codes, len(index)


@dataclasses.dataclass(frozen=True)
class Lift:
  """How much "the user clicked this value of the attribute before" tells about the
  click, on the sampled impressions (`Measures.lift`): pooled (click rates, lift,
  mutual information) and within each user (a Mantel-Haenszel odds ratio over
  per-user 2x2 tables). The pooled figures alone would credit a user's activity: an
  active user has clicked every coarse value before, and clicks more anyway."""
  impressions: int  # Measured: with a user id and a time.
  repeat: int  # Of them, where the user had clicked the value before.
  repeat_clicks: int
  other_clicks: int
  odds_ratio: float  # Within users: Mantel-Haenszel, users as strata.
  within_chi2: float  # Cochran-Mantel-Haenszel, 1 degree of freedom.

  @property
  def rate_repeat(self) -> float:
    return self.repeat_clicks / self.repeat if self.repeat else 0.0

  @property
  def rate_other(self) -> float:
    other = self.impressions - self.repeat
    return self.other_clicks / other if other else 0.0

  @property
  def lift(self) -> float:
    return self.rate_repeat / self.rate_other if self.rate_other else math.inf

  @property
  def bits(self) -> float:
    """The mutual information of the two binary variables, in bits."""
    n, clicks = self.impressions, self.repeat_clicks + self.other_clicks
    cells = [(self.repeat_clicks, self.repeat, clicks),
             (self.repeat - self.repeat_clicks, self.repeat, n - clicks),
             (self.other_clicks, n - self.repeat, clicks),
             (n - self.repeat - self.other_clicks, n - self.repeat, n - clicks)]
    return sum(c / n * math.log2(c * n / (row * col)) for c, row, col in cells if c)

  @property
  def significant(self) -> bool:
    """G = 2 N I (in nats) is chi-squared, 1 degree of freedom, under independence."""
    return 2 * self.impressions * self.bits * math.log(2) >= LIFT_G_CRITICAL

  @property
  def contradicted(self) -> bool:
    """Within users, clicking the value before goes with fewer clicks, beyond chance:
    the pooled lift is the users' activity."""
    return self.odds_ratio < 1 and self.within_chi2 >= WITHIN_CHI2_CRITICAL

  @property
  def chosen(self) -> bool:
    return self.lift > 1 and self.significant and not self.contradicted

  def describe(self, of: str) -> str:
    return (f"click rate {self.rate_repeat:.2f} when the user clicked this {of} "
            f"before (on {percent(self.repeat, self.impressions)} sampled "
            f"impressions) vs {self.rate_other:.2f} otherwise, lift {self.lift:.2f}, "
            f"{self.bits:.4f} bits" + ("" if self.significant else " (not significant)")
            + f"; within users, odds ratio {self.odds_ratio:.2f} (chi-square "
            f"{self.within_chi2:,.1f}" + (", below 1 beyond chance)" if self.contradicted
                                          else ")"))


@dataclasses.dataclass(frozen=True)
class Candidate:
  """A post-event aggregate's univariate AUC against its task's label."""
  auc: float
  clicked: int  # Sampled clicked impressions it is measured on.
  positives: int

  @property
  def judged(self) -> bool:
    return min(self.positives, self.clicked - self.positives) >= MIN_LEAK_EVIDENCE

  @property
  def leak(self) -> bool:
    return self.judged and abs(self.auc - 0.5) >= LEAK_AUC - 0.5

  def describe(self, label: str) -> str:
    if math.isnan(self.auc):
      return (f"Univariate AUC against {label!r}: undefined on this sample "
              f"({self.positives:,} positives of {self.clicked:,} clicked "
              "impressions).")
    return (f"Univariate AUC {self.auc:.3f} against {label!r} on {self.clicked:,} "
            f"sampled clicked impressions ({self.positives:,} positives)" + (
                "." if self.judged else f"; too few of each class (under "
                f"{MIN_LEAK_EVIDENCE}) to judge a leak."))


class Measures:
  """The samples joined by impression id: who clicked what, when, and what followed.

  A click is a click line within the default spec's click window after its
  impression (with --clicks), else, without a clicks log, an impression with a
  detail-page line at or after it (the contract: a detail page is on a clicked
  impression), its first line standing for the click's time. Everything is per
  sampled impression, in numpy.
  """

  def __init__(self, imp: ImpressionSample, details: DetailSample,
               clicks: ClickSample | None):
    n = imp.records
    self.records = n
    ids = _id_keys(imp.ids)
    row_of = dict(zip(ids, range(n)))
    row_of.pop(None, None)
    self.ts = _times(imp.times)
    self.user, self.users = _coded(_id_keys(imp.users))
    self.measured = (self.user >= 0) & (self.ts >= 0)
    # Detail lines: their impression's row (-1: not sampled) and time.
    self.detail_row = self._rows(row_of, details.ids)
    self.detail_ts = _times(details.times)
    self.detail_event = np.asarray(details.events, dtype=object)
    on_time = self._on_time(self.detail_row, self.detail_ts)
    self.click_at = np.full(n, np.iinfo(np.int64).max)
    windows = defaults.proposed()
    if clicks is not None:
      rows, ts = self._rows(row_of, clicks.ids), _times(clicks.times)
      counted = self._on_time(rows, ts)
      counted[counted] &= ts[counted] <= (self.ts[rows[counted]]
                                          + spec_lib.duration_ms(windows.click_window))
      np.minimum.at(self.click_at, rows[counted], ts[counted])
      self.click_source = "the sampled click lines"
    else:
      np.minimum.at(self.click_at, self.detail_row[on_time], self.detail_ts[on_time])
      self.click_source = ("the sampled detail-page lines (no --clicks: an impression "
                           "with a detail page was clicked, at its first line)")
    self.clicked = self.click_at < np.iinfo(np.int64).max
    # A detail line in its impression's attribution window after the click.
    after = on_time.copy()
    after[after] &= self.clicked[self.detail_row[after]]
    since = self.detail_ts[after] - self.click_at[self.detail_row[after]]
    after[after] &= (since >= 0) & (since <= spec_lib.duration_ms(
        windows.attribution_window))
    self.after_click = after
    self.details = details

  def _rows(self, row_of: dict[str, int], ids: list[Any]) -> np.ndarray:
    return np.fromiter(map(row_of.get, _id_keys(ids), itertools.repeat(-1)),
                       np.int64, len(ids))

  def _on_time(self, rows: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Lines on a sampled impression, at or after it."""
    ok = (rows >= 0) & (ts >= 0)
    ok[ok] &= (self.ts[rows[ok]] >= 0) & (ts[ok] >= self.ts[rows[ok]])
    return ok

  @property
  def clicks(self) -> int:
    return int(self.clicked.sum())

  def positives(self, event: str) -> int:
    """Clicked impressions with `event` in the attribution window after the click."""
    return int(np.unique(self.detail_row[self.after_click
                                         & (self.detail_event == event)]).size)

  def lift(self, codes: np.ndarray) -> Lift:
    """Whether the user had clicked, strictly before the impression, an item with the
    impression's value of the attribute (`codes`: [records], -1 without one), as the
    cross feature counts; 0 where the impression lacks a value, as the cross is."""
    keep = self.measured & (codes >= 0)
    x = np.zeros(self.records, bool)
    x[keep] = self._clicked_before(keep, self.user, codes) > 0
    x, y, users = x[self.measured], self.clicked[self.measured], self.user[
        self.measured]
    a, b, c, d = (np.bincount(users[mask], minlength=self.users).astype(np.float64)
                  for mask in (x & y, x & ~y, ~x & y, ~x & ~y))
    n = a + b + c + d
    a, b, c, d, n = (t[n > 1] for t in (a, b, c, d, n))  # Users with 2+ impressions.
    concordant, discordant = float((a * d / n).sum()), float((b * c / n).sum())
    odds_ratio = (concordant / discordant if discordant else
                  math.inf if concordant else 1.0)
    expected = float(((a + b) * (a + c) / n).sum())
    variance = float(((a + b) * (c + d) * (a + c) * (b + d) / (n * n * (n - 1))).sum())
    within_chi2 = (max(abs(float(a.sum()) - expected) - 0.5, 0.0) ** 2 / variance
                   if variance else 0.0)
    repeat_clicks = int((x & y).sum())
    return Lift(int(x.size), int(x.sum()), repeat_clicks, int(y.sum()) - repeat_clicks,
                 odds_ratio, within_chi2)

  def _clicked_before(self, rows: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """[rows.sum()] int64: per selected impression, the user's counted clicks with the
    same `keys` values at a time strictly before it. Impressions and clicks sorted by
    (keys, time), clicks after the impressions of their time; a running count of the
    clicks in each run of equal keys."""
    query = np.flatnonzero(rows)
    add = np.flatnonzero(rows & self.clicked)
    columns = [np.concatenate([key[query], key[add]]) for key in keys]
    time = np.concatenate([self.ts[query], self.click_at[add]])
    is_add = np.concatenate([np.zeros(query.size, np.int64),
                             np.ones(add.size, np.int64)])
    order = np.lexsort((is_add, time, *reversed(columns)))
    is_add = is_add[order]
    before = np.cumsum(is_add) - is_add  # Clicks earlier in the sort.
    start = np.zeros(order.size, bool)
    start[:1] = True
    for column in columns:
      column = column[order]
      start[1:] |= column[1:] != column[:-1]
    before -= before[start][np.cumsum(start) - 1]  # ... earlier in the run.
    out = np.empty(query.size, np.int64)
    queries = is_add == 0
    out[order[queries]] = before[queries]
    return out

  def candidate(self, label_event: str, event: str, field: str | None) -> Candidate:
    """The univariate AUC of a post-event aggregate (the count of `event`, or the sum
    of its `field`) against the label, on the sampled clicked impressions: their
    `event` lines after the click, before the first label event, within the
    attribution window, as the join counts them."""
    n = self.records
    is_label = self.after_click & (self.detail_event == label_event)
    label_at = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(label_at, self.detail_row[is_label], self.detail_ts[is_label])
    counted = self.after_click & (self.detail_event == event)
    counted[counted] &= (self.detail_ts[counted]
                         < label_at[self.detail_row[counted]])
    if field is None:
      score = np.bincount(self.detail_row[counted], minlength=n).astype(np.float64)
    else:
      lines, numbers = (np.frombuffer(a, dtype=t) for a, t in zip(
          self.details.numbers[event, field], (np.int64, np.float64)))
      keep = counted[lines]
      score = np.bincount(self.detail_row[lines[keep]], weights=numbers[keep],
                          minlength=n)
    labels = label_at[self.clicked] < np.iinfo(np.int64).max
    return Candidate(roc.auc(labels, score[self.clicked]), self.clicks,
                      int(labels.sum()))

