"""The README documents every command, option and queries.yaml field (sqlite-utils' rule)."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.cli import cli
from watcher.config import QueriesFile, WatchSpec
from watcher.settings import (
    AlertSettings,
    EmailSettings,
    SamSettings,
    ScheduleSettings,
    Settings,
    SmtpSettings,
    Subscriber,
    UsaspendingSettings,
)

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_and_option_is_in_the_readme(command: str) -> None:
    assert f"  {command} " in README or f"watcher {command}" in README or f"{command}   " in README
    for param in cli.commands[command].params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--") and opt != "--help":
                assert opt in README, f"{command} {opt} is not in the README"


def test_every_global_option_is_in_the_readme() -> None:
    for param in cli.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--") and opt not in ("--help", "--version"):
                assert opt in README, f"watcher {opt} is not in the README"


@pytest.mark.parametrize(
    "field",
    sorted(
        {
            *WatchSpec.model_fields,
            *UsaspendingSettings.model_fields,
            *SamSettings.model_fields,
            *Settings.model_fields,
            *QueriesFile.model_fields,
            *Subscriber.model_fields,
            *AlertSettings.model_fields,
            *ScheduleSettings.model_fields,
            *SmtpSettings.model_fields,
            *(f.alias or name for name, f in EmailSettings.model_fields.items()),
        }
    ),
)
def test_every_config_field_is_in_the_readme(field: str) -> None:
    assert f"{field}:" in README, f"queries.yaml field {field!r} is not documented in the README"


def test_every_test_docs_reliability_cites_exists() -> None:
    """docs/reliability.md is the index of the reliability suite: a renamed or removed test breaks it here."""
    import re

    root = Path(__file__).resolve().parent
    text = (root.parent / "docs" / "reliability.md").read_text()
    cited = set(re.findall(r"(test_\w+)\.py::(test_\w+)", text))
    assert len(cited) >= 30
    missing = [f"{f}.py::{t}" for f, t in sorted(cited) if f"def {t}(" not in (root / f"{f}.py").read_text()]
    assert missing == []
