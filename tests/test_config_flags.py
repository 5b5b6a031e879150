"""Flags generated from a config dataclass: names, defaults, help and types round-trip."""

from __future__ import annotations

import dataclasses
import enum

from absl import flags
import pytest

import config_flags
from config_flags import knob


class Color(str, enum.Enum):
  RED = "red"
  BLUE = "blue"


@dataclasses.dataclass(frozen=True)
class Config:
  path: str = knob(help="Where.")
  steps: int = knob(3, "How many.")
  rate: float | None = knob(None, "How fast.")
  color: Color = knob(Color.RED, "Which.")
  widths: tuple[int, ...] = knob((8, 4), "Layer widths.")
  names: frozenset[str] = knob(frozenset(), "Names.")
  fast: bool = knob(False, "Faster.")
  upper: str = knob("x", "Upper-cased.", parse=str.upper, flag_default=None)
  internal: int = 7  # Not a knob: no flag.


def _parsed(argv):
  values = flags.FlagValues()
  config_flags.define(Config, required=["path"], flag_values=values)
  values(["prog", *argv])
  return values


def test_every_knob_is_a_flag_with_its_help_and_default():
  values = _parsed(["--path=p"])
  assert "internal" not in values
  assert values["steps"].help == "How many." and values["steps"].default == 3
  assert config_flags.from_flags(Config, values) == Config(path="p")


def test_flag_values_convert_to_the_field_types():
  values = _parsed(["--path=p", "--steps=5", "--rate=0.5", "--color=blue",
                    "--widths=16,2", "--names=a,b", "--fast", "--upper=abc"])
  assert config_flags.from_flags(Config, values, internal=1) == Config(
      "p", 5, 0.5, Color.BLUE, (16, 2), frozenset({"a", "b"}), True, "ABC", 1)


def test_a_required_knob_is_a_required_flag():
  with pytest.raises(flags.IllegalFlagValueError, match="path"):
    _parsed([])


def test_a_field_no_flag_can_hold_needs_a_parse():
  @dataclasses.dataclass
  class Bad:
    table: dict = knob(None, "A mapping.")

  with pytest.raises(TypeError, match=r"Bad.table: no flag type"):
    config_flags.define(Bad, flag_values=flags.FlagValues())


def test_explicit_holds_only_the_flags_given():
  values = _parsed(["--path=p", "--steps=3", "--color=blue"])
  assert config_flags.explicit(Config, values) == {"path": "p", "steps": 3,
                                                   "color": Color.BLUE}


def test_a_list_of_enums_reads_and_defaults_by_value():
  @dataclasses.dataclass(frozen=True)
  class Palette:
    colors: tuple[Color, ...] = knob((Color.RED,), "Colors.")

  values = flags.FlagValues()
  config_flags.define(Palette, flag_values=values)
  values(["prog"])
  assert values["colors"].default == ["red"]
  values(["prog", "--colors=blue,red"])
  assert config_flags.from_flags(Palette, values) == Palette((Color.BLUE, Color.RED))


def test_a_repeated_list_flag_keeps_every_value():
  values = _parsed(["--path=p", "--widths=16", "--widths=4,2", "--names=a"])
  assert config_flags.from_flags(Config, values) == Config(
      "p", widths=(16, 4, 2), names=frozenset({"a"}))
  assert config_flags.from_flags(Config, _parsed(["--path=p", "--names="])).names == (
      frozenset())


def test_a_choice_outside_the_known_ones_is_named_with_them():
  config_flags.check_choices("only", ["sim"], {"sim": 1, "beam": 2}, "benchmarks")
  with pytest.raises(ValueError, match=r"only: \['gpu'\] are no benchmarks; known: "
                     r"\['beam', 'sim'\]"):
    config_flags.check_choices("only", ["sim", "gpu"], {"sim": 1, "beam": 2},
                               "benchmarks")


def test_a_knob_declared_twice_fails_naming_it():
  @dataclasses.dataclass(frozen=True)
  class Other:
    steps: int = knob(5, "How many, again.")

  values = flags.FlagValues()
  config_flags.define(Config, flag_values=values)
  with pytest.raises(ValueError, match=r"Other.steps: --steps is already defined"):
    config_flags.define(Other, flag_values=values)


def test_a_program_may_give_knobs_defaults_of_its_own():
  values = flags.FlagValues()
  config_flags.define(Config, flag_values=values,
                      defaults={"steps": 9, "color": Color.BLUE, "widths": (2,)})
  values(["prog", "--path=p"])
  assert values["steps"].default == 9
  assert config_flags.from_flags(Config, values) == Config(
      "p", steps=9, color=Color.BLUE, widths=(2,))
  with pytest.raises(ValueError, match=r"Config: no knob 'step' to give a default"):
    config_flags.define(Config, flag_values=flags.FlagValues(), defaults={"step": 1})
