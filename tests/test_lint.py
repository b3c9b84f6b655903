"""The house keeps its shape: ruff-clean and formatted, imports in layers with no cycle, zero type errors.

These run as tests so that the README's one test command (which .ci/run calls) checks
them too; their tools are test dependencies.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: Modules that are data tables (the schema reference), allowed past the size limit.
TABLES = {"watcher/store/schema_doc.py"}
MAX_LINES = 450


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=ROOT, capture_output=True, text=True)


def test_ruff_clean() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", "watcher", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_formatted() -> None:
    result = _run(sys.executable, "-m", "ruff", "format", "--check", "watcher", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_import_layers_and_no_cycles() -> None:
    """The contracts in pyproject.toml: the layers of ARCHITECTURE.md, and no import cycle between siblings."""
    result = _run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.slow
def test_type_checker_reports_zero_errors() -> None:
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_modules_stay_small_and_say_their_job() -> None:
    """Every module is under MAX_LINES (data tables excepted) and opens with a docstring saying what it is for."""
    too_long, undocumented = [], []
    for path in sorted((ROOT / "watcher").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        if text.count("\n") > MAX_LINES and rel not in TABLES:
            too_long.append(f"{rel}: {text.count(chr(10))} lines")
        if path.name != "__main__.py" and not ast.get_docstring(ast.parse(text)):
            undocumented.append(rel)
    assert not too_long, too_long
    assert not undocumented, undocumented
