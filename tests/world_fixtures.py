"""Helpers behind the shared fixtures (importable by tests, unlike conftest.py)."""

import gzip
import json
import os

from pipelines import join_logs


def run_join(raw_dir: str, output_dir: str, **kwargs) -> dict:
  """The join job on a simulator's output, in process (fast for tiny data)."""
  return join_logs.run(join_logs.JoinConfig(
      impressions=f"{raw_dir}/impressions/*", clicks=f"{raw_dir}/clicks/*",
      detail_pages=f"{raw_dir}/detail_pages/*", output_dir=output_dir, **kwargs),
                       ["--runner=FnApiRunner"])


def run_daily_join(raw_dir: str, output_dir: str, date: str,
                   state_from: str | None = None, **kwargs) -> dict:
  """The join job of one day (`--date`) on a simulator's output, in process."""
  return join_logs.run(join_logs.JoinConfig(
      impressions=f"{raw_dir}/impressions/impressions-{{date}}.jsonl.gz",
      clicks=f"{raw_dir}/clicks/clicks-{{date}}.jsonl.gz",
      detail_pages=f"{raw_dir}/detail_pages/detail_pages-{{date}}.jsonl.gz",
      output_dir=output_dir, date=date, state_from=state_from, **kwargs),
                       ["--runner=FnApiRunner"])


def write_logs(root, impressions, clicks, details, extra_lines=None):
  """Writes the three logs (impressions gzipped) and returns their globs."""
  extra_lines = extra_lines or {}
  paths = {}
  for log, records in (("impressions", impressions), ("clicks", clicks),
                       ("detail_pages", details)):
    os.makedirs(os.path.join(root, log), exist_ok=True)
    lines = [json.dumps(r) for r in records] + extra_lines.get(log, [])
    text = "".join(line + "\n" for line in lines)
    if log == "impressions":
      with gzip.open(os.path.join(root, log, "part-0.jsonl.gz"), "wt") as f:
        f.write(text)
    else:
      with open(os.path.join(root, log, "part-0.jsonl"), "w") as f:
        f.write(text)
    paths[log] = os.path.join(root, log, "*")
  return paths
