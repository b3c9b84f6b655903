"""Issue 19, item 9: config values and options that passed `check` and then crashed (or did nothing) later.

Each is now refused by `watcher check` naming the file, line and key, or by the command in one
line with exit 2. (A NUL in ``seeds_dir`` and seeds linked to /dev/zero: tests/test_yaml_bombs.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import SEEDS
from watcher.cli import cli

WATCH = "watches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n"


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHER_USASPENDING_URL", "http://127.0.0.1:9")  # `run` polls first: nothing listens there


def _config(tmp_path: Path, email: str = "") -> Path:
    config = tmp_path / "queries.yaml"
    config.write_text(f"settings:\n  seeds_dir: {SEEDS}\n{email}" + WATCH)
    return config


def _invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "--db", str(config.parent / "w.db"), *args])


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ('"mailto:desk@example.org\\r\\nBcc: everyone@example.org"', "control characters"),
        ('"https://example.org/u\\nX-Injected: 1"', "control characters"),
        ('"javascript:alert(document.cookie)"', "mailto: or https:"),
        ('"data:text/html,<script>alert(1)</script>"', "mailto: or https:"),
        ('"https://example.org/\\"><script>"', "mailto: or https:"),
    ],
)
def test_check_refuses_an_unsubscribe_link_that_is_no_link(tmp_path: Path, value: str, why: str) -> None:
    config = _config(tmp_path, f"  email:\n    unsubscribe: {value}\n")
    result = _invoke(config, "check")
    assert result.exit_code == 2, result.output
    assert f"{config}:4: settings.email.unsubscribe: " in result.stderr and why in result.stderr, result.stderr


def test_a_plain_unsubscribe_link_is_kept(tmp_path: Path) -> None:
    config = _config(tmp_path, '  email:\n    unsubscribe: "https://watch.example.org/unsubscribe?who={subscriber}"\n')
    assert _invoke(config, "check").exit_code == 0


@pytest.mark.parametrize("command", ["site", "run", "export"])
def test_an_out_folder_that_does_not_exist_is_one_line(tmp_path: Path, command: str) -> None:
    config = _config(tmp_path)
    assert _invoke(config, "init").exit_code == 0
    missing = tmp_path / "no" / "such" / "folder"
    args = {
        "site": ["site", "--out", str(missing / "site")],
        "run": ["run", "--site", str(missing / "site")],
        "export": ["export", "awards", "--out", str(missing / "awards.csv")],
    }[command]
    result = _invoke(config, *args)
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert result.exit_code == (1 if command == "run" else 2), result.output
    assert f"{missing}" in result.stderr and "does not exist" in result.stderr, result.stderr
    assert not missing.exists()


@pytest.mark.parametrize("option", ["--since", "--until"])
@pytest.mark.parametrize("value", ["not-a-date", "2024-13-01", "2024-02-30", "yesterday"])
def test_export_refuses_a_date_that_is_no_date(tmp_path: Path, option: str, value: str) -> None:
    config = _config(tmp_path)
    assert _invoke(config, "init").exit_code == 0
    result = _invoke(config, "export", "changes", option, value)
    assert result.exit_code == 2, result.output
    assert f"{option} {value!r}" in result.stderr and "2024-10-01" in result.stderr


def test_export_takes_a_date_or_a_timestamp(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert _invoke(config, "init").exit_code == 0
    assert _invoke(config, "export", "changes", "--since", "2024-10-01", "--until", "2025-09-30").exit_code == 0
    assert _invoke(config, "export", "changes", "--since", "2024-10-01T12:00:00Z").exit_code == 0
