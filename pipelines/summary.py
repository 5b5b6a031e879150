"""`make demo`'s closing summary: what the join produced, beside the world's truth."""

from __future__ import annotations

import dataclasses
import json
import posixpath
from typing import Any, Sequence

import tensorflow as tf

import cli
import config_flags
from config_flags import knob
from features import dataset as dataset_lib
from features import layout
from features import run_report
from features import spec as spec_lib

ORACLE_SUMMARY = "summary.json"


@dataclasses.dataclass(frozen=True)
class SummaryConfig:
  examples_dir: str = knob(help="A dataset published by pipelines.join_logs.")
  oracle_dir: str | None = knob(None, "The simulator's oracle directory (optional).")


def _read(path: str) -> str:
  with tf.io.gfile.GFile(path) as f:
    return f.read()


def format_summary(report: run_report.RunReport, spec: spec_lib.FeatureSpec,
                   oracle: dict[str, Any] | None) -> str:
  """A few lines a person reads after `make demo`: per log, per split and task, the
  features few records carry and the logged keys no feature declares."""
  data = report.data
  lines = ["== Join job =="]
  for log, entry in data["inputs"].items():
    dead = sum(entry["dead_letter"].values())
    lines.append(f"{log:>13}: {entry['lines']:>9} lines, {entry['in_examples']:>9} in "
                 f"examples, {entry['duplicate']} duplicates, {dead} dead letters")
  lines.append(f"reconciled: {data['reconciled']}; bad fraction "
               f"{data['bad_fraction']:.4%}")
  click = spec.click_label
  for split in layout.SPLITS:
    n, clicks = report.examples(split), report.positives(split, click)
    rates = []
    for t in spec.tasks.values():
      base = clicks if t.clicked_only else n
      rates.append(f"{t.name} {report.positives(split, t.label) / max(base, 1):.2%}"
                   + (" of clicks" if t.clicked_only else ""))
    lines.append(f"{split:>5}: {n} impressions, " + ", ".join(rates))
  coverage = report.coverage
  sparse = {f: c["fraction"] for f, c in coverage["declared"].items()
            if c["fraction"] < 1}
  if sparse:
    lines.append("features some records lack: " + ", ".join(
        f"{f} {x:.1%} carried" for f, x in sorted(sparse.items())))
  if coverage["logged_not_declared"]:
    lines.append("logged, not declared (records): " + ", ".join(
        f"{k} {n}" for k, n in coverage["logged_not_declared"].items()))
  if oracle:
    lines.append("== Simulator ground truth (eval split, Bayes-optimal AUC) ==")
    lines.append(json.dumps(oracle.get("eval", oracle), indent=2, sort_keys=True))
  return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
  del argv
  config = config_flags.from_flags(SummaryConfig)
  dataset = dataset_lib.PublishedDataset.open(config.examples_dir)
  oracle = None
  if config.oracle_dir:
    path = posixpath.join(config.oracle_dir, ORACLE_SUMMARY)
    oracle = json.loads(_read(path)) if tf.io.gfile.exists(path) else None
  print(format_summary(dataset.report, dataset.spec, oracle))


if __name__ == "__main__":
  config_flags.define(SummaryConfig, required=["examples_dir"])
  cli.run(main)
