"""Shared fixtures: a replay USAspending server on 127.0.0.1, configs, and row builders."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stamina
import yaml

from watcher.fakes.recordings import build_awards
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.fakes.usaspending_awards import ReplayAward

ROOT = Path(__file__).resolve().parent.parent
#: Debian's chromium, headless, as root, on a machine with no network (see STYLE.md B.12).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SEEDS = ROOT / "watcher" / "seeds"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all-trials",
        action="store_true",
        help="run every seeded kill -9 trial of the reliability tests (30 polls, 20 digests, as docs/reliability.md"
        " reports) instead of the first few",
    )


@pytest.fixture
def trial_seeds(request: pytest.FixtureRequest) -> Any:
    """``trial_seeds(all_seeds, default)``: every seed with --all-trials, else the first ``default`` of them."""

    def pick(seeds: list[int], default: int) -> list[int]:
        return seeds if request.config.getoption("--all-trials") else seeds[:default]

    return pick


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    """Retries still happen, without the backoff sleeps."""
    stamina.set_testing(True, attempts=10, cap=True)
    yield
    stamina.set_testing(False)


@pytest.fixture
def memory_db() -> Iterator[Any]:
    """A migrated database in memory (tables, views, indexes), for unit tests of reads and writes."""
    from watcher import store

    db = store.open_db(":memory:")
    yield db
    db.conn.close()


@pytest.fixture
def replay() -> Iterator[UsaspendingReplay]:
    from watcher.config import AgencySeeds
    from watcher.fakes.recordings import agency_names

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


# ---------------------------------------------------------------- e-mail


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping every accepted message; can refuse, or kill the client mid-conversation."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse = False
        self.kill_pid: int | None = None
        self.kill_at: str | None = None  # "rcpt": before the body; "data": after accepting it
        self.logins: list[tuple[bytes, bytes]] = []
        self.delay = 0.0  # seconds before answering DATA: a slow server, so a kill can land mid-send

    def _maybe_kill(self, where: str) -> None:
        import os
        import signal

        if self.kill_at == where and self.kill_pid:
            os.kill(self.kill_pid, signal.SIGKILL)
            self.kill_pid = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self._maybe_kill("rcpt")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "451 4.3.0 Try again later"
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        self._maybe_kill("data")
        return "250 OK"

    def parsed(self) -> list:
        import email
        import email.policy

        return [email.message_from_bytes(m[2], policy=email.policy.default) for m in self.messages]


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = None

    def start(self, **kwargs) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 (started by the test: some tests begin with it down)."""
    server = SmtpServer()
    yield server
    server.stop()


SUBSCRIBERS_CONFIG = """\
settings:
  seeds_dir: {seeds}
  site_url: https://watch.example.org
  email:
    from: "ICE watch <digests@watch.example.org>"
    outbox: {outbox}
{smtp}watches:
  dhs-big-tech:
    description: DHS awards to Amazon, Palantir and Microsoft.
    agencies: [ice, cbp, uscis, dhs_hq]
    vendors: [amazon, palantir, microsoft]
subscribers:
{subscribers}"""


@pytest.fixture
def digest_env(tmp_path: Path, demo_db: Path):
    """A copy of the demo database (with an empty digest ledger) and a config writer for subscriber tests."""

    def make(subscribers: str, smtp_port: int | None = None, smtp_extra: str = "") -> tuple[Path, Path]:
        db = tmp_path / "w.db"
        if not db.exists():
            import sqlite3

            src, dst = sqlite3.connect(demo_db), sqlite3.connect(db)
            src.backup(dst)  # not a file copy: the demo's last transactions may still be in its WAL
            src.close()
            dst.close()
            with sqlite3.connect(db) as conn:  # the demo's own subscriber's ledger is not these tests' business
                conn.executescript("DELETE FROM delivery_items; DELETE FROM deliveries; DELETE FROM subscribers;")
        smtp_block = ""
        if smtp_port:
            extra = smtp_extra or "      security: none\n"
            smtp_block = f"    smtp:\n      host: 127.0.0.1\n      port: {smtp_port}\n{extra}"
        cfg = tmp_path / "queries.yaml"
        cfg.write_text(
            SUBSCRIBERS_CONFIG.format(seeds=SEEDS, outbox=tmp_path / "outbox", smtp=smtp_block, subscribers=subscribers)
        )
        return cfg, db

    return make


def start_starttls_smtp(smtp: Any, tmp_path: Path, password: str) -> Path:
    """Start ``smtp`` with STARTTLS required (a trustme CA) and AUTH PLAIN accepting only ``password``.

    Returns the CA file to give the client as SSL_CERT_FILE; logins are recorded in ``smtp.inbox.logins``.
    """
    import ssl

    import trustme
    from aiosmtpd.smtp import AuthResult

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: Any, auth_data: Any) -> Any:
        smtp.inbox.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == password.encode(), handled=False)

    smtp.start(
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
        auth_exclude_mechanism=["LOGIN"],
    )
    return ca_file
