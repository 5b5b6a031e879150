"""Reading a proposed spec's text as a person does: the comment above an entry."""

import re


def comment_of(text: str, name: str) -> str:
  """The comment lines right above feature `name`'s entry, as one line."""
  lines = text.splitlines()
  start = next(i for i, line in enumerate(lines)
               if re.match(rf"  - (\{{)?name: {name}[,}}\s]", line + " "))
  comment = []
  for line in reversed(lines[:start]):
    if not line.startswith("  # "):
      break
    comment.insert(0, line[4:])
  return " ".join(comment)
