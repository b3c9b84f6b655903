"""Shared fixtures: a replay USAspending server on 127.0.0.1, configs, and row builders."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import stamina
import yaml

from watcher.recordings import build_awards
from watcher.replay import ReplayAward, UsaspendingReplay

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    """Retries still happen, without the backoff sleeps."""
    stamina.set_testing(True, attempts=10, cap=True)
    yield
    stamina.set_testing(False)


@pytest.fixture
def replay() -> Iterator[UsaspendingReplay]:
    from watcher.config import AgencySeeds
    from watcher.recordings import agency_names

    server = UsaspendingReplay()
    server.extra_agencies = agency_names(
        AgencySeeds.model_validate(yaml.safe_load((SEEDS / "agencies.yaml").read_text())).agencies.values()
    )
    server.url = server.start()  # type: ignore[attr-defined]
    yield server
    server.stop()


CONFIG = """\
settings:
  seeds_dir: {seeds}
  usaspending:
    page_size: {page_size}
    min_interval_seconds: 0
watches:
  ice-vendors:
    agencies: [ice]
    agency_roles: [awarding]
    vendors: [amazon, palantir, microsoft]
    award_types: [contracts]
    lookback_days: 30
{extra}"""


@pytest.fixture
def write_config(tmp_path: Path):
    def write(page_size: int = 100, extra: str = "") -> Path:
        path = tmp_path / "queries.yaml"
        path.write_text(CONFIG.format(seeds=SEEDS, page_size=page_size, extra=extra))
        return path

    return write


def tx_row(
    piid: str,
    key: str,
    recipient: str,
    amount: str,
    day: str,
    mod: str = "0",
    desc: str = "SERVICES",
    agency: str = "ICE",
) -> dict[str, str]:
    """One row in the shape of the recorded ICE data (seeds/ice)."""
    return {
        "Agency": agency,
        "Award ID": piid,
        "Recipient Name": recipient,
        "Federal Action Obligation": amount,
        "Action Date": day,
        "Modification": mod,
        "Product/Service Description": "IT AND TELECOM - SOFTWARE",
        "NAICS Description": "SOFTWARE PUBLISHERS",
        "Transaction Description": desc,
        "Generated Award ID": key,
    }


def awards_from(rows: list[dict[str, str]]) -> list[ReplayAward]:
    return build_awards(rows)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The shipped queries.yaml and seeds in a scratch directory."""
    shutil.copy(ROOT / "queries.yaml", tmp_path / "queries.yaml")
    shutil.copytree(SEEDS, tmp_path / "seeds", ignore=shutil.ignore_patterns("ice"))
    return tmp_path


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The database `watcher demo` leaves, built once per test session."""
    import os

    from click.testing import CliRunner

    from watcher.cli import cli

    cwd = tmp_path_factory.mktemp("demo")
    old = os.getcwd()
    os.chdir(cwd)  # the demo writes ./demo.db by default
    try:
        result = CliRunner().invoke(cli, ["--config", str(ROOT / "queries.yaml"), "demo"])
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    assert "2026-08-22  dhs-big-tech" in result.output
    return cwd / "demo.db"
