"""`make demo`'s closing summary: what the join produced, beside the world's truth."""

from __future__ import annotations

import json
import posixpath
from typing import Any, Sequence

from absl import app
from absl import flags
import tensorflow as tf

from features import layout

FLAGS = flags.FLAGS
flags.DEFINE_string("examples_dir", None, "A dataset published by pipelines.join_logs.")
flags.DEFINE_string("oracle_dir", None, "The simulator's oracle directory (optional).")
flags.mark_flag_as_required("examples_dir")

ORACLE_SUMMARY = "summary.json"


def _load_json(path: str) -> dict[str, Any]:
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def format_summary(report: dict[str, Any], oracle: dict[str, Any] | None) -> str:
  """A few lines a person reads after `make demo`."""
  lines = ["== Join job =="]
  for log, entry in report["inputs"].items():
    dead = sum(entry["dead_letter"].values())
    lines.append(f"{log:>13}: {entry['lines']:>9} lines, {entry['in_examples']:>9} in "
                 f"examples, {entry['duplicate']} duplicates, {dead} dead letters")
  lines.append(f"reconciled: {report['reconciled']}; bad fraction "
               f"{report['bad_fraction']:.4%}")
  for split, n in report["examples"].items():
    clicks = report["positives"].get(f"{split}/click", 0)
    purchases = report["positives"].get(f"{split}/purchase", 0)
    lines.append(f"{split:>5}: {n} impressions, CTR {clicks / max(n, 1):.2%}, "
                 f"CVR {purchases / max(clicks, 1):.2%} of clicks")
  if oracle:
    lines.append("== Simulator ground truth (eval split, Bayes-optimal AUC) ==")
    lines.append(json.dumps(oracle.get("eval", oracle), indent=2, sort_keys=True))
  return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
  del argv
  report = _load_json(posixpath.join(FLAGS.examples_dir, layout.REPORT_FILE))
  oracle = None
  if FLAGS.oracle_dir:
    path = posixpath.join(FLAGS.oracle_dir, ORACLE_SUMMARY)
    oracle = _load_json(path) if tf.io.gfile.exists(path) else None
  print(format_summary(report, oracle))


if __name__ == "__main__":
  app.run(main)
