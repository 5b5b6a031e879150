"""The layers of .importlinter hold: no package imports one above its own."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = {"features", "simulation", "pipelines", "models", "export", "benchmarks",
            "examples", "legacy_keras", "config_flags", "cli", "roc"}
# The linter cannot scan top-level modules (it reads them as external), so their own
# imports of the project are listed here: each may import only what is below it.
TOP_LEVEL_IMPORTS = {"legacy_keras": {"cli"}, "cli": set(), "config_flags": set(),
                     "roc": set()}


def test_the_layer_contract_is_kept():
  lint_imports = pathlib.Path(sys.executable).parent / "lint-imports"
  result = subprocess.run(
      [str(lint_imports), "--config", str(ROOT / ".importlinter"), "--no-cache"],
      cwd=ROOT, capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stdout + result.stderr


def _project_imports(path: pathlib.Path) -> set[str]:
  names = set()
  for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
    if isinstance(node, ast.Import):
      names.update(alias.name.split(".")[0] for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      names.add(node.module.split(".")[0])
  return names & PACKAGES


def test_top_level_modules_import_only_the_layers_below_them():
  for module, allowed in TOP_LEVEL_IMPORTS.items():
    imported = _project_imports(ROOT / f"{module}.py")
    assert imported <= allowed, f"{module}.py imports {sorted(imported - allowed)}"
