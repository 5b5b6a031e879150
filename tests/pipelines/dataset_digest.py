"""A published dataset's content as digests: parse-equal examples give equal digests."""

import glob
import hashlib
import json
import os
import struct

from tensorflow_datasets.proto import tf_feature_pb2


def _records(path: str):
  with open(path, "rb") as f:
    data = f.read()
  offset = 0
  while offset < len(data):
    (length,) = struct.unpack_from("<Q", data, offset)
    yield data[offset + 12:offset + 12 + length]
    offset += 12 + length + 4


def _as_dict(serialized: bytes) -> dict:
  """tfds has no Example message: skip its one field's tag and length (a varint)."""
  offset = 1
  while serialized[offset] & 0x80:
    offset += 1
  features = tf_feature_pb2.Features.FromString(serialized[offset + 1:])
  out = {}
  for name, feature in features.feature.items():
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value) if kind else []
    out[name] = [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
  return out


def digests(data_dir: str) -> dict[str, str]:
  """View name -> sha256 of its examples sorted by impression_id; vocab/<name> -> the
  vocabulary file's sha256."""
  out = {}
  views = {}
  for path in glob.glob(os.path.join(data_dir, "*.tfrecord-*")):
    view = os.path.basename(path).split("-", 1)[1].split(".tfrecord", 1)[0]
    views.setdefault(view, []).extend(_as_dict(r) for r in _records(path))
  for view, examples in sorted(views.items()):
    examples.sort(key=lambda e: e["impression_id"])
    text = "\n".join(json.dumps(e, sort_keys=True) for e in examples)
    out[view] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    out[f"count/{view}"] = len(examples)
  for path in sorted(glob.glob(os.path.join(data_dir, "vocab", "*.txt"))):
    with open(path, "rb") as f:
      out[f"vocab/{os.path.basename(path)}"] = hashlib.sha256(f.read()).hexdigest()
  return out
