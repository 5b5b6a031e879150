"""Helpers behind the shared fixtures (importable by tests, unlike conftest.py)."""

from pipelines import join_logs


def run_join(raw_dir: str, output_dir: str, **kwargs) -> dict:
  """The join job on a simulator's output, in process (fast for tiny data)."""
  return join_logs.run(join_logs.JoinConfig(
      impressions=f"{raw_dir}/impressions/*", clicks=f"{raw_dir}/clicks/*",
      detail_pages=f"{raw_dir}/detail_pages/*", output_dir=output_dir, **kwargs),
                       ["--runner=FnApiRunner"])
