"""absl flags generated from config dataclasses: one declaration per knob.

A config field declared with `knob(default, "help")` becomes the flag of its name,
with that default and help; `from_flags` builds the config back. Entry points call
`define` inside their `if __name__ == "__main__":` block, so importing a job's module
defines no flag, and the flags count as the entry module's own: its `--help` lists
them, with their defaults.

    @dataclasses.dataclass(frozen=True)
    class JoinConfig:
      eval_days: int = knob(1, "The last N UTC days are the eval split.")

    config_flags.define(JoinConfig, required=["output_dir"])
    config = config_flags.from_flags(JoinConfig)
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any, Callable, Iterable, Mapping

from absl import flags

# The flags `define` makes belong to its caller, the entry module (absl's --help lists
# the main module's flags only).
flags.disclaim_key_flags()

_HELP = "help"
_PARSE = "parse"  # str -> the field's value, for a type a flag cannot hold
_FLAG_DEFAULT = "flag_default"  # The flag's text default where `parse` is set


def knob(default: Any = dataclasses.MISSING, help: str = "", *,  # pylint: disable=redefined-builtin
         parse: Callable[[str], Any] | None = None, flag_default: str | None = None,
         default_factory: Any = dataclasses.MISSING) -> Any:
  """A dataclass field that is also a flag.

  Args:
    default: The field's (and the flag's) default; omit for a required field.
    help: The flag's help.
    parse: For a field whose type no flag holds (e.g. a spec loaded from a path):
      the flag is a string, and `parse` turns it into the value.
    flag_default: With `parse`: the flag's default text.
  """
  metadata = {_HELP: help}
  if parse is not None:
    metadata.update({_PARSE: parse, _FLAG_DEFAULT: flag_default})
  return dataclasses.field(default=default, default_factory=default_factory,
                           metadata=metadata)


def _unwrap_optional(hint: Any) -> Any:
  if typing.get_origin(hint) in (typing.Union, types.UnionType):
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(args) == 1:
      return args[0]
  return hint


def _knobs(config_cls: type) -> Iterable[tuple[dataclasses.Field, Any]]:
  hints = typing.get_type_hints(config_cls)
  for field in dataclasses.fields(config_cls):
    if _HELP in field.metadata:
      yield field, _unwrap_optional(hints[field.name])


def _default(field: dataclasses.Field) -> Any:
  if field.default is not dataclasses.MISSING:
    return field.default
  if field.default_factory is not dataclasses.MISSING:
    return field.default_factory()
  return None


def _text(value: Any) -> str:
  """A flag's text for `value`: an enum's value (its str() is its Python name)."""
  return value.value if isinstance(value, enum.Enum) else str(value)


def check_choices(name: str, given: Iterable[str], known: Iterable[str], what: str
                  ) -> None:
  """Raises ValueError naming the knob `name` and the values of `given` that are none
  of `known` (`what` they are, e.g. "benchmarks"), with the known ones."""
  unknown = sorted(set(given) - set(known))
  if unknown:
    raise ValueError(f"{name}: {unknown} are no {what}; known: {sorted(known)}.")


def define(config_cls: type, required: Iterable[str] = (),
           flag_values: flags.FlagValues = flags.FLAGS,
           defaults: Mapping[str, Any] | None = None) -> None:
  """Defines a flag per `knob` field of `config_cls`.

  Args:
    config_cls: The config dataclass.
    required: Knobs the command line must give.
    flag_values: Where the flags go.
    defaults: This program's own defaults for some knobs (a job that trains under
      its own protocol), in place of the fields' (so `--help` shows them).

  Raises:
    ValueError: a knob's flag is already defined (by another config of the same
      program): two declarations of one knob would disagree unseen, so a job that
      needs another config's knob defines that config instead.
  """
  for field, hint in _knobs(config_cls):
    if field.name in flag_values:
      raise ValueError(f"{config_cls.__name__}.{field.name}: --{field.name} is "
                       "already defined; declare each knob in one config and define "
                       "that config where the knob is needed.")
    help_text, default = field.metadata[_HELP], _default(field)
    origin = typing.get_origin(hint)
    if _PARSE in field.metadata:
      flags.DEFINE_string(field.name, field.metadata[_FLAG_DEFAULT], help_text,
                          flag_values=flag_values)
    elif isinstance(hint, type) and issubclass(hint, enum.Enum):
      flags.DEFINE_enum(field.name, None if default is None else default.value,
                        [e.value for e in hint], help_text, flag_values=flag_values)
    elif hint is bool:
      flags.DEFINE_bool(field.name, default, help_text, flag_values=flag_values)
    elif hint is int:
      flags.DEFINE_integer(field.name, default, help_text, flag_values=flag_values)
    elif hint is float:
      flags.DEFINE_float(field.name, default, help_text, flag_values=flag_values)
    elif hint is str:
      flags.DEFINE_string(field.name, default, help_text, flag_values=flag_values)
    elif origin in (tuple, frozenset, list):
      # Repeatable and comma-separated (`--set=a=1 --set=b=2` or `--set=a=1,b=2`): a
      # list flag given twice would silently keep only the last.
      flags.DEFINE_multi_string(
          field.name, None if default is None else ",".join(_text(v) for v in default),
          help_text + " (comma-separated; repeatable)", flag_values=flag_values)
    else:
      raise TypeError(f"{config_cls.__name__}.{field.name}: no flag type for {hint!r}; "
                      "give the knob a `parse`.")
  knobs = {field.name for field, _ in _knobs(config_cls)}
  for name, value in (defaults or {}).items():
    if name not in knobs:
      raise ValueError(f"{config_cls.__name__}: no knob {name!r} to give a default; "
                       f"knobs: {sorted(knobs)}.")
    if isinstance(value, (tuple, frozenset, list)):
      value = [_text(v) for v in value]
    elif isinstance(value, enum.Enum):
      value = _text(value)
    flag_values.set_default(name, value)
  flags.mark_flags_as_required(list(required), flag_values=flag_values)


def _value(field: dataclasses.Field, hint: Any, raw: Any) -> Any:
  if _PARSE in field.metadata:
    return _default(field) if raw is None else field.metadata[_PARSE](raw)
  origin = typing.get_origin(hint)
  if origin in (tuple, frozenset, list) and raw is not None:
    (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
    return origin(item(v) for given in raw for v in given.split(",") if v)
  if isinstance(hint, type) and issubclass(hint, enum.Enum) and raw is not None:
    return hint(raw)
  return raw


def values(config_cls: type, flag_values: flags.FlagValues = flags.FLAGS
           ) -> dict[str, Any]:
  """Field name -> the flag's value, converted to the field's type, for every knob."""
  return {field.name: _value(field, hint, flag_values[field.name].value)
          for field, hint in _knobs(config_cls)}


def explicit(config_cls: type, flag_values: flags.FlagValues = flags.FLAGS
             ) -> dict[str, Any]:
  """`values` of the flags given on the command line only: overrides of defaults that
  come from elsewhere (e.g. a task's `model_defaults`)."""
  return {name: value for name, value in values(config_cls, flag_values).items()
          if flag_values[name].present}


def from_flags(config_cls: type, flag_values: flags.FlagValues = flags.FLAGS,
               **overrides) -> Any:
  """`config_cls` from the parsed flags (then `overrides`)."""
  return config_cls(**{**values(config_cls, flag_values), **overrides})
