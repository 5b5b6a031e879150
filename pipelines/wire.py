"""Bytes wire forms of the job's shuffled records.

Records cross a shuffle in batches (`Batches`), each the marshal of a list of plain
tuples (values without their feature names), and are rebuilt on arrival; the typed
records stay the API of the pure modules. Bytes rather than the tuples themselves:
Beam's coder pickles NamedTuples field by field, and the local runner holds every
grouped value decoded in memory, several times the size of its bytes; marshal (C)
encodes and decodes a record faster than the coder.

marshal's format is stable within a Python version; every worker of one job runs the
same one, and the bytes never outlive the job.
"""

from __future__ import annotations

import collections
import marshal
import operator
import zlib
from typing import (Callable, Container, Iterable, Mapping, NamedTuple, Sequence,
                    TypeVar)

from pipelines.impression_join import JoinedImpression
from pipelines.log_records import Click, DetailEvent, Impression, Log

_MARSHAL_VERSION = 4
# The id hash's range (`join_key`); a shuffle's buckets are this hash modulo their
# number (`bucket`), so one hash serves any bucket count.
JOIN_BUCKETS = 1 << 15
_USER_ID = Impression._fields.index("user_id")
_TS_MS = Impression._fields.index("ts_ms")
# Where each log's wire fields hold the record's ts_ms.
TS_FIELD = {Log.IMPRESSIONS: _TS_MS, Log.CLICKS: Click._fields.index("ts_ms"),
            Log.DETAIL_PAGES: DetailEvent._fields.index("ts_ms")}
_LOGS = tuple(Log)
_LOG_TAGS = {log: bytes((i,)) for i, log in enumerate(_LOGS)}

WireBatch = bytes
# Records per shuffled batch: the runner's per-element work is paid once for them.
BATCH_RECORDS = 512
# Records a worker holds while it gathers batches.
BUFFERED_RECORDS = 1 << 16
_Record = TypeVar("_Record", bound=NamedTuple)


def impression_fields(impression: Impression) -> tuple:
  """Values travel without their names: they are in `value_names` order."""
  return (*impression[:-2], tuple(impression.values.values()), impression.source)


def impression_from_fields(fields: tuple, value_names: Sequence[str]) -> Impression:
  """An impression from its decoded wire form (`by_impression`'s)."""
  *head, values, source = fields
  return Impression(*head, dict(zip(value_names, values)), source)


def record_from_fields(fields: tuple, record_type: type[_Record]) -> _Record:
  """A flat record from its decoded wire form (`by_impression`'s)."""
  return record_type._make(fields)


def batch_to_wire(log: Log, records: Sequence[tuple]) -> WireBatch:
  """One log's records as wire fields (`impression_fields`, or a Click's or a
  DetailEvent's tuple) -> one shuffled element, prefixed with its log.

  A batch per element rather than a record: the runner's work per element (coding,
  dispatch, grouping) is paid once for hundreds of records. The log prefix lets the
  three logs group as one bytes stream, where a CoGroupByKey would wrap every value
  in a (tag, value) tuple that the local runner holds decoded.
  """
  return _LOG_TAGS[log] + marshal.dumps(list(records), _MARSHAL_VERSION)


def join_key(impression_id: str) -> int:
  """A key's hash in [0, JOIN_BUCKETS), the same in every process (crc32, not
  Python's salted hash)."""
  return zlib.crc32(impression_id.encode("utf-8")) & (JOIN_BUCKETS - 1)


def bucket(key: str, buckets: int) -> int:
  """The shuffle bucket of an impression_id or a user: `join_key` modulo `buckets`."""
  return join_key(key) % buckets


def buckets(keys: Iterable[str], buckets: int) -> list[int]:
  """`bucket` of each key (`join_key` inlined: it runs once per record)."""
  mask, crc32 = JOIN_BUCKETS - 1, zlib.crc32
  return [(crc32(key.encode("utf-8")) & mask) % buckets for key in keys]


def by_log(batches: Iterable[WireBatch]) -> dict[Log, list[tuple]]:
  """Batches of one join bucket -> each log's decoded records (empty lists
  included)."""
  records: dict[Log, list[tuple]] = {log: [] for log in _LOGS}
  for batch in batches:
    records[_LOGS[batch[0]]].extend(marshal.loads(memoryview(batch)[1:]))
  return records


def by_impression(records: Mapping[Log, list[tuple]],
                  ids: Container[str] | None = None
                  ) -> dict[str, dict[Log, list[tuple]]]:
  """Each log's decoded records (`by_log`) -> impression_id -> each log's records
  (empty lists included), for the ids in `ids` (default: all). Every record's wire
  form starts with its impression_id."""
  groups: dict[str, dict[Log, list[tuple]]] = {}
  for log, log_records in records.items():
    for fields in log_records:
      if ids is not None and fields[0] not in ids:
        continue
      group = groups.get(fields[0])
      if group is None:
        group = groups[fields[0]] = {log: [] for log in _LOGS}
      group[log].append(fields)
  return groups


def _joined_fields(impression_fields_: tuple, click: int, click_ts_ms: int,
                   labels: tuple | None, post_events: tuple | None) -> tuple:
  """The one layout of a joined record, flat: the impression's fields but its
  source, then the join's."""
  return (*impression_fields_[:-1], click, click_ts_ms, labels, post_events)


def joined_fields(joined: JoinedImpression) -> tuple:
  """The impression's source is left behind: only dead letters name it, and the
  join decides all of them. Labels and post events without a click (~96% of
  impressions) travel as None."""
  return _joined_fields(impression_fields(joined.impression), joined.click,
                        joined.click_ts_ms, joined.labels, joined.post_events)


def lone_impressions_joined(impressions: Iterable[tuple]) -> list[tuple]:
  """Impressions without any event, decoded (`by_log`) -> their `joined_fields`.

  Such an impression joins to no click, no purchase and no post events
  (`impression_join.join_impression`); that is ~95% of impressions, and this builds
  `joined_fields` of that result without rebuilding the record.
  """
  return [_joined_fields(fields, 0, -1, None, None) for fields in impressions]


# An impression's wire fields (`impression_fields`) -> its user_id, its ts_ms; a
# `joined_fields` -> its sort key (user, ts_ms, impression_id). Getters in C: they
# run once per record.
impression_user = operator.itemgetter(_USER_ID)
impression_ts = operator.itemgetter(_TS_MS)
joined_order = operator.itemgetter(_USER_ID, _TS_MS, 0)


class JoinedColumns(NamedTuple):
  """`joined_fields` records as columns."""
  impression_ids: Sequence[str]
  users: Sequence[str]
  ts_ms: Sequence[int]
  values: list[Sequence]  # A column per value, in `value_names` order.
  clicks: Sequence[int]
  click_ts_ms: Sequence[int]
  labels: Sequence[tuple | None]
  post_events: Sequence[tuple | None]

  @classmethod
  def of(cls, joined: Sequence[tuple], values: int) -> JoinedColumns:
    """The columns of `joined`, whose impressions hold `values` values each."""
    if not joined:
      return cls((), (), (), [()] * values, (), (), (), ())
    ids, users, ts_ms, value_rows, *joins = zip(*joined)
    return cls(ids, users, ts_ms, list(zip(*value_rows)) if values else [], *joins)


def joined_batch_to_wire(joined: Sequence[tuple]) -> WireBatch:
  return marshal.dumps(list(joined), _MARSHAL_VERSION)


def joined_batch_from_wire(batch: WireBatch) -> list[tuple]:
  return marshal.loads(batch)


# A user-state batch's first byte: no marshal stream starts with it (its type codes
# are printable), so state and joined batches share the user grouping untagged.
_STATE_TAG = b"\x00"


def state_batch_to_wire(rows: Sequence[tuple]) -> WireBatch:
  """`user_state` rows (user, click ts_ms, attributes) -> one shuffled element."""
  return _STATE_TAG + marshal.dumps(list(rows), _MARSHAL_VERSION)


def is_state_batch(batch: WireBatch) -> bool:
  return batch[:1] == _STATE_TAG


def state_batch_from_wire(batch: WireBatch) -> list[tuple]:
  return marshal.loads(memoryview(batch)[1:])


class Batches:
  """Records gathered per shuffle bucket, handed on as (bucket, batch): a bucket's
  once it has `BATCH_RECORDS`, every bucket's once `BUFFERED_RECORDS` wait in all
  (which bounds a worker's memory whatever the data's size), and the rest at the
  end (`drain`)."""

  def __init__(self, to_wire: Callable[[list[tuple]], bytes]):
    self._to_wire = to_wire
    self._buckets: dict[int, list[tuple]] = collections.defaultdict(list)
    self._buffered = 0

  def extend(self, buckets: Iterable[int], records: Iterable[tuple]
             ) -> list[tuple[int, bytes]]:
    """Adds each record to its bucket; returns the batches that filled up."""
    gathered, to_wire, full = self._buckets, self._to_wire, []
    buffered = self._buffered
    for bucket, record in zip(buckets, records):
      gathered_records = gathered[bucket]
      gathered_records.append(record)
      buffered += 1
      if len(gathered_records) >= BATCH_RECORDS:
        del gathered[bucket]
        buffered -= len(gathered_records)
        full.append((bucket, to_wire(gathered_records)))
      elif buffered >= BUFFERED_RECORDS:
        full += self.drain()
        buffered = 0
    self._buffered = buffered
    return full

  def drain(self) -> list[tuple[int, bytes]]:
    batches = [(b, self._to_wire(records)) for b, records in self._buckets.items()]
    self._buckets.clear()
    self._buffered = 0
    return batches
