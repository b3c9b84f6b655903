"""The thin CLI: init, status (text and JSON), usage errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from watcher.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def test_init_creates_a_wal_database_with_the_seed_maps(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    result = CliRunner().invoke(cli, ["--config", str(ROOT / "queries.yaml"), "--db", str(db), "init"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"awards", "transactions", "changes", "matches", "runs", "vendors", "resellers", "agencies"} <= tables
        assert conn.execute("SELECT name FROM vendors WHERE vendor='palantir'").fetchone() == ("Palantir Technologies",)
    # running it again migrates nothing and keeps the data
    again = CliRunner().invoke(cli, ["--config", str(ROOT / "queries.yaml"), "--db", str(db), "init"])
    assert again.exit_code == 0


def test_init_writes_the_starter_config_once_and_commands_use_the_starter_without_one(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WATCHER_CONFIG", raising=False)
    runner = CliRunner()
    checked = runner.invoke(cli, ["check"])  # no ./queries.yaml: the starter shipped in the package, said so
    assert checked.exit_code == 0 and "dhs-big-tech" in checked.output
    assert "starter watches shipped with watcher" in checked.output
    assert not (tmp_path / "queries.yaml").exists()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    assert (tmp_path / "queries.yaml").read_text() == (ROOT / "watcher" / "default_queries.yaml").read_text()
    (tmp_path / "queries.yaml").write_text(
        (tmp_path / "queries.yaml").read_text().replace("lookback_days: 30", "lookback_days: 9")
    )
    assert runner.invoke(cli, ["init"]).exit_code == 0
    assert "lookback_days: 9" in (tmp_path / "queries.yaml").read_text()  # never overwritten
    # A named file that does not exist is an error, never the starter in disguise.
    missing = runner.invoke(cli, ["--config", str(tmp_path / "nope.yaml"), "check"])
    assert missing.exit_code == 2


def test_the_starter_config_is_the_shipped_queries_yaml() -> None:
    """The repository's queries.yaml and the copy in the package (what `init` writes) cannot drift apart."""
    assert (ROOT / "queries.yaml").read_bytes() == (ROOT / "watcher" / "default_queries.yaml").read_bytes()


def test_status_reports_failures_truthfully(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "w.db"
    monkeypatch.setenv("WATCHER_USASPENDING_URL", "http://127.0.0.1:9")
    runner = CliRunner()
    args = ["--config", str(ROOT / "queries.yaml"), "--db", str(db)]
    assert runner.invoke(cli, [*args, "poll"]).exit_code == 1
    text = runner.invoke(cli, [*args, "status"])
    assert text.exit_code == 0
    assert "dhs-big-tech / usaspending" in text.output and "ERROR" in text.output
    assert "last success: never" in text.output and "consecutive failures: 1" in text.output
    assert "skipped: SAM_API_KEY is not set" in text.output  # a skip is not reported as an error
    data = json.loads(runner.invoke(cli, [*args, "status", "--json"]).output)
    runs = {r["source"]: r for r in data["runs"]}
    run = runs["usaspending"]
    assert run["status"] == "error" and "connection failed" in run["error"]
    assert data["tables"]["awards"] == 0
    # Without SAM_API_KEY the SAM.gov sources are skipped, said once, and cost nothing.
    assert {runs[s]["status"] for s in ("sam_awards", "sam_opportunities")} == {"skipped"}
    assert "SAM_API_KEY is not set" in runs["sam_awards"]["error"]
    assert data["sam"]["used"] == 0 and data["sam"]["key_set"] is False


def test_status_without_a_database_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "status"])
    assert result.exit_code == 2 and "no database yet" in result.output


def test_unknown_watch_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(ROOT / "queries.yaml"), "--db", str(tmp_path / "w.db"), "poll", "--watch", "nope"]
    )
    assert result.exit_code == 2 and "no watch named nope" in result.output


def test_plain_http_to_a_remote_api_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WATCHER_USASPENDING_URL", "http://api.usaspending.gov")
    result = CliRunner().invoke(cli, ["--config", str(ROOT / "queries.yaml"), "--db", str(tmp_path / "w.db"), "poll"])
    assert result.exit_code == 2 and "use https" in result.output


def test_readers_do_not_wait_for_a_poll_in_progress(tmp_path: Path) -> None:
    import time

    db = tmp_path / "w.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(ROOT / "queries.yaml"), "--db", str(db), "init"]).exit_code == 0
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # what a poll holds for its whole run
    try:
        started = time.monotonic()
        for args in (["status"], ["export", "awards"], ["schema"]):
            result = runner.invoke(cli, ["--db", str(db), *args])
            assert result.exit_code == 0, result.output
        assert time.monotonic() - started < 5  # far below the 30 s busy timeout: nobody waited for the lock
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_url_guard_parses_the_url(tmp_path: Path, monkeypatch) -> None:
    for url in ("http://localhost.example.com", "HTTP://api.usaspending.gov", "ftp://127.0.0.1"):
        monkeypatch.setenv("WATCHER_USASPENDING_URL", url)
        result = CliRunner().invoke(
            cli, ["--config", str(ROOT / "queries.yaml"), "--db", str(tmp_path / "w.db"), "poll"]
        )
        assert result.exit_code == 2 and "use https" in result.output, url


def test_a_second_writer_is_refused_and_told_who_holds_the_lock(tmp_path: Path) -> None:
    from watcher.ops.lock import writer_lock

    db = tmp_path / "w.db"
    with writer_lock(db):
        result = CliRunner().invoke(cli, ["--config", str(ROOT / "queries.yaml"), "--db", str(db), "poll"])
    assert result.exit_code == 2 and "another watcher writer process (pid" in result.output


@pytest.mark.slow
def test_json_logs_are_one_object_per_line_with_secrets_removed(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    marker = "MARKER-SAM-KEY-9f8e7d"
    config = tmp_path / "queries.yaml"  # the shipped watches, with one attempt per request: no back-off to wait out
    config.write_text((ROOT / "queries.yaml").read_text().replace("attempts: 4 ", "attempts: 1 "))
    env = {**os.environ, "SAM_API_KEY": marker, "WATCHER_USASPENDING_URL": f"http://127.0.0.1:9/?api_key={marker}"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "watcher",
            "--log-format",
            "json",
            "-v",
            "--config",
            str(config),
            "--db",
            str(tmp_path / "w.db"),
            "poll",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(e) for e in lines)
    assert any(e["level"] == "ERROR" and "connection failed" in e["message"] for e in lines)
    assert marker not in proc.stderr and marker not in proc.stdout
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert marker not in " ".join(str(r) for r in conn.execute("SELECT * FROM runs"))
