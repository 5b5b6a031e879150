r"""The daily run: join a day, train on the day before, test on the day, export if
blessed.

    python -m workflow.daily --date=2026-01-08 --root=workspace/daily \
      --impressions='workspace/raw/impressions/impressions-{date}.jsonl.gz' \
      --clicks='workspace/raw/clicks/clicks-{date}.jsonl.gz' \
      --detail_pages='workspace/raw/detail_pages/detail_pages-{date}.jsonl.gz' \
      --export_base=workspace/serving --task=ctr
    python -m workflow.daily --backfill=2026-01-05,2026-01-14 ...  # each day in turn

The run of day D takes three steps; each writes a done-marker after its atomic
publication (`markers`), so a re-run skips the finished ones and redoes an
interrupted one, and a run killed anywhere then re-run ends in the same state:

1. join: `pipelines.join_logs --date=D --state_from=<root>/datasets/<D-1>` publishes
   `<root>/datasets/<D>` (day D's examples, its user state, vocabularies grown from
   D-1's). The first day (no earlier dataset under --root) starts from no state.
2. train: the model of D-1 (`models.train`, warm-started from the model of D-2 when
   there is one) on D-1's examples, tested on D's (`train_view`): its eval AUC in
   `<root>/models/<D-1>/metrics.json` and in the marker is D-1's next-day AUC.
3. export: that model's student as version <midnight after D-1, in seconds since the
   epoch> under `<export_base>/<model_name>`, only if export/gate.py blesses it
   against the version served (the latest); a refusal is recorded, not raised, and
   the next model still continues this one.

A model is thus served from the run of the day after its own: the day that tests
it. Day D's labels need the logs up to the label delay after D
(`pipelines.day_window.label_delay_days`: 2 days for the default spec's 30 min click
and 24 h purchase windows), so with daily log files run day D once day D + 2 is
complete, i.e. on D + 3. Flags beyond these are models.train's (model and training
knobs; --warm_start_from is the workflow's) and Beam's pipeline options.

cron (every day at 03:00 UTC, the day whose labels just became final):

    0 3 * * * cd /srv/pfd && .venv/bin/python -m workflow.daily \
      --date=$(date -u -d '3 days ago' +\%F) --root=... --export_base=... --task=ctr \
      --impressions=... --clicks=... --detail_pages=... >> daily.log 2>&1

Airflow (a failed run is retried; its finished steps are skipped):

    BashOperator(
        task_id="pfd_daily", retries=3, retry_delay=timedelta(minutes=30),
        bash_command="python -m workflow.daily --date={{ macros.ds_add(ds, -2) }} "
                     "--root=... --export_base=... --task=ctr --impressions=... "
                     "--clicks=... --detail_pages=...")

(with `schedule="@daily"`, `ds` is the day before the run's: minus 2 is D + 3's D).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import posixpath
from typing import Any, Mapping, Sequence

import tensorflow as tf

import cli
import config_flags
from config_flags import knob
from export import export_model
from export import gate
from export import metadata
from export import versions
from features import dataset as dataset_lib
from features import spec as spec_lib
from models import train
from models.config import ModelConfig
from models.training import restore
from pipelines import dataset_writer
from pipelines import join_logs
from pipelines import runner_output
from workflow import markers
from workflow import train_view

JOIN, TRAIN, EXPORT = "join", "train", "export"


@dataclasses.dataclass(frozen=True)
class DailyConfig:
  """What the daily run reads, where it keeps its days, and its gate."""
  impressions: str = knob(help="Glob of impression log files; `{date}` stands for "
                          "each day (YYYY-MM-DD) a day's join reads.")
  clicks: str = knob(help="Glob of click log files, with `{date}`.")
  detail_pages: str = knob(help="Glob of detail-page log files, with `{date}`.")
  root: str = knob(help="The run's directory: datasets/, views/, models/ and the "
                   "done-markers (done/), one entry per day.")
  export_base: str = knob(help="TF Serving's base path; versions go to "
                          "<export_base>/<model_name>/<version>/.")
  task: str = knob(help="A task of the feature spec; its model_defaults hold where "
                   "no model flag is given.")
  feature_spec: spec_lib.FeatureSpec = knob(
      spec_lib.DEFAULT_SPEC, "The logs' feature spec file (YAML), as "
      "pipelines.join_logs --feature_spec. Default: the simulated world's.",
      parse=spec_lib.load_spec_file)
  date: str | None = knob(None, "The day to run (YYYY-MM-DD).")
  backfill: tuple[str, ...] = knob((), "FROM,TO: run every day from FROM to TO, in "
                                   "order (instead of --date).")
  model_name: str | None = knob(None, "The served model's name (default: the task).")
  min_auc: float = knob(gate.BlessingPolicy.min_auc, "Next-day AUC floor for "
                        "blessing.")
  max_auc_drop: float = knob(gate.BlessingPolicy.max_auc_drop, "Largest allowed "
                             "next-day AUC drop below the served version's on the "
                             "same examples.")

  def __post_init__(self):
    if bool(self.date) == bool(self.backfill):
      raise ValueError("Pass --date=D or --backfill=FROM,TO (one of them).")
    if self.backfill and len(self.backfill) != 2:
      raise ValueError(f"--backfill takes FROM,TO, got {','.join(self.backfill)!r}.")

  def dates(self) -> list[str]:
    """The days to run, in order."""
    if self.date:
      return [_day(self.date)]
    first, last = (datetime.date.fromisoformat(_day(d)) for d in self.backfill)
    if last < first:
      raise ValueError(f"--backfill={first},{last} ends before it starts.")
    return [(first + datetime.timedelta(days=n)).isoformat()
            for n in range((last - first).days + 1)]


def _day(date: str) -> str:
  try:
    return datetime.date.fromisoformat(date).isoformat()
  except ValueError as e:
    raise ValueError(f"{date!r} is not a day as YYYY-MM-DD.") from e


def _shifted(date: str, days: int) -> str:
  shifted = datetime.date.fromisoformat(date) + datetime.timedelta(days=days)
  return shifted.isoformat()


def _previous(date: str) -> str:
  return _shifted(date, -1)


def export_version(date: str) -> int:
  """The version of the model of `date`: the midnight (UTC) after it, in seconds
  since the epoch, like export's own default, so it orders with hand exports."""
  epoch_days = (datetime.date.fromisoformat(date) - datetime.date(1970, 1, 1)).days
  return (epoch_days + 1) * 86_400


def dataset_dir(root: str, date: str) -> str:
  return posixpath.join(root, "datasets", date)


def model_dir(root: str, date: str) -> str:
  return posixpath.join(root, "models", date)


def _view_dir(root: str, date: str) -> str:
  return posixpath.join(root, "views", date)


def _joined_days(root: str) -> list[str]:
  directory = posixpath.join(root, markers.MARKERS_DIR)
  if not tf.io.gfile.isdir(directory):
    return []
  days = (name.rstrip("/") for name in tf.io.gfile.listdir(directory))
  return sorted(d for d in days if markers.read(root, d, JOIN) is not None)


def _join(config: DailyConfig, date: str, pipeline_args: Sequence[str]
          ) -> dict[str, Any]:
  """Step 1: day `date`'s dataset, on the previous day's state."""
  previous = _previous(date)
  earlier = [d for d in _joined_days(config.root) if d < date]
  if earlier and earlier[-1] != previous:
    raise ValueError(f"{date} continues {previous}, which is not joined under "
                     f"{config.root} (the last joined day before it is {earlier[-1]}); "
                     f"run --date={previous} first.")
  state_from = dataset_dir(config.root, previous) if earlier else None
  output_dir = dataset_dir(config.root, date)
  report = join_logs.run(join_logs.JoinConfig(
      impressions=config.impressions, clicks=config.clicks,
      detail_pages=config.detail_pages, output_dir=output_dir,
      feature_spec=config.feature_spec, date=date, state_from=state_from,
      overwrite=True), pipeline_args)
  return {"dataset": output_dir, "state_from": state_from, "run_id": report["run_id"],
          "examples": report["examples"]["train"]}


def _train(config: DailyConfig, date: str, model_overrides: Mapping[str, Any],
           train_config: train.TrainConfig) -> dict[str, Any]:
  """Step 2: the model of `date`, tested on the next day."""
  root = config.root
  view = dataset_lib.PublishedDataset.open(train_view.build(
      dataset_dir(root, date), dataset_dir(root, _shifted(date, 1)),
      _view_dir(root, date)))
  yesterday = _previous(date)
  warm_start_from = (model_dir(root, yesterday)
                     if markers.read(root, yesterday, TRAIN) else None)
  results = train.train_and_evaluate(
      view, model_dir(root, date),
      ModelConfig.for_task(view.spec, config.task, **model_overrides),
      dataclasses.replace(train_config, warm_start_from=warm_start_from),
      overwrite=True)
  return {"model_dir": model_dir(root, date), "warm_start_from": warm_start_from,
          "next_day_auc": {k: v for k, v in results["eval"].items()
                           if k.endswith("_auc")}}


def _export(config: DailyConfig, date: str) -> dict[str, Any]:
  """Step 3: the model of `date` served, if blessed on the next day."""
  model_name = config.model_name or config.task
  base = versions.model_base(config.export_base, model_name)
  version = export_version(date)
  record = {"version": version, "model_name": model_name}
  if version in versions.published_versions(base):  # Published, then interrupted.
    return _exported(record, metadata.read_metadata(
        posixpath.join(base, str(version)))["validation"])
  if tf.io.gfile.exists(posixpath.join(base, f"{versions.REJECTED_PREFIX}{version}")):
    return {**record, "exported": False, "refused": "refused by an earlier run"}
  view = dataset_lib.PublishedDataset.open(_view_dir(config.root, date))
  model, run = restore.restore_trained_model(model_dir(config.root, date), view)
  try:
    result = export_model.export_student(
        model, view.spec, export_base=config.export_base, model_name=model_name,
        examples=export_model.load_eval_examples(view, config.task), training=run,
        version=version, item_index=export_model.load_item_index(model, view, None),
        policy=gate.BlessingPolicy(config.min_auc, config.max_auc_drop))
  except gate.NotBlessed as e:
    return {**record, "exported": False, "refused": str(e)}
  return _exported(record, result.metadata["validation"])


def _exported(record: Mapping[str, Any], validation: Mapping[str, Any]
              ) -> dict[str, Any]:
  """An export step's result from its version's validation metadata."""
  return {**record, "exported": True, "auc": validation["eval_auc"],
          "compared_with_version": validation["compared_with_version"],
          "compared_with_auc": validation["compared_with_auc"]}


def join_day(config: DailyConfig, date: str, pipeline_args: Sequence[str] = ()
             ) -> dict[str, Any]:
  """Step 1 of day `date` unless it finished (then its marker's result): what
  studies of the daily path share across models (benchmarks/daily_evidence)."""
  return markers.once(config.root, date, JOIN,
                      lambda: _join(config, date, pipeline_args))


def run_day(config: DailyConfig, date: str, model_overrides: Mapping[str, Any],
            train_config: train.TrainConfig, pipeline_args: Sequence[str] = ()
            ) -> dict[str, dict[str, Any]]:
  """Runs day `date`'s steps that have not finished; returns every step's result
  (a finished one's from its marker)."""
  root = config.root
  results = {JOIN: join_day(config, date, pipeline_args)}
  previous = _previous(date)
  if markers.read(root, previous, JOIN) is not None:
    results[TRAIN] = markers.once(
        root, previous, TRAIN,
        lambda: _train(config, previous, model_overrides, train_config))
    results[EXPORT] = markers.once(root, previous, EXPORT,
                                   lambda: _export(config, previous))
  return results


def main(argv: Sequence[str]) -> None:
  config = config_flags.from_flags(DailyConfig)
  model_overrides = config_flags.explicit(ModelConfig)
  train_config = config_flags.from_flags(train.TrainConfig)
  for date in config.dates():
    # Each join's steps print a line, as pipelines.join_logs's do, not Beam's logs.
    with runner_output.readable(join_logs.STEP_LINES), cli.quiet_child_processes():
      results = run_day(config, date, model_overrides, train_config, argv[1:])
    print(json.dumps({date: results}, sort_keys=True))


if __name__ == "__main__":
  config_flags.define(DailyConfig, required=["impressions", "clicks", "detail_pages",
                                             "root", "export_base", "task"])
  config_flags.define(ModelConfig)
  config_flags.define(train.TrainConfig)
  cli.run(main, known_only=True, user_errors=[dataset_writer.BadInputError])
