"""A proposal as the spec file's text: YAML with a comment above each entry, and a
header that says what was sampled and the policy every entry follows.

ruamel.yaml writes it (comments and all); the layout is a person's: a value on one
line where it fits, else a mapping's items one per line below it.
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
from typing import Any, Sequence

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from features import spec_file
from features.inference import readings
from features.inference.proposal import Proposal
from features.inference.sampling import LogSample

_WIDTH = 88  # Of the written file's lines.
_INDENT = 2


def render(proposal: Proposal, impressions: LogSample, details: LogSample,
           clicks: LogSample | None, min_share: float) -> str:
  """The proposal as YAML, each entry under its comment."""
  header = _wrap([
      "A feature spec proposed by `python -m features.infer_spec` from a sample of",
      f"  impressions: {impressions.describe()};",
      *([f"  clicks: {clicks.describe()};"] if clicks else []),
      f"  detail_pages: {details.describe()}.",
      "Skipped: lines that are not a JSON object, and detail-page lines without an "
      "`event` string.",
      "A proposal to edit, not a verdict: each entry's comment says what the sample "
      "showed and why it is proposed so. The format: WORKSPACE.md, \"The feature spec "
      "file\"; check an edit with features.spec.load_spec_file.",
      *readings.policy(min_share), *proposal.notes], 0)
  doc = CommentedMap()
  doc.yaml_set_start_comment("\n".join(header))
  doc["version"] = spec_file.SCHEMA_VERSION
  _put(doc, "identity", proposal.identity, 0, before=[""])
  for title, entries in (("events", proposal.events), ("tasks", proposal.tasks)):
    section = CommentedMap()
    for key, entry in entries.items():
      _put(section, key, entry.body, _INDENT, before=_wrap(entry.comments, _INDENT))
    # An empty section is written bare ("events:"), which reads as none.
    _put(doc, title, section or None, 0, before=[""], block=True)
  evaluation = CommentedMap(slices=_flow_node({}))
  _put(doc, "evaluation", evaluation, 0, before=[""], block=True)
  features = CommentedSeq()
  for title, entries in proposal.sections:
    for n, entry in enumerate(entries):
      features.append(_node(entry.body, _INDENT, "- "))
      features.yaml_set_comment_before_after_key(
          len(features) - 1, "\n".join(
              ([""] + _wrap([title], _INDENT) if n == 0 else [])
              + _wrap(entry.comments, _INDENT)), indent=_INDENT)
  _put(doc, "features", features, 0, before=[""], block=True)
  return _dump(doc)


def _put(mapping: CommentedMap, key: str, value: Any, indent: int,
         before: list[str], block: bool = False) -> None:
  mapping[key] = value if block else _node(value, indent, f"{_dump_flow(key)}: ")
  if before:
    mapping.yaml_set_comment_before_after_key(key, "\n".join(before), indent=indent)


def _node(value: Any, indent: int, prefix: str) -> Any:
  """`value` as ruamel nodes: in flow style on one line if it fits after `prefix`
  ("key: " or "- "), else a mapping in block style, its items decided alike."""
  if not isinstance(value, dict):
    return _flow_node(value)
  inline = len(" " * indent + prefix + _dump_flow(value)) <= _WIDTH or not value
  node = CommentedMap()
  for key, item in value.items():
    node[key] = (_flow_node(item) if inline
                 else _node(item, indent + _INDENT, f"{_dump_flow(key)}: "))
  if inline:
    node.fa.set_flow_style()
  else:
    node.fa.set_block_style()
  return node


def _scalar(value: Any) -> Any:
  """A string that a flow collection must quote (a comma ends a plain scalar there)
  is quoted wherever it goes, in single quotes as PyYAML writes them, so that a value
  reads the same whichever layout it gets."""
  if not isinstance(value, str):
    return value
  probe = CommentedSeq([value])
  probe.fa.set_flow_style()
  if _dump(probe)[1] not in "'\"":
    return value
  if value.isprintable():
    return SingleQuotedScalarString(value)
  return DoubleQuotedScalarString(value)


def _flow_node(value: Any) -> Any:
  if isinstance(value, dict):
    node = CommentedMap((k, _flow_node(v)) for k, v in value.items())
  elif isinstance(value, (list, tuple)):
    node = CommentedSeq(_flow_node(v) for v in value)
  else:
    return _scalar(value)
  node.fa.set_flow_style()
  return node


def _wrap(paragraphs: Sequence[str], indent: int) -> list[str]:
  """Comment lines (without their "# "), wrapped to the file's width; a paragraph's
  continuation lines keep its leading spaces."""
  width = _WIDTH - indent - 2
  return [line for text in paragraphs for line in textwrap.wrap(
      text, width, subsequent_indent=" " * (len(text) - len(text.lstrip())),
      break_long_words=False, break_on_hyphens=False)]  # Paths stay whole.


@functools.cache
def _yaml() -> YAML:
  yaml = YAML()
  yaml.width = 1 << 30  # Lines are laid out by `_node`, never folded.
  yaml.indent(mapping=_INDENT, sequence=2 * _INDENT, offset=_INDENT)
  # As PyYAML (the spec reader) reads a float: "1.0e+38", not "1e+38" (a string).
  yaml.representer.add_representer(float, _represent_float)
  return yaml


def _represent_float(representer, value: float):
  if math.isfinite(value):
    text = repr(value).lower()
    if "." not in text and "e" in text:
      text = text.replace("e", ".0e", 1)
  else:
    text = ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
  return representer.represent_scalar("tag:yaml.org,2002:float", text)


def _dump(node: Any) -> str:
  out = io.StringIO()
  _yaml().dump(node, out)
  return out.getvalue()


def _dump_flow(value: Any) -> str:
  """`value` as one line of flow YAML (inside a list: a lone scalar would end with
  a document end marker)."""
  return _dump(_flow_node([value])).strip()[1:-1]
