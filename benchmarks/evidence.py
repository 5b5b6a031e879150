r"""`make evidence`: model quality over seeds on the default world, against its ceilings.

Trains the baseline student, PFD (joint, lambda 0.5), the teacher alone and LUPI (a
teacher that sees post-event features only) on the CVR task of the default simulated
world, once per seed, and writes:

* benchmarks/evidence.json: flat figures, e.g. quality.cvr.pfd_gain_mean (PFD student
  AUC minus baseline student AUC, paired by seed), quality.cvr.pfd_gain_std,
  quality.cvr.<mode>.<head>_<metric>_mean/_std, the Bayes-optimal ceilings and the
  fraction of the baseline's gap to its ceiling that PFD closes;
* benchmarks/EVIDENCE.md: the table, the gains and a plot (benchmarks/evidence.svg).

    python -m benchmarks.evidence [--data_dir=workspace/examples \
      --oracle_dir=workspace/raw/oracle] [--seeds=0,1,2]

Without an existing dataset it generates the default world and joins it first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Sequence

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from features import layout
from models import compare
from models import train
from models.config import Mode, ModelConfig

TASK = "cvr"
MODES = (Mode.STUDENT, Mode.PFD, Mode.TEACHER, Mode.LUPI)


def ensure_dataset(data_dir: str, raw_dir: str) -> None:
  """Generates and joins the default world unless `data_dir` is already published."""
  if tf.io.gfile.exists(os.path.join(data_dir, layout.SUCCESS_FILE)):
    return
  for command in (
      ["simulation.generate", "--preset=demo", f"--output_dir={raw_dir}"],
      ["pipelines.join_logs", f"--impressions={raw_dir}/impressions/*",
       f"--clicks={raw_dir}/clicks/*", f"--detail_pages={raw_dir}/detail_pages/*",
       f"--output_dir={data_dir}", "--overwrite"]):
    subprocess.run([sys.executable, "-m", *command], check=True)


def paired_gain(rows, mode: str, baseline: str, metric: str) -> np.ndarray:
  """Per seed: `mode`'s student metric minus the baseline's, same seed."""
  by_seed = {(r["mode"], r["seed"]): r for r in rows}
  seeds = sorted({r["seed"] for r in rows})
  return np.array([by_seed[(mode, s)][metric] - by_seed[(baseline, s)][metric]
                   for s in seeds])


def figures(rows, ceilings: dict[str, float]) -> dict[str, float]:
  summary = compare.summarize(rows)
  out = {}
  for mode, metrics in summary.items():
    for key, (mean, std) in metrics.items():
      out[f"quality.{TASK}.{mode}.{key}_mean"] = mean
      out[f"quality.{TASK}.{mode}.{key}_std"] = std
  for metric, name in (("student_auc", "pfd_gain"), ("student_gauc", "pfd_gauc_gain")):
    gain = paired_gain(rows, "pfd", "student", metric)
    out[f"quality.{TASK}.{name}_mean"] = float(gain.mean())
    out[f"quality.{TASK}.{name}_std"] = float(gain.std())
  for name, value in ceilings.items():
    out[f"quality.{TASK}.bayes_auc_{name}"] = value
  if "regular" in ceilings:
    gap = ceilings["regular"] - summary["student"]["student_auc"][0]
    out[f"quality.{TASK}.pfd_gap_closed"] = out[f"quality.{TASK}.pfd_gain_mean"] / gap
  return out


def bar_chart_svg(bars: Sequence[tuple[str, float, float]],
                  lines: dict[str, float]) -> str:
  """Horizontal bars (label, mean, std) with whiskers and vertical ceiling lines."""
  width, left, row, low, high = 640, 190, 26, 0.4, 0.9
  height = row * len(bars) + 60

  def x(value):
    return left + (width - left - 20) * (value - low) / (high - low)

  parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="sans-serif" font-size="12">']
  for i, (label, mean, std) in enumerate(bars):
    y = 20 + i * row
    parts += [f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{label}</text>',
              f'<rect x="{x(low)}" y="{y + 3}" width="{x(mean) - x(low):.1f}" '
              'height="16" fill="#4c78a8"/>',
              f'<line x1="{x(mean - std):.1f}" x2="{x(mean + std):.1f}" y1="{y + 11}" '
              f'y2="{y + 11}" stroke="black"/>']
  for i, (name, value) in enumerate(lines.items()):
    parts += [f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="10" '
              f'y2="{height - 30}" stroke="#e45756" stroke-dasharray="4"/>',
              f'<text x="{x(value):.1f}" y="{height - 16 + 12 * (i % 2) - 6}" '
              f'text-anchor="middle" fill="#e45756">Bayes {name} {value:.3f}</text>']
  for tick in np.arange(low, high + 1e-9, 0.1):
    parts.append(f'<text x="{x(tick):.1f}" y="{height - 2}" text-anchor="middle" '
                 f'fill="gray">{tick:.1f}</text>')
  return "\n".join(parts + ["</svg>"])


def markdown(rows, ceilings, out: dict[str, float], svg_name: str) -> str:
  gain = (f"{out[f'quality.{TASK}.pfd_gain_mean']:+.4f} ± "
          f"{out[f'quality.{TASK}.pfd_gain_std']:.4f}")
  seeds = sorted({r["seed"] for r in rows})
  return "\n".join([
      "# Evidence: PFD on the default simulated world (CVR, eval split)",
      "",
      f"Seeds {seeds}; mean ± std over seeds. Written by `make evidence` "
      "(benchmarks/evidence.py); the figures are in benchmarks/evidence.json.",
      "",
      compare.format_table(compare.summarize(rows), ceilings),
      "",
      f"PFD student AUC gain over the baseline student, paired by seed: {gain}.",
      "",
      f"![AUC by mode and head]({svg_name})",
      "",
  ])


FLAGS = flags.FLAGS


def _define_flags() -> None:
  """Flags exist only when this module is the program."""
  flags.DEFINE_string("data_dir", "workspace/examples", "The default world's dataset.")
  flags.DEFINE_string("raw_dir", "workspace/raw", "Its raw logs and oracle.")
  flags.DEFINE_string("work_dir", "workspace/evidence", "Model directories.")
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
  flags.DEFINE_integer("epochs", 1, "Epochs per run (id-embedding models overfit "
                       "after one).")
  flags.DEFINE_integer("batch_size", 128, "Batch size: small enough that one epoch of "
                       "the ~57k clicks is ~450 steps (at 512 the student is far from "
                       "converged after one epoch, and PFD's halved hard-label "
                       "gradient shows as a loss).")
  flags.DEFINE_string("output_dir", "benchmarks", "Where evidence.* go.")


def main(argv: Sequence[str]) -> None:
  del argv
  ensure_dataset(FLAGS.data_dir, FLAGS.raw_dir)
  rows = compare.run_modes(FLAGS.data_dir, FLAGS.work_dir, MODES,
                           [int(s) for s in FLAGS.seeds], ModelConfig(task=TASK),
                           train.TrainConfig(epochs=FLAGS.epochs,
                                             batch_size=FLAGS.batch_size))
  ceilings = compare.load_ceilings(os.path.join(FLAGS.raw_dir, "oracle"), TASK)
  out = figures(rows, ceilings)
  summary = compare.summarize(rows)
  bars = [(f"{mode} {head}", *summary[mode][f"{head}_auc"])
          for mode in summary for head in ("student", "teacher")
          if f"{head}_auc" in summary[mode]]
  with open(os.path.join(FLAGS.output_dir, "evidence.json"), "w") as f:
    f.write(json.dumps(out, indent=2, sort_keys=True) + "\n")
  with open(os.path.join(FLAGS.output_dir, "evidence.svg"), "w") as f:
    f.write(bar_chart_svg(bars, ceilings))
  with open(os.path.join(FLAGS.output_dir, "EVIDENCE.md"), "w") as f:
    f.write(markdown(rows, ceilings, out, "evidence.svg"))
  print(markdown(rows, ceilings, out, "evidence.svg"))


if __name__ == "__main__":
  _define_flags()
  app.run(main)
