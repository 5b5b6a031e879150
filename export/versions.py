"""Versioned, atomic publication under `<export_base>/<model_name>/<version>/`.

TF Serving polls the model's base path and loads the highest integer-named directory.
A version is therefore written under a name a server ignores (`.staging-...`) and
renamed to its integer only once complete and validated: a server never sees half a
version. A refused candidate is renamed `.rejected-<version>` for inspection. On local
and HDFS file systems the rename is atomic; on object stores (gs://) a directory
rename is a copy, so point servers at a local mirror or publish with a copy-then-marker
step of your own.
"""

from __future__ import annotations

import posixpath
import time
import uuid

import tensorflow as tf

STAGING_PREFIX = ".staging-"
REJECTED_PREFIX = ".rejected-"


def model_base(export_base: str, model_name: str) -> str:
  if not model_name or "/" in model_name:
    raise ValueError(f"model_name must be a non-empty name without '/', got "
                     f"{model_name!r}.")
  return posixpath.join(export_base, model_name)


def published_versions(base: str) -> list[int]:
  """The integer-named versions under `base`, ascending (what a server would load)."""
  if not tf.io.gfile.isdir(base):
    return []
  names = (name.rstrip("/") for name in tf.io.gfile.listdir(base))
  return sorted(int(name) for name in names if name.isdigit())


def next_version(base: str) -> int:
  """Seconds since the epoch, bumped past the latest version if the clock is behind."""
  versions = published_versions(base)
  return max([int(time.time())] + [v + 1 for v in versions[-1:]])


def staging_dir(base: str, version: int) -> str:
  """A fresh directory name a server ignores, for writing `version` into."""
  return posixpath.join(base, f"{STAGING_PREFIX}{version}-{uuid.uuid4().hex[:8]}")


def require_new(base: str, version: int) -> str:
  """The path `version` will have; raises FileExistsError if it is taken (versions
  are immutable: a server may already have loaded it)."""
  target = posixpath.join(base, str(version))
  if tf.io.gfile.exists(target):
    raise FileExistsError(f"Version {version} already exists at {target}; versions "
                          "are immutable, export a new one.")
  return target


def publish(staging: str, base: str, version: int) -> str:
  """Renames a complete staging directory to its version; returns the version's path."""
  target = require_new(base, version)
  tf.io.gfile.rename(staging, target, overwrite=False)
  return target


def reject(staging: str, base: str, version: int) -> str:
  """Keeps a refused candidate out of the servers' sight; returns where it went."""
  target = posixpath.join(base, f"{REJECTED_PREFIX}{version}")
  tf.io.gfile.rename(staging, target, overwrite=False)
  return target
