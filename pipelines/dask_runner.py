"""The Dask runner's earlier path: `--runner=pipelines.dask_runner.DaskRunner` in
users' scripts and schedulers keeps working (pipelines/runners/dask_runner.py)."""

from pipelines.runners.dask_runner import DaskRunner  # noqa: F401
