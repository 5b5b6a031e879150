"""TFRecord framing of a whole batch of records, and a Beam file sink for it.

Beam's `WriteToTFRecord` frames one element per record, and each element pays the
runner's per-element work; here a batch of records (a bucket's serialized Examples)
is framed at once and written as one element, with `FileBasedSink`'s public API
(shards, temporary files, the rename at the end).
"""

from __future__ import annotations

import functools
import itertools
import struct
from typing import Iterable, Sequence

from apache_beam import coders
from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes
import google_crc32c
import numpy as np

_CRC_MASK_DELTA = np.uint32(0xA282EAD8)  # TFRecord's masking of its CRC32Cs.
_LENGTH = struct.Struct("<Q")


def _masked_crcs(data: Sequence[bytes]) -> np.ndarray:
  """Each item's CRC32C, masked as TFRecord masks them (little-endian uint32s)."""
  crcs = np.fromiter(map(google_crc32c.value, data), np.uint32, len(data))
  return (((crcs >> 15) | (crcs << 17)) + _CRC_MASK_DELTA).astype("<u4")


@functools.lru_cache(maxsize=4096)
def _header(length: int) -> bytes:
  """A record's uint64 length and that length's masked CRC32C."""
  packed = _LENGTH.pack(length)
  return packed + _masked_crcs([packed]).tobytes()


def frame(records: Iterable[bytes]) -> bytes:
  """The records in TFRecord's framing: per record its uint64 length, the length's
  masked CRC32C, the data and the data's masked CRC32C.

  Records of a batch repeat their lengths, so a header is made once per length;
  the data's CRCs are masked together, by numpy.
  """
  records = list(records)
  headers = map(_header, map(len, records))
  footers = _masked_crcs(records).view("V4").tolist()
  return b"".join(itertools.chain.from_iterable(zip(headers, records, footers)))


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
