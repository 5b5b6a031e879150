"""A published dataset's content as digests: parse-equal examples give equal digests.

Also the one recipe for `golden/default_world_20k.json`, the digests that
`test_default_spec_parity.py` pins: `golden_world_digests` simulates the golden world
and joins it with the current code, for the test and for regeneration alike. From the
repository root,

  .venv/bin/python tests/pipelines/dataset_digest.py             # what differs
  .venv/bin/python tests/pipelines/dataset_digest.py --regenerate

the first lists the keys whose digest the current code changes (exit status 1 if
any), the second rewrites the golden file.

Regenerating is legitimate only in a commit that means to change the examples'
bytes or the vocabularies: a feature, label rule, window or encoding of the join
changed on purpose, or the simulator's world changed (with the join untouched);
that commit says which. A digest that changes when no such change was meant is a
regression the test caught: fix the code, not the golden file.
"""

import argparse
import dataclasses
import glob
import hashlib
import json
import os
import struct
import sys
import tempfile

from tensorflow_datasets.proto import tf_feature_pb2

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden",
                      "default_world_20k.json")
GOLDEN_IMPRESSIONS = 20_000  # Of the "tiny" preset: every view has some examples.


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


def examples(data_dir: str, split: str = "train"):
  """The examples of a split's shards (not its clicked view), as dicts of lists."""
  for path in sorted(glob.glob(os.path.join(data_dir, f"pfd-{split}.tfrecord-*"))):
    yield from map(_as_dict, _records(path))


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


def golden_world_digests(root: str) -> dict[str, str]:
  """The digests `GOLDEN` holds, from the current code: the "tiny" world at
  `GOLDEN_IMPRESSIONS` simulated under `root`, joined with the default spec.

  Imported here, not at the top: `digests` alone needs neither the simulator nor
  Beam, and run as a script the repository is put on the path first.
  """
  # pylint: disable=g-import-not-at-top
  from simulation import preset, simulate
  from world_fixtures import run_join
  raw_dir, examples_dir = os.path.join(root, "raw"), os.path.join(root, "examples")
  simulate(dataclasses.replace(preset("tiny"), num_impressions=GOLDEN_IMPRESSIONS),
           raw_dir, with_oracle=False)
  run_join(raw_dir, examples_dir)
  return digests(examples_dir)


def main(argv: list[str] | None = None) -> int:
  """Compares the current code's golden digests with `GOLDEN`, or rewrites it."""
  parser = argparse.ArgumentParser(description=main.__doc__)
  parser.add_argument("--regenerate", action="store_true",
                      help=f"rewrite {os.path.relpath(GOLDEN)} (only for an intended "
                      "change of the examples' bytes; see this module's docstring)")
  args = parser.parse_args(argv)
  with tempfile.TemporaryDirectory() as root:
    current = golden_world_digests(root)
  if args.regenerate:
    with open(GOLDEN, "w") as f:
      f.write(json.dumps(current, indent=1) + "\n")
    print(f"wrote {GOLDEN}")
    return 0
  with open(GOLDEN) as f:
    golden = json.load(f)
  changed = sorted(k for k in golden.keys() | current.keys()
                   if golden.get(k) != current.get(k))
  for key in changed:
    print(f"{key}: {golden.get(key)} -> {current.get(key)}")
  print(f"{len(changed)} of {len(golden)} golden digests differ from the current code")
  return 1 if changed else 0


if __name__ == "__main__":
  # Run as a script: the repository (simulation, pipelines) and tests/
  # (world_fixtures) on the path, as pytest puts them.
  _TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  sys.path[:0] = [os.path.dirname(_TESTS), _TESTS]
  sys.exit(main())
