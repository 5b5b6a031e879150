"""The docs are executed: a markdown section's code blocks, run as written.

Tests read the blocks out of the markdown (WORKSPACE.md) and run them, so a documented
command that no longer works (a renamed flag, a missing step) fails a test instead of
a reader. Shell blocks run the way a reader runs them: bash, from the given directory,
with the virtualenv's `bin/` first on PATH (as `. .venv/bin/activate` does) and the
shell variables the docs tell the reader to set (`$WORK`, ...) in the environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from typing import Mapping

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKSPACE_MD = os.path.join(REPO_ROOT, "WORKSPACE.md")

# An opening fence (possibly indented under a list item), its language, its body.
_FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```",
                    re.MULTILINE | re.DOTALL)
# A numbered step whose name is in bold: `1. **Infer** a spec ...`.
_STEP = re.compile(r"^\d+\. \*\*(?P<name>[^*]+)\*\*", re.MULTILINE)
_OUTPUT_TAIL = 4000


def section(path: str, heading: str) -> str:
  """The text under `heading` (e.g. "## Bring your own logs"), up to the next heading
  of the same or a higher level (a `#` line inside a code block is a comment, not a
  heading). Raises ValueError if the file has no such heading."""
  lines = open(path, encoding="utf-8").read().split("\n")
  if heading not in lines:
    raise ValueError(f"{os.path.basename(path)} has no heading {heading!r}; a test "
                     "runs its commands, so rename the test's heading with it.")
  level = len(heading.split(" ")[0])
  start = lines.index(heading) + 1
  in_code = False
  for i in range(start, len(lines)):
    if lines[i].lstrip().startswith("```"):
      in_code = not in_code
    elif not in_code and re.match(rf"#{{1,{level}}} ", lines[i]):
      return "\n".join(lines[start:i])
  return "\n".join(lines[start:])


def blocks(text: str, lang: str = "sh") -> list[str]:
  """The bodies of `text`'s ```<lang> blocks, in order, dedented as rendered."""
  return [textwrap.dedent(m["body"]) for m in _FENCE.finditer(text)
          if m["lang"] == lang]


def steps(text: str, lang: str = "sh") -> dict[str, list[str]]:
  """Step name (the bold words after `N.`) -> the ```<lang> blocks of that step."""
  starts = list(_STEP.finditer(text))
  return {m["name"]: blocks(text[m.end():nxt.start() if nxt else len(text)], lang)
          for m, nxt in zip(starts, starts[1:] + [None])}


def environment(variables: Mapping[str, str]) -> dict[str, str]:
  """This process's environment with the venv's bin/ first on PATH, plus `variables`."""
  env = dict(os.environ)
  env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
  env.update(variables)
  return env


def run(block: str, variables: Mapping[str, str], *, cwd: str = REPO_ROOT,
        lang: str = "sh", timeout_s: float = 300) -> str:
  """Runs a documented block and returns its stdout.

  A sh block runs in `bash -euo pipefail`: its first failing command, or a variable the
  docs use but do not tell the reader to set, fails it. A python block runs as
  `python -c`.

  Raises:
    AssertionError: the block failed; the message holds the block and its output.
  """
  command = (["bash", "-euo", "pipefail", "-c", block] if lang == "sh"
             else [sys.executable, "-c", block])
  done = subprocess.run(command, cwd=cwd, env=environment(variables),
                        capture_output=True, text=True, timeout=timeout_s, check=False)
  if done.returncode:
    raise AssertionError(
        f"The documented {lang} block failed (exit {done.returncode}), with "
        f"{dict(variables)} in {cwd}:\n{block}\n--- stdout (tail) ---\n"
        f"{done.stdout[-_OUTPUT_TAIL:]}\n--- stderr (tail) ---\n"
        f"{done.stderr[-_OUTPUT_TAIL:]}")
  return done.stdout
