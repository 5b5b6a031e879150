r"""Proposes a feature spec from a sample of the raw logs, for a person to edit.

  python -m features.infer_spec --impressions='raw/impressions/*' \
      --detail_pages='raw/detail_pages/*' --output=spec.yaml [--clicks='raw/clicks/*'] \
      [--sample_lines=1000000] [--min_well_typed_fraction=0.99] [--label_event=NAME]

Reads the first `--sample_lines` lines of each log (files in name order) and counts,
by JSON type, what every top-level impression field and every `user.<key>` /
`item.<key>` holds (at any depth: `user.geo.country`), and which detail-page event
types carry which numeric fields. From that it writes a version-2 spec
(features/spec.py) whose every entry carries a comment: what the sample showed and
why it is proposed so. The file loads with `features.spec.load_spec_file`, so the
join job can read it as written.

Logs are dirty: a field is proposed when the job would read at least
`--min_well_typed_fraction` of its sampled values (of every sampled record, for a
top-level field the job requires on each line), and its comment counts the others,
which the job sends to the dead letter. Bounds leave room for values the sample
missed (`Range`), so an unusual value is an example, not a dead letter.

Choices are measured on the sample, the logs joined by impression id (`Measures`;
without --clicks, an impression with a detail page counts as clicked): the item
attributes of the histories and crosses by how much "the user clicked this value
before" tells about the click (`Lift`), not by their number of values; the
conversion label among events with enough positives (MIN_LABEL_POSITIVES); each
post-event aggregate with its univariate AUC against the label, one that nearly
determines it proposed as a leak, excluded (LEAK_AUC). The header and each entry's
comment give the figures.

A sample, not the job: a line that is not a JSON object is skipped and counted in the
file's header, not sent to a dead letter. Per line the work is one `json.loads` and a
list append per key; the counting happens in batches, in C (`collections.Counter`),
which keeps 1M impressions within the `spec.infer_s_1m` goal. No TensorFlow: files go
through Beam's FileSystems, so gs:// works.
"""

# The job's steps live in features/inference/: `sampling` reads the sample, `measures`
# joins and measures it, `proposer` (with `readings`, `tasks` and `derived`) chooses
# the proposal, `rendering` writes it; `defaults` is what it takes from the default
# spec.

from __future__ import annotations

import dataclasses
from typing import Sequence

from apache_beam.io.filesystems import FileSystems
import yaml

import cli
import config_flags
from config_flags import knob
from features import spec as spec_lib
from features.inference.measures import Measures
from features.inference.proposer import Proposer
from features.inference.rendering import render
from features.inference.sampling import (ClickSample, DetailSample, ImpressionSample,
                                         LogSample)

DEFAULT_SAMPLE_LINES = 1_000_000
# A field is proposed when the job would read this share of its sampled values; the
# rest are dead letters. Logs carry a little garbage: a stricter bar drops the
# strongest fields for a few broken lines.
DEFAULT_MIN_WELL_TYPED_FRACTION = 0.99


@dataclasses.dataclass(frozen=True)
class InferredSpec:
  """A proposed spec: the file's text (with its comments) and what it loads as."""
  text: str
  spec: spec_lib.FeatureSpec
  impressions: LogSample
  detail_pages: LogSample


def infer_spec(impressions: str, detail_pages: str,
               sample_lines: int = DEFAULT_SAMPLE_LINES,
               min_well_typed_fraction: float = DEFAULT_MIN_WELL_TYPED_FRACTION,
               clicks: str = "", label_event: str = "") -> InferredSpec:
  """Proposes a spec from the first `sample_lines` lines of each log.

  Args:
    impressions: Glob of impression log files.
    detail_pages: Glob of detail-page log files.
    sample_lines: Read at most this many lines of each log.
    min_well_typed_fraction: A field is proposed where the job would read at least
      this share of its sampled values; the others are dead letters at join time.
    clicks: Glob of click log files, for the measures; without it, an impression
      with a detail page counts as clicked.
    label_event: The conversion label's event, instead of the proposal's choice.

  Raises:
    ValueError: a glob that matches no file, no usable impression, impressions
      without user_id or item_id (a spec needs both for its identity), a
      `label_event` the sample does not declare, or a setting out of range.
  """
  if sample_lines < 1:
    raise ValueError(f"--sample_lines must be >= 1, got {sample_lines}.")
  if not 0 < min_well_typed_fraction <= 1:
    raise ValueError(f"--min_well_typed_fraction must be in (0, 1], got "
                     f"{min_well_typed_fraction}.")
  imp, details = ImpressionSample(), DetailSample()
  imp_sample = imp.read(impressions, sample_lines)
  detail_sample = details.read(detail_pages, sample_lines)
  click_log, click_sample = (ClickSample(), None) if clicks else (None, None)
  if click_log is not None:
    click_sample = click_log.read(clicks, sample_lines)
  proposal = Proposer(imp, details, Measures(imp, details, click_log),
                       min_well_typed_fraction, label_event).propose()
  text = render(proposal, imp_sample, detail_sample, click_sample,
                 min_well_typed_fraction)
  # What is written is what loads: the text itself is parsed, comments and all.
  spec = spec_lib.FeatureSpec.from_dict(yaml.safe_load(text))
  return InferredSpec(text, spec, imp_sample, detail_sample)


def write(inferred: InferredSpec, path: str) -> None:
  with FileSystems.create(path) as f:
    f.write(inferred.text.encode("utf-8"))


@dataclasses.dataclass(frozen=True)
class InferJob:
  """Which logs to sample, and where the proposed spec goes."""
  impressions: str = knob(help="Glob of impression log files.")
  detail_pages: str = knob(help="Glob of detail-page log files.")
  output: str = knob(help="Where the proposed spec (YAML) is written (local or gs://).")
  sample_lines: int = knob(DEFAULT_SAMPLE_LINES, "Read at most this many lines of "
                           "each log.")
  min_well_typed_fraction: float = knob(
      DEFAULT_MIN_WELL_TYPED_FRACTION, "Propose a field where the join would read at "
      "least this share of its sampled values (of every sampled record, for a "
      "top-level field); it dead-letters the others, and each entry's comment counts "
      "them.")
  clicks: str = knob("", "Glob of click log files: the clicks the measures read "
                     "(crosses, labels, leaks). Without it, an impression with a "
                     "detail page counts as clicked.")
  label_event: str = knob("", "The detail-page event of the conversion label, "
                          "instead of the proposal's choice (by its positives and "
                          "name).")


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(InferJob)
  inferred = infer_spec(job.impressions, job.detail_pages, job.sample_lines,
                        job.min_well_typed_fraction, job.clicks, job.label_event)
  write(inferred, job.output)
  print(f"impressions: {inferred.impressions.describe()}")
  print(f"detail_pages: {inferred.detail_pages.describe()}")
  print(f"Wrote {len(inferred.spec)} features to {job.output}.")


if __name__ == "__main__":
  config_flags.define(InferJob, required=["impressions", "detail_pages", "output"])
  cli.run(main)

