"""The derived features of a proposal: click histories and user x item crosses over
the item attributes that the measures choose, and the post-event aggregates with
their leak verdicts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from features.inference import defaults
from features.inference.measures import LEAK_AUC
from features.inference.proposal import Entry
from features.inference.sampling import DISTINCT_CAP, percent

if TYPE_CHECKING:
  from features.inference.proposer import Proposer

CROSSES = 2
# Without a measured one (no click in the sample, or no attribute passes), a coarse
# and a fine one by their number of values, as before the measure.
GROUPING_DISTINCT = (3, 10_000)


def grouping_attributes(p: Proposer) -> dict[str, str]:
  """The item categories whose histories and crosses are proposed -> why: the
  CROSSES that "the user clicked this value before" tells most about the click
  (`Measures.lift`), else `_by_grain`."""
  candidates = [g for g in p.item_categories if 2 <= g.distinct <= DISTINCT_CAP]
  n = p.measures.records
  lifts = {g.name: p.measures.lift(p.imp.item_codes[g.path].by_record(n))
           for g in candidates} if p.measures.clicks else {}
  ranked = sorted(lifts, key=lambda name: (-lifts[name].bits, name))
  chosen = [name for name in ranked if lifts[name].chosen][:CROSSES]
  measured = "; ".join(f"{name}: {lifts[name].describe(name)}" for name in ranked)
  header = (
      "Histories and crosses: for each item category (2 or more values), whether "
      "the user clicked the impression's value before (earlier in the sample, as "
      "the cross counts) and how that moves the click: click rates, lift and "
      "mutual information in bits over the sampled impressions, and a "
      "Mantel-Haenszel odds ratio within users (a user's activity alone, which "
      "makes every coarse value one clicked before, must not count). Proposed: the "
      f"{CROSSES} of most information with a lift above 1 at p < 0.001 (G-test) "
      "whose within-user odds ratio is not below 1 beyond chance (p < 0.05, "
      "Cochran-Mantel-Haenszel). Clicks: "
      + p.measures.click_source + ". On "
      f"{percent(int(p.measures.measured.sum()), n)} sampled impressions with "
      "a user and a time: " + (measured or "no candidate") + ".")
  if chosen:
    p.out.notes.append(header)
    return {name: f"Chosen by its measure on the sample: {lifts[name].describe(name)}."
            for name in chosen}
  by_grain = _by_grain(p)
  p.out.notes.append(
      header + (" None passes (no click in the sample)" if not p.measures.clicks
                else " None passes") + ": chosen by their number of values instead "
      f"(a coarse and a fine one, {GROUPING_DISTINCT[0]} to {GROUPING_DISTINCT[1]:,}"
      "), which measures nothing: check them.")
  return {name: ("Chosen by its number of values (no attribute passes the "
                 "measure; see the header)" + (
                     f": {lifts[name].describe(name)}." if name in lifts else "."))
          for name in by_grain}


def _by_grain(p: Proposer) -> list[str]:
  """Two logged item categories whose clicks repeat: a coarse one (a user's broad
  taste) and a fine one (a loyalty), which say more together than two of one
  grain. Preferred: those read on (nearly) every record (a missing value would
  match every other missing one), then names over integer codes (often a bucketed
  quantity, a rating or a discount, whose sharing says little about taste)."""
  low, high = GROUPING_DISTINCT
  ranked = sorted((not g.covered, g.coded, g.distinct, g.name)
                  for g in p.item_categories if low <= g.distinct <= high)
  if not ranked:
    return []
  coarse, rest = ranked[0], ranked[1:]
  same_tier = [r for r in rest if r[:2] == coarse[:2]]
  fine = same_tier[-1] if same_tier else (rest[0] if rest else None)
  return [r[-1] for r in (coarse, fine) if r is not None]


def behaviour(p: Proposer, attributes: dict[str, str]) -> list[Entry]:
  item = p.out.identity["item"]
  length = defaults.proposed().history_length
  return [Entry(
      {"name": p.names.take(f"hist_{of}s"), "kind": "sequence",
       "derive": {"op": "history", "of": of}, "max_length": length,
       "description": f"The {of} of the user's last {length} clicks before "
                      "the impression."},
      [f"The user's clicked {of}s; they share {of}'s vocabulary."]
      + ([] if of == item else [attributes[of]]))
          for of in [item, *attributes]]


def cross(p: Proposer, attributes: dict[str, str]) -> list[Entry]:
  """`user_<attribute>_clicks_<window>`, as the default spec names them."""
  distinct = {g.name: g.distinct for g in p.item_categories}
  window = defaults.proposed().cross_window
  return [Entry(
      {"name": p.names.take(f"user_{re.sub(r'_id$', '', of)}_clicks_{window}"),
       "kind": "numeric",
       "derive": {"op": "clicks_sharing", "of": of, "window": window},
       "privileged_in": ["ctr"],
       "description": f"The user's clicks in the item's {of} in the last "
                      f"{window}."},
      [f"Privileged for ctr: a user x item cross ({distinct[of]:,} {of} values in "
       "the sample), which a two-tower student cannot compute.", why])
          for of, why in attributes.items()]


def post_event(p: Proposer, conversion: str | None) -> list[Entry]:
  """Every aggregate of another event (its count, each field's total), with its
  univariate AUC against the conversion label on the sample; one that nearly
  determines the label (LEAK_AUC) is proposed excluded from every task."""
  if conversion is None:
    return []
  label = p.conversion_label
  entries, leaks = [], []
  for event, entry in p.out.events.items():
    if event == conversion:
      continue
    for field in [None, *entry.body.get("fields", {})]:
      candidate = p.measures.candidate(conversion, event, field)
      if field is None:
        name = p.names.take(f"{event}_count")
        derive = {"op": "count", "event": event}
        description = f"How many {event!r} events after the click"
      else:
        name = p.names.take(f"{event}_{field}_total")
        derive = {"op": "sum", "event": event, "field": field}
        description = f"The total {field} of the {event!r} events after the click"
      comments = [candidate.describe(label)]
      if candidate.leak:
        leaks.append(name)
        derive["before"] = label
        roles = {"excluded_from": ["ctr", "cvr"]}
        comments.append(
            f"A leak: an AUC this far from 0.5 (>= {LEAK_AUC}) nearly determines "
            f"{label!r}; a teacher that sees it reads the label off it and teaches "
            "the student nothing (teacher cheating: Yang et al., NeurIPS 2022; "
            "ByteDance HA-PFD, KDD 2025). Excluded from every task; privilege it "
            "for cvr by hand only if it truly is known before the label.")
      else:
        roles = {"privileged_in": ["cvr"], "excluded_from": ["ctr"]}
        comments.append("Privileged for cvr (known after the click, before the "
                        "conversion), excluded from ctr (it would leak the click).")
      entries.append(Entry(
          {"name": name, "kind": "numeric", "derive": derive, **roles,
           "description": f"{description}, before the {conversion!r}."},
          comments))
  if leaks:
    p.out.notes.append(
        f"Leaks: {', '.join(leaks)}: a univariate AUC against {label!r} at or "
        f"beyond {LEAK_AUC} (or its mirror), so excluded from every task, not "
        "privileged (see each comment).")
  return entries
