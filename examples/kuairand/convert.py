r"""KuaiRand's own files -> the raw logs of LOG_CONTRACT.md (impressions, clicks, detail pages).

  python -m examples.kuairand.convert --data_dir=../shared/data/kuairand \
      --output_dir=workspace/kuairand/raw [--max_users=2000]

A conversion, not a Parquet source in the join: the join's log contract stays one format,
so its checks (types, bounds, duplicates, orphans, day anomalies) and its dead letters
apply to these logs unchanged, and the logs are what a producer would deliver. pyarrow
reads the Parquet and CSV files (a well-kept columnar reader); the rows become lines with
numpy, in well under a minute for the 228k-row sample.

Per exposure row (KuaiRand has no request id and one timestamp, `time_ms`, per row):
- an impression at `time_ms`: `impression_id` `<user>-<video>-<time_ms>` (`-<k>` added for
  the k-th repeat of the same triple, k >= 1: the dataset repeats some rows), `user_id`,
  `item_id` (the video id), `tab` (the app page: a context field), `user` (the row of the
  user features file, less `user_id`) and `item` (the video features file's `author_id`,
  `tag`, `video_type`, `upload_type`, `music_type`, `duration_ms`; `tag` is the file's
  string as is, e.g. `"20,43"`);
- when `is_click`: a click 1 ms later, then detail-page events each 1 ms after the last:
  `play {dwell_ms: play_time_ms}` (when > 0), `profile {stay_ms: profile_stay_time}`
  (when `is_profile_enter` or the stay > 0), `comment_page {stay_ms: comment_stay_time}`
  (when > 0), then `like`, `follow`, `comment`, `forward` as flagged. The order is a
  choice (the dataset times none of them): consumption first, reactions after, so every
  consumption signal precedes a like and is a post-click feature of the like task.
- an exposure without a click gets no event, even where the row records play time (the
  feed autoplays: 83% of the sample's unclicked rows have some) or a like (703 of its
  3,915 likes): the contract has detail pages only after a click (the join would
  dead-letter them), and the like task is defined on clicks.

One file per log and UTC day of the impression (`impressions/impressions-<YYYY-MM-DD>
.jsonl.gz`, likewise `clicks/`, `detail_pages/`), as simulation.generate writes them; a
second run replaces the first. The output directory also gets the dataset's license
(`LICENSE_KuaiRand`, CC BY-SA 4.0), its README as `README_KuaiRand.md` where there is one,
and `NOTICE.md` (what was derived, from which files): keep them with anything derived.
"""

from __future__ import annotations

import dataclasses
import glob as glob_lib
import gzip
import json
import math
import os
import shutil
import time
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
from pyarrow import csv as pa_csv
from pyarrow import parquet as pq

import cli
import config_flags
from config_flags import knob

DAY_MS = 86_400_000
LOGS = ("impressions", "clicks", "detail_pages")
LICENSE = "LICENSE_KuaiRand"
_GZIP_LEVEL = 1  # The logs are read once, by the join.

# The columns of the dataset's exposure logs this job reads (the sample's Parquet adds
# columns derived by another repository: never read).
_ID_COLUMNS = ("user_id", "video_id", "time_ms", "tab", "is_click")
_VIDEO_KEYS = {  # item key -> the video features file's column.
    "author_id": "author_id", "tag": "tag", "video_type": "video_type",
    "upload_type": "upload_type", "music_type": "music_type",
    "duration_ms": "video_duration"}


@dataclasses.dataclass(frozen=True)
class DetailEvent:
  """A detail-page event a clicked row implies.

  Attributes:
    name: the `event` value.
    when: columns of which any > 0 marks the event.
    field: the event's numeric field and the column it takes (none: a bare event).
  """
  name: str
  when: tuple[str, ...]
  field: tuple[str, str] | None = None


# In time order after the click (1 ms apart); the spec declares the same events.
DETAIL_EVENTS = (
    DetailEvent("play", ("play_time_ms",), ("dwell_ms", "play_time_ms")),
    DetailEvent("profile", ("is_profile_enter", "profile_stay_time"),
                ("stay_ms", "profile_stay_time")),
    DetailEvent("comment_page", ("comment_stay_time",), ("stay_ms", "comment_stay_time")),
    DetailEvent("like", ("is_like",)),
    DetailEvent("follow", ("is_follow",)),
    DetailEvent("comment", ("is_comment",)),
    DetailEvent("forward", ("is_forward",)),
)
LOG_COLUMNS = tuple(dict.fromkeys(
    _ID_COLUMNS + tuple(c for e in DETAIL_EVENTS
                        for c in e.when + ((e.field[1],) if e.field else ()))))


@dataclasses.dataclass(frozen=True)
class ConvertJob:
  """Which KuaiRand files to read, and where the logs go."""
  data_dir: str = knob(help="The KuaiRand files: exposure logs, user and video features.")
  output_dir: str = knob(help="Where the raw logs go (replaced).")
  logs: tuple[str, ...] = knob(
      ("processed_splits_*.parquet",),
      "Globs, under --data_dir, of the exposure logs (.parquet or .csv); the full "
      "KuaiRand-Pure: log_standard_4_08_to_4_21_pure.csv,log_standard_4_22_to_5_08_pure.csv.")
  user_features: str = knob("user_features_pure.csv", "The user features file, under "
                            "--data_dir (KuaiRand-1K: user_features_1k.csv).")
  video_features: str = knob("video_features_basic_pure.csv", "The video features file, "
                             "under --data_dir (KuaiRand-1K: video_features_basic_1k.csv).")
  license: str = knob(LICENSE, "The dataset's license (CC BY-SA 4.0), under --data_dir or "
                      "a path: copied beside the logs.")
  max_users: int = knob(0, "Keep the exposures of this many users, those with the "
                        "smallest ids (a fixed subset, for tests); 0: all.")


@dataclasses.dataclass(frozen=True)
class Exposures:
  """The exposure rows: per column of LOG_COLUMNS an [n] int64 array, in the logs'
  file and row order."""
  columns: Mapping[str, np.ndarray]

  def __len__(self) -> int:
    return len(self.columns["user_id"])

  def __getitem__(self, name: str) -> np.ndarray:
    return self.columns[name]

  def take(self, rows: np.ndarray) -> "Exposures":
    return Exposures({name: values[rows] for name, values in self.columns.items()})


def _read_table(path: str, columns: Sequence[str] | None = None,
                strings: Sequence[str] = ()) -> pa.Table:
  """`path`'s table (Parquet or CSV); `strings`: CSV columns read as text whatever
  they look like (a tag list `20,43` or `39` is one token)."""
  if path.endswith(".parquet"):
    return pq.read_table(path, columns=list(columns) if columns else None)
  options = pa_csv.ConvertOptions(include_columns=list(columns) if columns else None,
                                  column_types={c: pa.string() for c in strings})
  return pa_csv.read_csv(path, convert_options=options)


def read_exposures(paths: Sequence[str]) -> Exposures:
  """The exposure logs' rows, read as int64 columns.

  Raises:
    ValueError: no path, or a file lacks a column (the message names both).
  """
  if not paths:
    raise ValueError("No exposure log: --logs matches no file under --data_dir (the "
                     "sample's are processed_splits_*.parquet, the full dataset's "
                     "log_standard_*.csv).")
  tables = []
  for path in paths:
    schema = (pq.read_schema(path) if path.endswith(".parquet")
              else pa_csv.open_csv(path).schema)  # The first block only.
    lacking = [c for c in LOG_COLUMNS if c not in schema.names]
    if lacking:
      raise ValueError(f"{path} lacks the KuaiRand columns {lacking}; expected the "
                       f"dataset's exposure logs (log_standard_*.csv).")
    tables.append(_read_table(path, LOG_COLUMNS).select(list(LOG_COLUMNS)).cast(
        pa.schema([(c, pa.int64()) for c in LOG_COLUMNS])))
  table = pa.concat_tables(tables)
  return Exposures({c: table[c].to_numpy() for c in LOG_COLUMNS})


def keep_users(exposures: Exposures, max_users: int) -> Exposures:
  """The rows of the `max_users` smallest user ids (all rows for 0)."""
  if max_users <= 0:
    return exposures
  kept = np.unique(exposures["user_id"])[:max_users]
  return exposures.take(np.flatnonzero(np.isin(exposures["user_id"], kept)))


def impression_ids(exposures: Exposures) -> list[str]:
  """`<user>-<video>-<time_ms>`, with `-<k>` for the k-th repeat (k >= 1, in row order)
  of a triple: the same row gets the same id in every subset of users."""
  user, video, ts = exposures["user_id"], exposures["video_id"], exposures["time_ms"]
  order = np.lexsort((np.arange(len(user)), ts, video, user))
  key = np.stack([user[order], video[order], ts[order]], axis=1)
  new = np.ones(len(order), dtype=bool)
  new[1:] = (key[1:] != key[:-1]).any(axis=1)
  position = np.arange(len(order))
  run_start = np.maximum.accumulate(np.where(new, position, 0))
  repeat = np.empty(len(order), dtype=np.int64)
  repeat[order] = position - run_start
  return [f"{u}-{v}-{t}" + (f"-{k}" if k else "")
          for u, v, t, k in zip(user.tolist(), video.tolist(), ts.tolist(),
                                repeat.tolist())]


def _json_value(value: Any) -> Any:
  """A JSON-contract value: NaN and null absent (None), integral floats as ints (a
  categorical code must not read as a float)."""
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return None
  if isinstance(value, float) and value.is_integer():
    return int(value)
  return value


def object_json(table: pa.Table, key: str,
                keys: Mapping[str, str] | None = None) -> dict[int, str]:
  """`table`'s row per `key` value as a compact JSON object: `keys` (object key ->
  column), by default every other column under its own name; missing values absent."""
  keys = keys or {c: c for c in table.column_names if c != key}
  columns = {name: table[column].to_pylist() for name, column in keys.items()}
  out = {}
  for row, id_ in enumerate(table[key].to_pylist()):
    values = {name: _json_value(columns[name][row]) for name in keys}
    out[id_] = json.dumps({k: v for k, v in values.items() if v is not None},
                          separators=(",", ":"))
  return out


def _day_names(ts_ms: np.ndarray) -> np.ndarray:
  """UTC day of each timestamp as YYYY-MM-DD."""
  return np.datetime_as_string((ts_ms // DAY_MS).astype("datetime64[D]"), unit="D")


def event_rows(exposures: Exposures, event: DetailEvent) -> np.ndarray:
  """The rows that imply `event`: clicked ones with one of its columns > 0."""
  marked = np.any([exposures[c] > 0 for c in event.when], axis=0)
  return np.flatnonzero((exposures["is_click"] > 0) & marked)


def log_lines(exposures: Exposures, users: Mapping[int, str],
              videos: Mapping[int, str]) -> dict[str, tuple[np.ndarray, list[str]]]:
  """Log -> (the UTC day of each line's impression, the JSON lines), in row order."""
  ids = impression_ids(exposures)
  ts = exposures["time_ms"]
  day = _day_names(ts)
  impressions = [
      f'{{"impression_id":"{i}","user_id":"{u}","item_id":"{v}","ts_ms":{t},'
      f'"tab":{tab},"user":{users.get(u, "{}")},"item":{videos.get(v, "{}")}}}'
      for i, u, v, t, tab in zip(ids, exposures["user_id"].tolist(),
                                 exposures["video_id"].tolist(), ts.tolist(),
                                 exposures["tab"].tolist())]
  clicked = exposures["is_click"] > 0
  rows = np.flatnonzero(clicked)
  clicks = [f'{{"impression_id":"{ids[r]}","ts_ms":{t + 1}}}'
            for r, t in zip(rows.tolist(), ts[rows].tolist())]
  detail_rows, detail_lines = [], []
  for offset, event in enumerate(DETAIL_EVENTS, start=2):
    rows = event_rows(exposures, event)
    if event.field:
      name, column = event.field
      lines = [f'{{"impression_id":"{ids[r]}","ts_ms":{t + offset},'
               f'"event":"{event.name}","{name}":{value}}}'
               for r, t, value in zip(rows.tolist(), ts[rows].tolist(),
                                      exposures[column][rows].tolist())]
    else:
      lines = [f'{{"impression_id":"{ids[r]}","ts_ms":{t + offset},'
               f'"event":"{event.name}"}}' for r, t in zip(rows.tolist(), ts[rows].tolist())]
    detail_rows.append(rows)
    detail_lines.extend(lines)
  # Row order, then event order within a row.
  detail_rows = np.concatenate(detail_rows)
  order = np.argsort(detail_rows, kind="stable")
  return {"impressions": (day, impressions),
          "clicks": (day[clicked], clicks),
          "detail_pages": (day[detail_rows][order], [detail_lines[i] for i in order])}


def write_logs(output_dir: str,
               logs: Mapping[str, tuple[np.ndarray, list[str]]]) -> dict[str, int]:
  """Writes `<log>/<log>-<day>.jsonl.gz` per log and day, after removing any earlier
  logs there; returns the files written per log."""
  files = {}
  for log, (days, lines) in logs.items():
    directory = os.path.join(output_dir, log)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    order = np.argsort(days, kind="stable")
    sorted_days = days[order]
    names, starts = np.unique(sorted_days, return_index=True)
    ends = np.append(starts[1:], len(order))
    for name, start, end in zip(names.tolist(), starts.tolist(), ends.tolist()):
      data = "".join(lines[i] + "\n" for i in order[start:end].tolist()).encode()
      with open(os.path.join(directory, f"{log}-{name}.jsonl.gz"), "wb") as f:
        f.write(gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0))
    files[log] = len(names)
  return files


def license_path(job: ConvertJob) -> str:
  """The license file `job` copies.

  Raises:
    ValueError: it is absent: derived files must carry it.
  """
  path = os.path.join(job.data_dir, job.license)
  if not os.path.isfile(path):
    raise ValueError(f"{path} is absent: KuaiRand is CC BY-SA 4.0 and its license goes "
                     "with anything derived; pass --license=PATH (a copy is in "
                     "../shared/data/kuairand/LICENSE_KuaiRand).")
  return path


def write_provenance(job: ConvertJob, license_path: str, log_paths: Sequence[str],
                     exposures: Exposures) -> None:
  """Copies the license (and the README) beside the logs and writes NOTICE.md."""
  shutil.copyfile(license_path, os.path.join(job.output_dir, LICENSE))
  readme = os.path.join(job.data_dir, "README.md")
  if os.path.isfile(readme):
    shutil.copyfile(readme, os.path.join(job.output_dir, "README_KuaiRand.md"))
  sources = [os.path.basename(p) for p in log_paths] + [job.user_features,
                                                        job.video_features]
  subset = (f", the {job.max_users} users with the smallest ids" if job.max_users > 0
            else "")
  with open(os.path.join(job.output_dir, "NOTICE.md"), "w") as f:
    f.write(
        "# Derived from KuaiRand\n\n"
        "These logs are derived from KuaiRand (Gao et al., \"KuaiRand: An Unbiased "
        "Sequential Recommendation Dataset with Randomly Exposed Videos\", CIKM 2022; "
        "kuairand.com), licensed CC BY-SA 4.0 (`LICENSE_KuaiRand`); they are shared "
        "under the same license.\n\n"
        f"Made by `examples.kuairand.convert` from {', '.join(sources)}"
        f"{subset}: {len(exposures)} exposure rows, each an impression, with a click "
        "and detail-page events when the row records a click (the module's docstring "
        "says how). `README_KuaiRand.md`, where present, is the source files' note.\n")


def convert(job: ConvertJob) -> dict[str, Any]:
  """Reads the KuaiRand files of `job`, writes the logs; returns a summary.

  Raises:
    ValueError: the license or an exposure log is missing (before anything is written).
  """
  license_file = license_path(job)
  log_paths = sorted({p for pattern in job.logs
                      for p in glob_lib.glob(os.path.join(job.data_dir, pattern))})
  exposures = keep_users(read_exposures(log_paths), job.max_users)
  users = object_json(_read_table(os.path.join(job.data_dir, job.user_features)),
                      "user_id")
  videos = object_json(_read_table(os.path.join(job.data_dir, job.video_features),
                                   strings=("tag",)), "video_id", _VIDEO_KEYS)
  logs = log_lines(exposures, users, videos)
  files = write_logs(job.output_dir, logs)
  write_provenance(job, license_file, log_paths, exposures)
  events = {e.name: len(event_rows(exposures, e)) for e in DETAIL_EVENTS}
  return {"exposures": len(exposures), "users": int(len(np.unique(exposures["user_id"]))),
          "impressions": len(logs["impressions"][1]), "clicks": len(logs["clicks"][1]),
          "detail_events": events, "days": files["impressions"]}


def main(argv: Sequence[str]) -> None:
  del argv  # Unused.
  job = config_flags.from_flags(ConvertJob)
  start = time.perf_counter()
  summary = convert(job)
  print(json.dumps(summary))
  print(f"Wrote {job.output_dir} in {time.perf_counter() - start:.1f} s.")


if __name__ == "__main__":
  config_flags.define(ConvertJob, required=["data_dir", "output_dir"])
  cli.run(main)
