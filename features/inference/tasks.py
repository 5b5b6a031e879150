"""The events, tasks and labels of a proposal: every event type the sample declares,
the conversion label chosen among them by its positives and its name, the CTR task
and, with a conversion, the CVR task.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from features.inference import defaults
from features.inference.proposal import Entry
from features.inference.readings import Range, Reading, numeric_dead
from features.inference.sampling import ValueStats, percent

if TYPE_CHECKING:
  from features.inference.proposer import Proposer

# A conversion label needs positives to learn from and to evaluate on: an event is a
# candidate when it follows at least this many sampled clicks or this share of them
# (on fewer, a CVR task's eval AUC is noise: KuaiRand's `forward`, 179 positives).
MIN_LABEL_POSITIVES = 1_000
MIN_LABEL_SHARE = 0.01
# Among candidates: named like a conversion (in the name), else an engagement (the
# whole name: `comment_page` is a page, `comment` the reaction), the most positives of
# the tier, else the rarest on at most this share of the clicks (an event on most
# clicks, the detail view itself, is the click again). Rare events so named are
# declared however rare (not read as garbage).
CONVERSION_NAMES = re.compile(r"purchase|order|buy|pay|convert|checkout")
ENGAGEMENT_NAMES = re.compile(r"(is_)?(like|favou?rite|follow|subscribe|share|forward|"
                              r"comment|collect|save|star)(s|d|ed)?")
MAX_LABEL_SHARE = 0.5


def _declared_events(p: Proposer) -> list[str]:
  """Event types by frequency, less the rarest ones that together hold under the
  share of lines that may be garbage (a mistyped or corrupted `event`); one named
  like a conversion or an engagement, or `--label_event`, stays however rare: a
  label candidate (`_conversion` says whether it has the positives)."""
  total = sum(p.details.lines.values())
  declared = [event for event, _ in p.details.lines.most_common()]
  dropped = 0
  for event, lines in reversed(p.details.lines.most_common()):
    if (CONVERSION_NAMES.search(event.lower()) or event == p.label_event
        or ENGAGEMENT_NAMES.fullmatch(event.lower())):
      continue
    if dropped + lines >= (1 - p.min_share) * total:
      break
    dropped += lines
    declared.remove(event)
    p.out.notes.append(
        f"Not declared: event {event!r}, on {percent(lines, total)} detail-page "
        f"lines: with the rarer ones not declared, under {1 - p.min_share:.1%} of "
        "the lines, so read as garbage. Its lines are dead letters at join time "
        "(invalid_value); declare it under `events` if it is real.")
  return declared


def events(p: Proposer) -> str | None:
  """Declares every event type; returns the conversion event (None without one)."""
  total = sum(p.details.lines.values())
  for event in _declared_events(p):
    lines = p.details.lines[event]
    fields, comments = {}, [f"{event}: {percent(lines, total)} detail-page lines."]
    for key, stats in sorted(p.details.fields[event].items()):
      field, comment = _event_field(p, key, stats, lines)
      comments.append(comment)
      if field is not None:
        fields[key] = field
    p.out.events[event] = Entry({"fields": fields} if fields else {}, comments)
  if not p.out.events:
    if p.label_event:
      raise ValueError(f"--label_event={p.label_event!r}: the sample has no "
                       "detail-page event.")
    p.out.notes.append("No detail-page event in the sample: no conversion task, "
                          "no post-event features.")
    return None
  return _conversion(p)


def _conversion(p: Proposer) -> str | None:
  """The conversion label's event: `--label_event`, else the policy of
  MIN_LABEL_POSITIVES / MIN_LABEL_SHARE and the names (the constants say why);
  None, said in the header, when no event passes."""
  clicks = p.measures.clicks
  window = defaults.proposed().attribution_window
  positives = {e: p.measures.positives(e) for e in p.out.events}
  floor = min(MIN_LABEL_POSITIVES, math.ceil(MIN_LABEL_SHARE * clicks))
  counted = ", ".join(f"{e} {percent(n, clicks)}" for e, n in sorted(
      positives.items(), key=lambda item: (-item[1], item[0])))
  policy = (f"Conversion label: an event that follows at least {floor:,} of the "
            f"{clicks:,} sampled clicked impressions (>= {MIN_LABEL_POSITIVES:,} "
            f"or >= {MIN_LABEL_SHARE:.0%} of them) within {window}; "
            "named like a conversion, else like an engagement (the most positives), "
            f"else the rarest on at most {MAX_LABEL_SHARE:.0%} of the clicks. "
            f"Clicks: {p.measures.click_source}. Positives: {counted}.")
  if p.label_event:
    if p.label_event not in p.out.events:
      raise ValueError(f"--label_event={p.label_event!r} is not a declared event "
                       f"of the sample; declared: {sorted(p.out.events)}.")
    conversion, why = p.label_event, "chosen by --label_event."
  else:
    passing = [e for e in p.out.events if positives[e] >= floor and positives[e]]
    tiers = ([e for e in passing if CONVERSION_NAMES.search(e.lower())],
             [e for e in passing if ENGAGEMENT_NAMES.fullmatch(e.lower())])
    rest = [e for e in passing if positives[e] <= MAX_LABEL_SHARE * clicks]
    if tiers[0] or tiers[1]:
      tier = tiers[0] or tiers[1]
      conversion = max(tier, key=lambda e: (positives[e], e))
      why = ("named like a conversion." if tiers[0] else
             "no event over the floor is named like a conversion; this one is "
             "named like an engagement.")
    elif rest:
      conversion = min(rest, key=lambda e: (positives[e], e))
      why = ("no event over the floor is named like a conversion or an engagement, "
             "so the rarest of them.")
    else:
      p.out.notes.append(
          policy + " No event passes: no conversion task and no post-event feature "
          "proposed; choose a label with --label_event=NAME.")
      return None
  p.out.notes.append(policy + f" Proposed: {conversion!r}.")
  p.out.events[conversion].comments.append(
      f"  The conversion label's event: {why} It follows "
      f"{percent(positives[conversion], clicks)} sampled clicked impressions.")
  return conversion


def _event_field(p: Proposer, key: str, stats: ValueStats, lines: int
                 ) -> tuple[dict[str, Any] | None, str]:
  """(The field's declaration or None, its comment line). A null or "" under a
  declared field is a dead letter too: only a line without the key lacks it."""
  numbers = (Range.of(stats, p.min_share)
             if stats.ints + stats.floats >= p.min_share * stats.seen else None)
  if numbers is None:
    return None, f"  Not a field: `{key}` holds " + (
        f"numbers on only {percent(stats.ints + stats.floats, stats.seen)} of the "
        "lines that carry it." if stats.ints + stats.floats < p.min_share
        * stats.seen else "no finite number.")
  dead = {"null or \"\"": stats.nulls + stats.empties,
          **numeric_dead(stats, numbers)}
  carrying = Reading(numbers.inside, stats.seen, dead, "lines that carry it")
  if not carrying.enough(p.min_share):
    return None, f"  Not a field: `{key}`. {carrying.describe()}"
  required = numbers.inside >= p.min_share * lines
  field = {"dtype": numbers.dtype.value, "bounds": list(numbers.bounds)}
  if required:
    field["required"] = True
    reading = Reading(numbers.inside, lines, {"lack it": lines - stats.seen, **dead},
                       "lines")
  else:
    reading = carrying
  return field, (
      f"  {key}: on {percent(stats.seen, lines)} lines; {numbers.describe()}. "
      + "".join(f"{text} " for text in reading.comment()) + (
          "Required: a line without it is a dead letter." if required
          else "Optional: a line without it counts 0."))


def tasks(p: Proposer, conversion: str | None) -> None:
  ctr = {"label": "click", "examples": "all",
         "description": "Coarse-ranking CTR on all impressions."}
  model_defaults = defaults.proposed().ctr_model_defaults
  if model_defaults:
    ctr["model_defaults"] = dict(model_defaults)
  p.out.tasks["ctr"] = Entry(ctr, [
      "The default spec's CTR deployment: a two-tower student, taught by a DCN that "
      "sees the cross features."])
  p.names.taken.add("click")
  if conversion is not None:
    p.conversion_label = p.names.take(conversion)
    p.out.tasks["cvr"] = Entry(
        {"label": p.conversion_label, "examples": "clicked",
         "description": "Fine-ranking CVR on clicked impressions."},
        [f"Conversion: a `{conversion}` after the click, learnt on clicked "
         "impressions."])


def labels(p: Proposer, conversion: str | None) -> list[Entry]:
  windows = defaults.proposed()
  entries = [Entry({"name": "click", "kind": "label",
                    "derive": {"op": "click", "window": windows.click_window},
                    "description": "A click within the click window."},
                   [f"A click counts up to {windows.click_window} after the "
                    "impression."])]
  if conversion is not None:
    entries.append(Entry(
        {"name": p.conversion_label, "kind": "label",
         "derive": {"op": "event", "event": conversion,
                    "window": windows.attribution_window},
         "description": f"1 when an event {conversion!r} falls within the "
                        "attribution window after the click."},
        [f"Attribution window: {windows.attribution_window} after the first "
         "click."]))
  return entries
