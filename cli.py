"""The command line every entry point shares: quiet, its own flags in `--help`, and a
user error in one line.

    if __name__ == "__main__":
      config_flags.define(JoinConfig, required=["output_dir"])
      cli.run(main)

Quiet: what a job prints is its own (progress, results). The libraries' logs
(TensorFlow's C++ runtime and its load banner, TensorFlow's, absl's and Beam's Python
loggers, Beam's local worker processes) show only their warnings and errors, less the
`KNOWN_HARMLESS` ones. `--debug`, or absl's `-v/--verbosity`, brings them back at that
level. TensorFlow reads its C++ level once, as it loads, before any flag is parsed:
`prepare_process` (which `legacy_keras`, the first module every package imports, calls)
reads it from the command line as written, so `--flagfile` cannot reach it.

A user error (a bad flag value; a ValueError or OSError, which the jobs' checks raise
with the file, feature or flag and the fix in the message; an entry point's own
`user_errors`) is one line, `error: <message>`, on stderr and exit status 1 (2 for a
flag); `--debug` shows its traceback instead. Any other exception keeps its traceback.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import sysconfig
from typing import (Any, Callable, Iterator, MutableMapping, NamedTuple, NoReturn,
                    Sequence)

from absl import app
from absl import flags
from absl import logging as absl_logging
from absl.logging import converter

# The flags defined below (--debug; -v declared key) belong to the entry module that
# calls `run`, so that its --help lists them.
flags.disclaim_key_flags()

DEBUG = "debug"
USER_ERROR_EXIT, FLAG_ERROR_EXIT = 1, 2
USER_ERRORS = (ValueError, OSError)

# Library warnings harmless to these jobs, dropped unless --debug or -v asks.
KNOWN_HARMLESS = (
    "apitools not found",  # Beam without its GCP extra: no job reads BigQuery.
    "No semi_persistent_directory found",  # Every local Beam SDK worker, at start.
    "Skipping full serialization of TF-Keras layer",  # Export: sublayers built lazily.
    "is deprecated",  # TensorFlow and tf_keras on their own internals.
)

_TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
# FATAL only: TensorFlow's C++ errors that matter reach Python as exceptions; the
# ones that do not (the CUDA probe on a host without a GPU) are what quiet hides.
_QUIET_TF_LOG_LEVEL = "3"
# The loggers that log per step or per bundle: levelled, not only filtered, so that
# their records are not even made.
_CHATTY_LOGGERS = ("apache_beam", "tensorflow")
_ROOT = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARY_DIRS = tuple(sorted({os.path.normpath(path) + os.sep
                              for key in ("stdlib", "platstdlib", "purelib", "platlib")
                              if (path := sysconfig.get_paths().get(key))}))


class Asked(NamedTuple):
  """What a command line asks of the libraries' logs, read before flags are parsed."""
  debug: bool = False
  verbosity: int | None = None  # absl's: 1 debug, 0 info, -1 warning, ...

  @property
  def quiet(self) -> bool:
    return not self.debug and self.verbosity is None

  def tf_log_level(self) -> str | None:
    """TF_CPP_MIN_LOG_LEVEL for the level asked (absl's INFO is TensorFlow's 0)."""
    if self.quiet:
      return None
    verbosity = 0 if self.verbosity is None else self.verbosity
    return str(min(max(-verbosity, 0), 3))


def asked(argv: Sequence[str]) -> Asked:
  """Reads --debug and -v/--verbosity from `argv` as absl will parse them."""
  debug, verbosity = False, None
  args = iter(argv[1:])
  for arg in args:
    if arg == "--":
      break
    if not arg.startswith("-"):
      continue
    name, equals, value = arg.lstrip("-").partition("=")
    if name == DEBUG:
      debug = not equals or value.lower() not in ("false", "0")
    elif name == "no" + DEBUG:
      debug = False
    elif name in ("v", "verbosity"):
      try:
        verbosity = int(value if equals else next(args, ""))
      except ValueError:
        pass  # absl names the bad value when it parses the flags.
  return Asked(debug, verbosity)


def prepare_process(argv: Sequence[str] | None = None,
                    environ: MutableMapping[str, str] | None = None) -> None:
  """Library log settings that must precede the libraries: legacy_keras calls this.

  TensorFlow's C++ level: a level the command line asks wins over the environment's,
  which wins over quiet; Beam's worker processes inherit it with the environment. At
  a level that hides INFO, TensorFlow loads with stderr on /dev/null: its shared
  libraries log their banner (oneDNN, the CUDA probe) as they load, through a logger
  TF_CPP_MIN_LOG_LEVEL does not reach. When quiet, the known-harmless warnings
  libraries log on the root logger as they are imported (Beam's apitools) are dropped.
  """
  wanted = asked(sys.argv if argv is None else argv)
  environ = os.environ if environ is None else environ
  if wanted.tf_log_level() is not None:
    environ[_TF_LOG_LEVEL] = wanted.tf_log_level()
  level = environ.setdefault(_TF_LOG_LEVEL, _QUIET_TF_LOG_LEVEL)
  if level not in ("", "0") and "tensorflow" not in sys.modules:
    sys.meta_path.insert(0, _SilentImport("tensorflow"))
  if wanted.quiet:
    logging.getLogger().addFilter(LibraryFilter(logging.WARNING))


def _from_library(path: str) -> bool:
  """Whether a log record's source file is a library's rather than this project's.

  This project's files are those under this module's directory but not in an
  installed-packages directory (the virtualenv lives under it): installed
  non-editable, the project counts as a library and its INFO lines are quiet too.
  """
  return not path.startswith(_ROOT) or path.startswith(_LIBRARY_DIRS)


class LibraryFilter(logging.Filter):
  """Passes this project's records, and a library's at `level` or above unless it is
  `KNOWN_HARMLESS` (with `drop_harmless`)."""

  def __init__(self, level: int, drop_harmless: bool = True):
    super().__init__()
    self._level, self._drop_harmless = level, drop_harmless

  def filter(self, record: logging.LogRecord) -> bool:
    if not _from_library(record.pathname):
      return True
    if record.levelno < self._level:
      return False
    if not self._drop_harmless:
      return True
    try:
      message = record.getMessage()
    except (TypeError, ValueError):  # Mismatched args: the handler reports it.
      return True
    return not any(known in message for known in KNOWN_HARMLESS)


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[int]:
  """File descriptor 2 on /dev/null while it lasts; yields a duplicate of the old."""
  if sys.stderr is not None:
    sys.stderr.flush()
  saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield saved
  finally:
    if sys.stderr is not None:
      sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(devnull)
    os.close(saved)


class _SilentImport:
  """A meta path finder that loads one top-level module with stderr on /dev/null.

  Only its first import is silenced; an error raised by the import still propagates,
  and is printed after stderr is back.
  """

  def __init__(self, name: str):
    self._name, self._done = name, False

  def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
    del path, target  # A top-level module.
    if fullname != self._name or self._done:
      return None
    self._done = True  # Also keeps the lookup below from coming back here.
    import importlib.util  # pylint: disable=g-import-not-at-top
    spec = importlib.util.find_spec(fullname)
    if spec is not None and spec.loader is not None:
      spec.loader = _SilentLoader(spec.loader)
    return spec


class _SilentLoader:
  """Runs a module's loader with stderr on /dev/null, then hands the module back its
  own loader."""

  def __init__(self, loader: Any):
    self._loader = loader

  def __getattr__(self, name: str) -> Any:
    return getattr(self._loader, name)

  def create_module(self, spec: Any) -> Any:
    return self._loader.create_module(spec)

  def exec_module(self, module: Any) -> None:
    try:
      with _stderr_to_devnull():
        self._loader.exec_module(module)
    finally:
      module.__loader__ = module.__spec__.loader = self._loader


def _quiet() -> bool:
  """Whether `run`'s parsed flags ask for quiet (neither --debug nor -v given)."""
  return (DEBUG in flags.FLAGS and flags.FLAGS.is_parsed()
          and not flags.FLAGS[DEBUG].value and not flags.FLAGS["verbosity"].present)


def _library_level() -> int:
  """The Python level of the libraries' logs: WARNING when quiet, else -v's."""
  if _quiet():
    return logging.WARNING
  return converter.absl_to_standard(min(flags.FLAGS.verbosity, converter.ABSL_DEBUG))


def _configure_logs() -> None:
  """Levels and filters the libraries' Python logs by the parsed flags; drops the
  stderr handler TensorFlow adds to its logger when imported before absl's handler
  exists, which printed each of its records twice."""
  level, quiet = _library_level(), _quiet()
  for name in _CHATTY_LOGGERS:
    logging.getLogger(name).setLevel(level)
  tf_logger = logging.getLogger("tensorflow")
  for handler in list(tf_logger.handlers):
    if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
      tf_logger.removeHandler(handler)
  absl_logging.get_absl_handler().addFilter(LibraryFilter(level, drop_harmless=quiet))
  if quiet and not flags.FLAGS["showprefixforinfo"].present:
    flags.FLAGS.showprefixforinfo = False  # A job's INFO lines are read by people.


@contextlib.contextmanager
def quiet_child_processes() -> Iterator[None]:
  """While it lasts, processes this one starts write their stderr to /dev/null when
  the flags ask for quiet; this process's own stderr output is unchanged.

  For Beam's local SDK workers: each logs its harness's start and stop to the stderr
  it inherits before any code of ours runs in it. Its log records also reach this
  process through Beam (and pass `LibraryFilter`), and its errors as exceptions.
  """
  if not _quiet():
    yield
    return
  with _stderr_to_devnull() as saved:
    old = sys.stderr
    new = os.fdopen(os.dup(saved), "w", buffering=1, encoding=old.encoding,
                    errors="backslashreplace")
    handlers = [handler for handler in _stream_handlers()
                if handler.stream is old]
    sys.stderr = new
    for handler in handlers:
      handler.setStream(new)
    try:
      yield
    finally:
      for handler in handlers:
        handler.setStream(old)
      sys.stderr = old
      new.close()


def _stream_handlers() -> list[logging.StreamHandler]:
  loggers = [logging.getLogger(), *(logger for logger in
                                    logging.Logger.manager.loggerDict.values()
                                    if isinstance(logger, logging.Logger))]
  handlers = [handler for logger in loggers for handler in logger.handlers]
  handlers.append(absl_logging.get_absl_handler().python_handler)
  return [handler for handler in handlers
          if isinstance(handler, logging.StreamHandler)]


def _one_line(error: BaseException) -> str:
  """`error`'s message on one line (its type's name if it has none)."""
  return " ".join(str(error).split()) or type(error).__name__


def _fail(message: str, exit_code: int) -> NoReturn:
  sys.stderr.write(f"error: {message}\n")
  sys.exit(exit_code)


def _parse(argv: list[str], known_only: bool) -> list[str]:
  """absl's parse, without its usage text on an error: `run` reports it in one line."""
  return flags.FLAGS(argv, known_only=known_only)


def _main(main: Callable[[list[str]], Any], argv: list[str]) -> Any:
  _configure_logs()
  return main(argv)


def _define_flags() -> None:
  if DEBUG not in flags.FLAGS:
    flags.DEFINE_bool(DEBUG, False, "Show the libraries' logs (TensorFlow's, Beam's) "
                      "and a failure's traceback; -v/--verbosity shows their logs "
                      "at that level.")
    flags.declare_key_flag("verbosity")


def run(main: Callable[[list[str]], Any], *, known_only: bool = False,
        user_errors: Sequence[type[BaseException]] = (),
        argv: Sequence[str] | None = None) -> None:
  """absl's `app.run(main)`, with --debug, quiet library logs and one-line errors.

  Args:
    main: The job: `main(argv)`, argv what absl did not parse (with the program).
    known_only: Leave flags absl does not know in `argv` (e.g. Beam's pipeline
      options) instead of refusing them.
    user_errors: Exception types beside ValueError and OSError that are the user's
      to fix, their message naming what and how (e.g. a refused input).
    argv: The command line (default: sys.argv).
  """
  _define_flags()
  argv = list(sys.argv if argv is None else argv)
  try:
    app.run(functools.partial(_main, main), argv=argv,
            flags_parser=functools.partial(_parse, known_only=known_only))
  except flags.Error as e:
    if asked(argv).debug:
      raise
    _fail(f"{_one_line(e)} (--help lists the flags)", FLAG_ERROR_EXIT)
  except (*USER_ERRORS, *user_errors) as e:
    if flags.FLAGS[DEBUG].value:
      raise
    _fail(_one_line(e), USER_ERROR_EXIT)
