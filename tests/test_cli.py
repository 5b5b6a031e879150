"""The shared command line: quiet library logs, the job's flags in --help, a user
error in one line. Run as a program, this file is a tiny job (see the bottom)."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import subprocess
import sys
import sysconfig

import pytest

import cli
import config_flags
from config_flags import knob

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARY_FILE = os.path.join(sysconfig.get_paths()["purelib"], "somelib", "core.py")
# What a library's internals print, which no quiet job's output may hold.
INTERNALS = ("apache_beam", "oneDNN", "cuda", "absl", "WARNING: All log messages",
             "apitools")


def _record(path: str, level: int, message: str) -> logging.LogRecord:
  return logging.LogRecord("somelib", level, path, 1, message, None, None)


@pytest.mark.parametrize("argv, expected", [
    ([], cli.Asked()),
    (["--debug"], cli.Asked(debug=True)),
    (["-debug=false", "--nodebug"], cli.Asked()),
    (["-v", "1"], cli.Asked(verbosity=1)),
    (["--verbosity=-2", "--debug"], cli.Asked(True, -2)),
    (["-v=x", "--", "--debug"], cli.Asked()),  # A bad value is absl's to report.
])
def test_the_command_line_is_read_as_absl_parses_it(argv, expected):
  assert cli.asked(["job", *argv]) == expected


@pytest.mark.parametrize("asked, level", [
    (cli.Asked(), None), (cli.Asked(debug=True), "0"), (cli.Asked(verbosity=1), "0"),
    (cli.Asked(verbosity=-1), "1"), (cli.Asked(verbosity=-5), "3")])
def test_tensorflows_cpp_level_follows_absls_verbosity(asked, level):
  assert asked.tf_log_level() == level


def _python(code: str, *argv: str, **env: str) -> subprocess.CompletedProcess:
  """`code` in a fresh interpreter: no TF_CPP_MIN_LOG_LEVEL unless given."""
  return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                        text=True, cwd=REPO, check=False, timeout=120,
                        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ".", **env})


@pytest.mark.parametrize("argv, env, level", [
    ([], {}, "3"), ([], {"TF_CPP_MIN_LOG_LEVEL": "1"}, "1"),
    (["--debug"], {"TF_CPP_MIN_LOG_LEVEL": "3"}, "0"), (["-v", "-1"], {}, "1")])
def test_tensorflows_level_is_set_before_it_loads(argv, env, level):
  done = _python("import legacy_keras, os\nprint(os.environ['TF_CPP_MIN_LOG_LEVEL'])",
                 *argv, **env)
  assert done.stdout.strip() == level, done.stderr


def test_tensorflow_loads_and_runs_without_a_line_when_quiet():
  done = _python("import models\nimport tensorflow as tf\n"
                 "print(int(tf.reduce_sum(tf.ones([2]))))")
  assert done.returncode == 0 and done.stdout == "2\n", done.stderr
  assert done.stderr == ""


def test_a_librarys_records_below_the_level_and_harmless_ones_are_dropped():
  quiet = cli.LibraryFilter(logging.WARNING)
  ours = os.path.join(REPO, "pipelines", "join_logs.py")
  assert quiet.filter(_record(ours, logging.INFO, "joining"))
  assert not quiet.filter(_record(LIBRARY_FILE, logging.INFO, "a bundle"))
  assert quiet.filter(_record(LIBRARY_FILE, logging.WARNING, "disk almost full"))
  harmless = _record(LIBRARY_FILE, logging.WARNING, "apitools not found, and ...")
  assert not quiet.filter(harmless)
  assert cli.LibraryFilter(logging.INFO, drop_harmless=False).filter(harmless)


def _job(*flags: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, __file__, *flags], capture_output=True,
                        text=True, cwd=REPO, check=False, timeout=60)


def test_a_quiet_job_prints_its_own_lines_only():
  done = _job()
  assert done.returncode == 0, done.stderr
  assert done.stdout == "done\n"
  progress, warning = done.stderr.splitlines()
  assert progress == "job progress"  # Bare: an INFO line is read by people.
  assert warning.startswith("W") and warning.endswith("] library warning")


def test_verbosity_brings_the_libraries_logs_back():
  done = _job("-v", "0")
  assert done.returncode == 0, done.stderr
  assert "library noise" in done.stderr


@pytest.mark.parametrize("flag", ["--size=abc", "--nosuch", "--size"])
def test_a_bad_flag_is_one_line_and_exit_status_2(flag):
  done = _job(flag)
  assert done.returncode == cli.FLAG_ERROR_EXIT
  (line,) = done.stderr.splitlines()
  assert line.startswith("error: ") and flag.lstrip("-").split("=")[0] in line


@pytest.mark.parametrize("what", ["value", "refused", "missing"])
def test_a_user_error_is_one_line_naming_it(what):
  done = _job(f"--what={what}")
  assert done.returncode == cli.USER_ERROR_EXIT
  lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
  assert lines == [done.stderr.splitlines()[-1]] and "spec.yaml" in lines[0]
  assert "Traceback" not in done.stderr


def test_debug_gives_the_traceback():
  done = _job("--what=value", "--debug")
  assert done.returncode != 0
  assert "Traceback" in done.stderr and "ValueError: feature 'x'" in done.stderr


def test_any_other_exception_keeps_its_traceback():
  done = _job("--what=bug")
  assert done.returncode != 0
  assert "Traceback" in done.stderr and "KeyError" in done.stderr


def test_help_lists_the_jobs_flags_with_defaults():
  done = _job("--help")
  assert "--size: How many.\n    (default: '3')" in done.stdout
  assert "--[no]debug" in done.stdout and "--verbosity" in done.stdout
  assert "--pdb" not in done.stdout  # absl's own flags are under --helpfull.


# Through the real entry points.


def _module(module: str, *flags: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", module, *flags], capture_output=True,
                        text=True, cwd=REPO, check=False, timeout=120)


@pytest.mark.parametrize("module, flag", [("models.train", "--batch_size"),
                                          ("pipelines.join_logs", "--eval_days")])
def test_a_jobs_help_lists_its_flags_not_the_libraries(module, flag):
  done = _module(module, "--help")
  assert f"  {flag}: " in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
  entry = done.stdout.split(f"  {flag}: ", 1)[1].split("\n  --", 1)[0]
  assert re.search(r"\(default: '\d+'\)", entry), entry
  assert "--xla" not in done.stdout and "--tt_" not in done.stdout  # TF's own.
  assert len(done.stdout.splitlines()) < 400


def test_the_daily_run_s_help_lists_its_flags_and_loads_tensorflow_quietly():
  done = _module("workflow.daily", "--help")
  assert "  --date: " in done.stdout and "  --epochs: " in done.stdout, done.stderr
  assert "oneDNN" not in done.stderr and "cuda" not in done.stderr.lower()


@pytest.fixture(name="raw_globs")
def _raw_globs(tiny_world):
  return [f"--{log}={tiny_world.raw_dir}/{log}/*"
          for log in ("impressions", "clicks", "detail_pages")]


def test_a_spec_error_is_one_line_naming_the_file(raw_globs, tmp_path):
  spec = tmp_path / "bad_spec.yaml"
  spec.write_text("features: [\n")
  flags = [*raw_globs, f"--output_dir={tmp_path / 'out'}", f"--feature_spec={spec}"]
  done = _module("pipelines.join_logs", *flags)
  assert done.returncode == cli.USER_ERROR_EXIT
  (line,) = done.stderr.splitlines()
  assert line.startswith("error: ") and str(spec) in line
  debug = _module("pipelines.join_logs", *flags, "--debug")
  assert "Traceback" in debug.stderr and "SpecError" in debug.stderr


def test_the_join_prints_progress_and_no_library_internals(raw_globs, tmp_path):
  done = _module("pipelines.join_logs", *raw_globs, f"--output_dir={tmp_path / 'out'}")
  assert done.returncode == 0, done.stderr
  output = done.stdout + done.stderr
  assert not [line for line in output.splitlines()
              if any(internal.lower() in line.lower() for internal in INTERNALS)]
  for stage in ("reading and parsing", "joining events", "published"):
    assert stage in done.stderr


# The job behind the tests above.


class _Refused(RuntimeError):
  """A user error that is no ValueError: given to `cli.run` as one."""


@dataclasses.dataclass(frozen=True)
class _Job:
  size: int = knob(3, "How many.")
  what: str = knob("ok", "What goes wrong: value, refused, missing or bug.")


def _main(argv):
  del argv
  job = config_flags.from_flags(_Job)
  logging.getLogger("absl").info("job progress")
  library = logging.getLogger("tensorflow")
  library.handle(_record(LIBRARY_FILE, logging.INFO, "library noise"))
  library.handle(_record(LIBRARY_FILE, logging.WARNING, "library warning"))
  if job.what == "value":
    raise ValueError("feature 'x' in spec.yaml: no such dtype.\nKnown: int64.")
  if job.what == "refused":
    raise _Refused("spec.yaml: refused.")
  if job.what == "missing":
    open("spec.yaml/missing", encoding="utf-8")
  if job.what == "bug":
    raise KeyError("bug")
  print("done")


if __name__ == "__main__":
  config_flags.define(_Job)
  cli.run(_main, user_errors=[_Refused])
