"""Tests for benchmarks/process_monitor.py: a peak that counts a command's children."""

import re
import sys
import textwrap

import pytest

from benchmarks import process_monitor

HELD_MB = 200


def _python(code: str) -> list[str]:
  return [sys.executable, "-c", textwrap.dedent(code)]


def test_the_peak_counts_memory_held_by_a_child_process(tmp_path):
  # The command itself holds little; its child writes HELD_MB (so the pages are
  # resident) and holds them for many polling intervals.
  child = f"import time; held = b'x' * ({HELD_MB} << 20); time.sleep(1.5)"
  usage = process_monitor.run_and_measure(
      _python(f"import subprocess, sys; subprocess.run([sys.executable, '-c', "
              f"{child!r}], check=True)"), str(tmp_path / "log.txt"))
  assert usage.peak_rss_mb >= HELD_MB
  assert usage.wall_s > 0


def test_the_commands_output_goes_to_the_log(tmp_path):
  log = tmp_path / "log.txt"
  process_monitor.run_and_measure(
      _python("""
          import sys
          print('to stdout')
          print('to stderr', file=sys.stderr)
          """), str(log))
  # Sorted: a file gets stdout block-buffered, so stderr's line may come first.
  assert sorted(log.read_text().splitlines()) == ["to stderr", "to stdout"]


def test_a_failing_command_raises_naming_its_status_and_log(tmp_path):
  log = tmp_path / "log.txt"
  with pytest.raises(RuntimeError,
                     match=f"exited 3; see {re.escape(str(log))}") as error:
    process_monitor.run_and_measure(
        _python("import sys; print('why it failed'); sys.exit(3)"), str(log))
  assert sys.executable in str(error.value)
  assert "why it failed" in log.read_text()
