"""TFRecord framing of a whole batch of records, and a Beam file sink for it.

Beam's `WriteToTFRecord` frames one element per record, and each element pays the
runner's per-element work; here a batch of records (a bucket's serialized Examples)
is framed at once and written as one element, with `FileBasedSink`'s public API
(shards, temporary files, the rename at the end).
"""

from __future__ import annotations

import struct
from typing import Iterable

from apache_beam import coders
from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes
import google_crc32c

_CRC_MASK_DELTA = 0xA282EAD8  # TFRecord's masking of its CRC32Cs.
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


def _masked_crc(data: bytes) -> bytes:
  crc = google_crc32c.value(data)
  return _CRC.pack((((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF)


def frame(records: Iterable[bytes]) -> bytes:
  """The records in TFRecord's framing: per record its uint64 length, the length's
  masked CRC32C, the data and the data's masked CRC32C."""
  parts = []
  for record in records:
    length = _LENGTH.pack(len(record))
    parts += (length, _masked_crc(length), record, _masked_crc(record))
  return b"".join(parts)


class FramedRecordSink(filebasedsink.FileBasedSink):
  """Writes elements that are already framed (`frame`) as they are: each element is
  a batch of TFRecords."""

  def __init__(self, file_path_prefix: str, shard_name_template: str):
    super().__init__(file_path_prefix, coder=coders.BytesCoder(), file_name_suffix="",
                     num_shards=0, shard_name_template=shard_name_template,
                     mime_type="application/octet-stream",
                     compression_type=CompressionTypes.AUTO)

  def write_encoded_record(self, file_handle, encoded_value: bytes) -> None:
    file_handle.write(encoded_value)
