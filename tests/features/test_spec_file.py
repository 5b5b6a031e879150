"""features.spec_file: the file's text and mapping, read on demand."""

import subprocess
import sys

import pytest

from features import spec as spec_lib
from features import spec_file


def test_importing_the_spec_reads_no_file():
  code = ("from features import spec\n"
          "print(spec.default_spec.cache_info().currsize)\n"
          "spec.DEFAULT_SPEC\n"
          "print(spec.default_spec.cache_info().currsize)")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split() == ["0", "1"]


def test_the_mapping_round_trips_through_yaml():
  mapping = spec_file.to_mapping(spec_lib.DEFAULT_SPEC)
  again = spec_lib.FeatureSpec(*spec_file.from_mapping(mapping))
  assert again == spec_lib.DEFAULT_SPEC
  assert spec_file.to_yaml(mapping) == spec_lib.DEFAULT_SPEC.to_yaml()


@pytest.mark.parametrize("text,duration", [("30m", 1_800_000), ("24h", 86_400_000),
                                           ("250ms", 250)])
def test_durations_read_and_write(text, duration):
  assert spec_file.duration_ms(text) == duration
  assert spec_file.duration_ms(spec_file.format_duration(duration)) == duration


def test_unreadable_and_non_yaml_files_name_the_path(tmp_path):
  with pytest.raises(spec_file.SpecError, match=r"absent.yaml: cannot read"):
    spec_file.read_mapping(str(tmp_path / "absent.yaml"))
  path = tmp_path / "bad.yaml"
  path.write_text("features: [unclosed")
  with pytest.raises(spec_file.SpecError, match=r"bad.yaml: not YAML"):
    spec_file.read_mapping(str(path))
