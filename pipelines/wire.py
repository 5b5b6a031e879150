"""Bytes wire forms of the job's shuffled records.

Every record that crosses a shuffle travels as the marshal of a plain tuple (values
without their feature names) and is rebuilt on arrival; the typed records stay the
API of the pure modules. Why bytes and not the tuple itself:

* Beam's FastPrimitivesCoder pickles NamedTuple subclasses element by element (398
  bytes and ~12 us to encode and decode an impression, against ~200 bytes and ~2 us
  as a plain tuple).
* A plain tuple is still decoded into Python objects wherever the runner groups: the
  local FnApiRunner holds every grouped value in memory, and an impression as a tuple
  of str/int/float is ~1.4 kB there against ~0.2 kB as bytes. As bytes the runner's
  decode and re-encode of a value is a copy, and marshal (C) encodes and decodes a
  record faster than the coder's per-field work (measured: 1.0 + 0.7 us against
  1.1 + 1.6 us, paid once per shuffle instead of on every hop).

marshal's format is stable within a Python version; every worker of one job runs the
same one, and the bytes never outlive the job.
"""

from __future__ import annotations

import marshal
import zlib
from typing import Iterable, NamedTuple, Sequence, TypeVar

from pipelines.impression_join import JoinedImpression
from pipelines.log_records import Impression, Log

_MARSHAL_VERSION = 4
# The impression join groups by a bucket of the impression_id, not by the id: a group
# per impression (1M at 1M impressions) cost the local runner ~4 us each to regroup
# and re-encode, alone on one core between two stages, and each worker as much again
# to decode and dispatch. 2**15 buckets keep groups small (~30 lines at 1M
# impressions, ~30k at 1B) and still spread a join over thousands of workers.
JOIN_BUCKETS = 1 << 15
_USER_ID = Impression._fields.index("user_id")
_TS_MS = Impression._fields.index("ts_ms")
_LOGS = tuple(Log)
_LOG_TAGS = {log: bytes((i,)) for i, log in enumerate(_LOGS)}

WireRecord = bytes
WireImpression = bytes
WireJoined = bytes
_Record = TypeVar("_Record", bound=NamedTuple)


def _impression_fields(impression: Impression) -> tuple:
  """Values travel without their names: they are in `value_names` order."""
  return (*impression[:-2], tuple(impression.values.values()), impression.source)


def impression_from_fields(fields: tuple, value_names: Sequence[str]) -> Impression:
  """An impression from its decoded wire form (`by_impression`'s)."""
  *head, values, source = fields
  return Impression(*head, dict(zip(value_names, values)), source)


def impression_to_wire(impression: Impression) -> WireImpression:
  return marshal.dumps(_impression_fields(impression), _MARSHAL_VERSION)


def record_to_wire(record: NamedTuple) -> WireRecord:
  """A flat record of scalars (a Click, a DetailEvent)."""
  return marshal.dumps(tuple(record), _MARSHAL_VERSION)


def record_from_fields(fields: tuple, record_type: type[_Record]) -> _Record:
  """A flat record from its decoded wire form (`by_impression`'s)."""
  return record_type._make(fields)


def tag(log: Log, record: WireRecord) -> bytes:
  """Prefixes the record with its log, so the three logs group as one bytes stream.

  A CoGroupByKey would wrap every value in a (tag, value) tuple that the local runner
  holds decoded, one more object per grouped line.
  """
  return _LOG_TAGS[log] + record


def join_key(impression_id: str) -> int:
  """The impression join's shuffle key: the id's bucket, the same in every process
  (crc32, not Python's salted hash)."""
  return zlib.crc32(impression_id.encode("utf-8")) & (JOIN_BUCKETS - 1)


def by_impression(tagged: Iterable[bytes]) -> dict[str, dict[Log, list[tuple]]]:
  """Tagged records of one join bucket -> impression_id -> each log's decoded records
  (empty lists included). Every record's wire form starts with its impression_id."""
  groups: dict[str, dict[Log, list[tuple]]] = {}
  for record in tagged:
    fields = marshal.loads(record[1:])
    group = groups.get(fields[0])
    if group is None:
      group = groups[fields[0]] = {log: [] for log in _LOGS}
    group[_LOGS[record[0]]].append(fields)
  return groups


def _joined_wire(impression_fields: tuple, click: int, click_ts_ms: int,
                 labels: tuple | None, post_events: tuple | None) -> WireJoined:
  """The one layout of a joined record; the impression's source is left behind."""
  return marshal.dumps(((*impression_fields[:-1], ""), click, click_ts_ms, labels,
                        post_events), _MARSHAL_VERSION)


def joined_to_wire(joined: JoinedImpression) -> WireJoined:
  """The impression's source is left behind: only dead letters name it, and the
  join decides all of them (it is "" after `joined_from_wire`). Labels and post
  events without a click (~96% of impressions) travel as None."""
  return _joined_wire(_impression_fields(joined.impression), joined.click,
                      joined.click_ts_ms, joined.labels, joined.post_events)


def lone_impression_to_joined_wire(fields: tuple) -> tuple[str, int, WireJoined]:
  """An impression without any event, decoded (`by_impression`) -> (user_id, ts_ms,
  its joined wire form).

  Such an impression joins to no click, no purchase and no post events
  (`impression_join.join_impression`); that is ~95% of impressions, and this builds
  `joined_to_wire` of that result from the fields without rebuilding the record.
  """
  return fields[_USER_ID], fields[_TS_MS], _joined_wire(fields, 0, -1, None, None)


def joined_from_wire(wire: WireJoined, value_names: Sequence[str]) -> JoinedImpression:
  impression, click, click_ts_ms, labels, post_events = marshal.loads(wire)
  return JoinedImpression(impression_from_fields(impression, value_names), click,
                          click_ts_ms, labels, post_events)

