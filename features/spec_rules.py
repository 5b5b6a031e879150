"""The feature spec's rules, all of them: each raises ValueError naming the feature
(or task, identity key, slice) and the rule it breaks.

`FeatureSpec` runs `check_spec` when it is built, whether from a file or in code, so a
spec that exists is valid. The file's shape (keys, mappings, spellings) is the reader's
business (`features.spec_file`); what the values mean is checked here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from features import log_contract
from features.spec_types import DERIVED, DType, Event, Feature, Kind, Op, Role

if TYPE_CHECKING:
  from features.spec import FeatureSpec


def source_path(source: str) -> tuple[str, tuple[str, ...]]:
  """A logged feature's source as (scope, keys): 'user.geo.country' -> ('user',
  ('geo', 'country')).

  Raises:
    ValueError: a path no record can carry: an unknown scope, an empty key, an
      impression field below the top level, or a logged object read as a value.
  """
  scope, *keys = source.split(".")
  expected = ("expected impression.<field>, user.<key> or item.<key> (nested keys "
              "dotted: user.geo.country)")
  objects = log_contract.LOGGED_OBJECTS
  scopes = (log_contract.IMPRESSION_SCOPE, *objects)
  if scope not in scopes or not keys or not all(keys):
    raise ValueError(f"source {source!r} cannot exist: {expected}")
  if scope == log_contract.IMPRESSION_SCOPE:
    if keys[0] in objects:
      raise ValueError(f"source {source!r} cannot exist: {keys[0]!r} is a logged "
                       f"object, not a value; read its keys as {keys[0]}.<key>")
    if len(keys) > 1:
      raise ValueError(f"source {source!r} cannot exist: impression fields are read "
                       "at the top level only (impression.<field>)")
  return scope, tuple(keys)


def check_event(event: Event) -> None:
  for field in event.fields:
    if field.dtype is DType.STRING:
      raise ValueError(f"event {event.name!r} field {field.name!r}: event fields are "
                       "numbers (int64 or float32)")


def check_feature(f: Feature) -> None:
  """The rules one feature keeps on its own."""
  if f.privileged_in & f.excluded_from:
    raise ValueError(f"feature {f.name!r} is both privileged and excluded for "
                     f"{sorted(f.privileged_in & f.excluded_from)}")
  needs_vocab = f.kind in (Kind.CATEGORICAL, Kind.SEQUENCE)
  if needs_vocab != (f.vocabulary is not None):
    raise ValueError(f"feature {f.name!r} of kind {f.kind.value} "
                     f"{'needs' if needs_vocab else 'cannot have'} a vocabulary")
  if needs_vocab and f.dtype is not DType.STRING:
    raise ValueError(f"feature {f.name!r}: ids are stored as strings, got "
                     f"{f.dtype.value}")
  for key in ("min_count_days", "retire_after_days"):
    days = getattr(f, key)
    if days is not None and (f.vocabulary is None or not isinstance(days, int)
                             or isinstance(days, bool) or days < 1):
      raise ValueError(f"feature {f.name!r}: {key} is a whole number of days >= 1 "
                       f"for a feature with a vocabulary, got {days!r}")
  if (f.kind is Kind.SEQUENCE) != (f.max_length is not None):
    raise ValueError(f"feature {f.name!r}: max_length is for sequences only, "
                     "and sequences need one")
  if (f.source == DERIVED) != (f.derive is not None):
    raise ValueError(f"feature {f.name!r}: a derived feature needs `derive`, "
                     "and only a derived one has it")
  if f.source != DERIVED:
    try:
      source_path(f.source)
    except ValueError as e:
      raise ValueError(f"feature {f.name!r}: {e}") from None
  if f.bounds is not None and f.kind is not Kind.NUMERIC:
    raise ValueError(f"feature {f.name!r}: bounds are for numeric features")


def check_spec(spec: FeatureSpec) -> None:
  """Every rule of a spec: its features' and events' own, then those that tie the
  features, tasks, events, identity and slices together."""
  for f in spec.features:
    check_feature(f)
  for event in spec.events.values():
    check_event(event)
  names = [f.name for f in spec.features]
  duplicated = sorted({n for n in names if names.count(n) > 1})
  if duplicated:
    raise ValueError(f"feature names must be unique; repeated: {duplicated}")
  if not spec.tasks:
    raise ValueError("the spec declares no task")
  for t in spec.tasks.values():
    if t.label not in spec or spec[t.label].kind is not Kind.LABEL:
      raise ValueError(f"task {t.name!r}: its label {t.label!r} is not a feature of "
                       "kind label")
    for label in t.auxiliary_labels:
      if label not in spec or spec[label].kind is not Kind.LABEL:
        raise ValueError(f"task {t.name!r}: its auxiliary label {label!r} is not a "
                         "feature of kind label")
    labels = [t.label, *t.auxiliary_labels]
    if len(set(labels)) != len(labels):
      raise ValueError(f"task {t.name!r}: auxiliary_labels {list(t.auxiliary_labels)} "
                       f"repeat a label or name the task's own ({t.label!r})")
  for role, key in (("user", "user"), ("item", "item")):
    name = spec.identity.get(key)
    if name is None:
      raise ValueError(f"identity: {role!r} must name the feature that identifies "
                       f"a {role}")
    if name not in spec or spec[name].kind is not Kind.CATEGORICAL:
      raise ValueError(f"identity: {role}={name!r} is not a categorical feature")
  if not spec[spec.identity["user"]].source.startswith(
      f"{log_contract.IMPRESSION_SCOPE}."):
    raise ValueError(f"identity: user={spec.identity['user']!r} must be read from a "
                     "top-level impression field (impression.<field>): the join "
                     "groups each user's impressions by it")
  request = spec.identity.get("request")
  if request is not None and (request not in spec or spec[request].kind
                              not in (Kind.METADATA, Kind.CATEGORICAL)):
    raise ValueError(f"identity: request={request!r} is not a metadata or "
                     "categorical feature")
  unknown = set(spec.identity) - {"user", "item", "request"}
  if unknown:
    raise ValueError(f"identity: unknown keys {sorted(unknown)}; known: item, "
                     "request, user")
  for s in spec.slices:
    if s.feature not in spec or spec[s.feature].kind is not Kind.NUMERIC:
      raise ValueError(f"evaluation slice {s.name!r}: {s.feature!r} is not a numeric "
                       "feature")
    if not 0 < s.top_fraction <= 1:
      raise ValueError(f"evaluation slice {s.name!r}: top_fraction must be in "
                       f"(0, 1], got {s.top_fraction}")
  _check_sources(spec)
  for f in spec.features:
    unknown = (f.privileged_in | f.excluded_from) - set(spec.tasks)
    if unknown:
      raise ValueError(f"feature {f.name!r} names unknown tasks {sorted(unknown)}; "
                       f"tasks: {sorted(spec.tasks)}")
    if f.derive is not None:
      _check_derivation(spec, f)
  clicks = [f.name for f in spec.features if f.derive and f.derive.op is Op.CLICK]
  if len(clicks) != 1:
    raise ValueError(f"the spec needs exactly one click label (derive: {{op: click}}),"
                     f" got {clicks}")


def _check_sources(spec: FeatureSpec) -> None:
  """No logged feature reads a path inside another's value (a value cannot also be
  an object)."""
  paths = {source_path(f.source): f.name for f in spec.logged()}
  for (scope, keys), name in paths.items():
    for depth in range(1, len(keys)):
      outer = paths.get((scope, keys[:depth]))
      if outer is not None:
        raise ValueError(
            f"feature {name!r} reads {scope}.{'.'.join(keys)}, inside the value of "
            f"feature {outer!r} ({scope}.{'.'.join(keys[:depth])}): a value cannot "
            "also be an object")


def _check_derivation(spec: FeatureSpec, f: Feature) -> None:
  d = f.derive

  def fail(rule: str):
    raise ValueError(f"feature {f.name!r} (derive op {d.op.value}): {rule}")

  if d.op.is_label != (f.kind is Kind.LABEL):
    fail("labels are derived by op click or event, and those derive labels only")
  if d.event is not None and d.event not in spec.events:
    fail(f"event {d.event!r} is not declared under events (declared: "
         f"{sorted(spec.events)})")
  if (d.event is None) == (d.op in (Op.EVENT,) or d.op.is_post_event):
    fail("names an event" if d.event is not None else "needs an event")
  if d.op in (Op.CLICK, Op.EVENT, Op.CLICKS_SHARING) and not d.window_ms:
    fail("needs a window (e.g. 30m, 24h)")
  if d.op in (Op.SUM, Op.MAX):
    fields = {x.name for x in spec.events[d.event].fields}
    if d.field not in fields:
      fail(f"field {d.field!r} is not a field of event {d.event!r} (fields: "
           f"{sorted(fields)})")
  elif d.field is not None:
    fail("only sum and max take a field")
  if d.op in (Op.HISTORY, Op.CLICKS_SHARING):
    of = spec[d.of] if d.of in spec else None
    if of is None or of.kind is not Kind.CATEGORICAL or of.source == DERIVED:
      fail(f"`of` must name a logged categorical feature, got {d.of!r}")
    if d.op is Op.HISTORY and f.kind is not Kind.SEQUENCE:
      fail("a history is a sequence feature")
  elif d.of is not None:
    fail("only history and clicks_sharing take `of`")
  if d.op is Op.CLICKS_SHARING and f.kind is not Kind.NUMERIC:
    fail("a clicks_sharing count is a numeric feature")
  if d.op.is_post_event:
    if f.kind is not Kind.NUMERIC:
      fail("a post-event aggregate is a numeric feature")
    for t in spec.tasks.values():
      role = f.role(t.name)
      if role is Role.REGULAR:
        fail(f"post-event features do not exist when a ranker scores: make it "
             f"privileged or excluded for task {t.name!r}")
      if not t.clicked_only and role is not Role.EXCLUDED:
        fail(f"it is 0 without a click and would leak the click label of task "
             f"{t.name!r} (examples: all): exclude it there")
    before = post_event_label(spec, f)
    if before is None:
      fail("its window needs an event label to end before: set `before`, or make "
           "it privileged for a task with an event label")
  elif d.before is not None:
    fail("only post-event aggregates take `before`")


def post_event_label(spec: FeatureSpec, feature: Feature) -> str | None:
  """The event label whose first event (or window end) ends `feature`'s window."""
  d = feature.derive
  labels = ({d.before} if d.before is not None
            else {spec.tasks[t].label for t in feature.privileged_in})
  if len(labels) > 1:
    raise ValueError(f"feature {feature.name!r}: privileged for tasks with different "
                     f"labels {sorted(labels)}; set `before` to one of them")
  if not labels:
    return None
  (label,) = labels
  if (label not in spec or spec[label].derive is None
      or spec[label].derive.op is not Op.EVENT):
    raise ValueError(f"feature {feature.name!r}: `before` must name an event label "
                     f"(derive op event), got {label!r}")
  return label
