"""Faults against the fake API, readers during writes, log injection: each case of docs/reliability.md.

Every fault is played against a poll of two watches through the CLI. A transient fault
(429, 502-504, timeout, connection reset) is retried and the poll ends as a clean one
does. A lasting or malformed answer fails the first watch with a clear error, stores
nothing of it, and the second watch still runs.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.test_poll_e2e import MSFT, awards_from, base_rows, q
from watcher.cli import cli
from watcher.fakes.server import Fault
from watcher.fakes.usaspending import UsaspendingReplay

SEARCH = "/api/v2/search/spending_by_award/"
SECOND = (
    "  second:\n    agencies: [ice, cbp]\n    agency_roles: [awarding]\n"
    "    vendors: [microsoft]\n    award_types: [contracts]\n"
)


@pytest.fixture
def two_watches(replay: UsaspendingReplay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    replay.set_awards(awards_from(base_rows()))
    config = write_config(page_size=2, extra=SECOND)
    config.write_text(
        config.read_text().replace("min_interval_seconds: 0", "min_interval_seconds: 0\n    timeout_seconds: 1")
    )

    def poll(db: Path) -> Any:
        return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), "poll"])

    clean = tmp_path / "clean.db"
    assert poll(clean).exit_code == 0
    return poll, replay, clean, tmp_path


def _state(db: Path) -> dict[str, Any]:
    return {
        "awards": q(db, "SELECT award_key, total_obligation FROM awards ORDER BY 1"),
        "transactions": q(db, "SELECT transaction_key, obligation FROM transactions ORDER BY 1"),
        "changes": q(db, "SELECT kind, entity_key FROM changes ORDER BY 2, 1"),
        "matches": q(db, "SELECT watch, entity_key, reason FROM matches ORDER BY 1, 2, 3"),
    }


TRANSIENT = {
    "429 with Retry-After": Fault(SEARCH, 1, 429, b'{"detail": "Request was throttled."}', times=2),
    "502": Fault(SEARCH, 1, 502, b"<html>Bad Gateway</html>", "text/html", times=2),
    "503": Fault(SEARCH, 1, 503, b"", times=3),
    "504": Fault(SEARCH, 1, 504, b"<html>Gateway Timeout</html>", "text/html"),
    "timeout": Fault(SEARCH, 1, 200, b"{}", sleep=1.5),
    "connection reset": Fault(SEARCH, 1, 0, times=2),
    "500 once": Fault(SEARCH, 1, 500, b"<h1>Server Error (500)</h1>", "text/html"),
}


@pytest.mark.parametrize("case", sorted(TRANSIENT))
def test_transient_faults_are_retried_and_the_poll_ends_as_a_clean_one(two_watches, case: str) -> None:
    poll, replay, clean, tmp = two_watches
    fault = TRANSIENT[case]
    replay.faults.append(fault)
    db = tmp / "faulty.db"
    result = poll(db)
    assert result.exit_code == 0, result.output
    assert fault.times == 0  # the fault was served
    assert _state(db) == _state(clean)
    assert q(db, "SELECT status FROM runs") == [("ok",), ("ok",)]


def _drift(mutate: Any) -> Any:
    return lambda body, out: {**out, "results": [mutate(dict(r)) for r in out["results"]]}


LASTING = {
    "503 outlasting the retries": (Fault(SEARCH, 1, 503, b"", times=4), None, "HTTP 503"),
    "500 twice": (Fault(SEARCH, 1, 500, b"<h1>Server Error</h1>", "text/html", times=2), None, "HTTP 500"),
    "truncated JSON": (Fault(SEARCH, 1, 200, b'{"results": [{"Award ID": "70CT'), None, "not JSON"),
    "empty body": (Fault(SEARCH, 1, 200, b""), None, "not JSON"),
    "HTML with status 200": (Fault(SEARCH, 1, 200, b"<html>Maintenance</html>", "text/html"), None, "not JSON"),
    "404 HTML": (Fault(SEARCH, 1, 404, b"<h1>Not Found</h1>", "text/html"), None, "HTTP 404"),
    "missing fields": (None, _drift(lambda r: {k: v for k, v in r.items() if k != "Recipient Name"}), "lacks"),
    "amount not a number": (None, _drift(lambda r: {**r, "Award Amount": "n/a"}), "expected an amount"),
    "filters not used": (
        None,
        lambda body, out: {**out, "messages": ["The following filters from the request were not used: {'agencies'}"]},
        "ignored part of the query",
    ),
    "cursor that never ends": (
        None,
        lambda body, out: {
            **out,
            "page_metadata": {"page": 1, "hasNext": True, "last_record_unique_id": 1, "last_record_sort_value": "1"},
        },
        "did not advance",
    ),
}


@pytest.mark.parametrize("case", sorted(LASTING))
def test_lasting_or_malformed_answers_fail_one_watch_cleanly(two_watches, case: str) -> None:
    poll, replay, clean, tmp = two_watches
    fault, hook, message = LASTING[case]
    if fault is not None:
        replay.faults.append(fault)
    first_watch_only = {"n": 0}
    if hook is not None:  # the first watch's searches only: the second one must be unaffected

        def once(body: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
            first_watch_only["n"] += 1
            agencies = {a["name"] for a in body["filters"].get("agencies", [])}
            return hook(body, out) if "U.S. Customs and Border Protection" not in agencies else out

        replay.on_search = once
    db = tmp / "faulty.db"
    result = poll(db)
    replay.on_search = None
    assert result.exit_code == 1
    runs = q(db, "SELECT watch, status, error FROM runs ORDER BY id")
    assert runs[0][:2] == ("ice-vendors", "error") and message in runs[0][2], runs
    assert runs[1][:2] == ("second", "ok")
    assert q(db, "SELECT count(*) FROM matches WHERE watch = 'ice-vendors'") == [(0,)]  # nothing partial
    assert q(db, "SELECT award_key FROM awards") == [(MSFT,)]  # the second watch's award


def test_schema_drift_that_keeps_the_meaning_is_absorbed(two_watches) -> None:
    poll, replay, clean, tmp = two_watches
    # New fields, amounts as strings, a null the watch does not need: the same database as a clean poll.
    replay.on_search = _drift(
        lambda r: {**r, "New Field": {"x": 1}, "Award Amount": str(r["Award Amount"]), "PSC": None}
    )
    db = tmp / "drift.db"
    result = poll(db)
    replay.on_search = None
    assert result.exit_code == 0, result.output
    state, expected = _state(db), _state(clean)
    assert state["awards"] == expected["awards"] and state["changes"] == expected["changes"]


def test_a_reader_holding_a_long_transaction_never_blocks_the_writer(two_watches) -> None:
    poll, replay, clean, tmp = two_watches
    db = tmp / "shared.db"
    assert poll(db).exit_code == 0
    reader = sqlite3.connect(db, timeout=1)
    reader.execute("BEGIN")
    before = reader.execute("SELECT count(*), sum(total_obligation) FROM awards").fetchone()
    replay.awards[MSFT].row["Award Amount"] = 2_000_000
    replay.set_awards(list(replay.awards.values()))
    env = {**os.environ, "WATCHER_USASPENDING_URL": replay.url}  # type: ignore[attr-defined]
    config = next(tmp.glob("queries.yaml"))
    started = time.monotonic()
    writer = subprocess.run(
        [sys.executable, "-m", "watcher", "--config", str(config), "--db", str(db), "poll"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert writer.returncode == 0, writer.stderr
    assert took < 20  # no wait for the reader (the busy timeout is 30 s)
    # The reader still sees its snapshot, consistent, until it ends its transaction.
    assert reader.execute("SELECT count(*), sum(total_obligation) FROM awards").fetchone() == before
    reader.execute("COMMIT")
    assert reader.execute("SELECT total_obligation FROM awards WHERE award_key = ?", [MSFT]).fetchone() == (2_000_000,)
    reader.close()


def test_hostile_text_cannot_forge_log_lines(two_watches) -> None:
    import logging

    from watcher.ops.logs import JsonFormatter, TextFormatter

    record = logging.makeLogRecord(
        {
            "msg": "award %s failed",
            "args": ("X\n2026-01-01 00:00:00 ERROR forged: \x1b[31mred\x1b[0m",),
            "levelname": "INFO",
        }
    )
    text = TextFormatter().format(record)
    assert "\n" not in text and "\x1b" not in text and "\\n2026-01-01" in text
    assert "\n" not in JsonFormatter().format(record)


@pytest.mark.slow
def test_a_full_run_with_marker_secrets_leaks_neither_anywhere(replay, smtp, write_config, tmp_path: Path) -> None:
    """watcher run (poll of every source, site, digests over STARTTLS with a login), then status and export."""
    from tests.conftest import start_starttls_smtp
    from watcher.fakes.sam import SamReplay
    from watcher.fakes.sam_recordings import all_actions

    sam_key, password = "SAMKEY-marker-0b5e6f7a8c9d1e2f", "SMTP-PASSWORD-marker-3a4b5c6d"
    ca_file = start_starttls_smtp(smtp, tmp_path, password)
    awards = awards_from(base_rows())
    replay.set_awards(awards)
    config = write_config(page_size=2)
    text = config.read_text().replace(
        "    lookback_days: 30\n", "    lookback_days: 30\n    sources: [usaspending, sam_awards, sam_opportunities]\n"
    )
    block = (
        f"  email:\n    smtp:\n      host: 127.0.0.1\n      port: {smtp.port}\n      security: starttls\n"
        "      username: watcher@watch.example.org\n      timeout_seconds: 10\n"
        "  sam: {min_interval_seconds: 0}\n"
        f"  alerts: {{admins: [ops@example.org], after_failures: 1}}\n"
    )
    config.write_text(
        text.replace("settings:\n", "settings:\n" + block)
        + "subscribers:\n  desk:\n    email: desk@example.org\n    cadence: instant\n"
    )
    with SamReplay(actions=all_actions(awards), keys=[sam_key]) as sam_url:
        env = {
            **os.environ,
            "SSL_CERT_FILE": str(ca_file),
            "WATCHER_SMTP_PASSWORD": password,
            "SAM_API_KEY": sam_key,
            "WATCHER_SAM_URL": sam_url,
            "WATCHER_USASPENDING_URL": replay.url,  # type: ignore[attr-defined]
        }
        base = [sys.executable, "-m", "watcher", "-vv", "--config", str(config), "--db", str(tmp_path / "w.db")]
        outputs = []
        for args in (
            ["run", "--site", str(tmp_path / "site")],
            ["--log-format", "json", "status", "--json"],
            ["export", "changes", "--out", str(tmp_path / "changes.csv")],
        ):
            done = subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=180)
            outputs.append(done.stdout + done.stderr)
            assert done.returncode == 0, done.stdout + done.stderr
    assert smtp.inbox.logins and len(smtp.inbox.messages) >= 1  # the password was used, the digest went out
    assert "sam_awards" in outputs[0]  # SAM.gov was polled with the key
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "ca.pem"]
    assert len(files) > 20  # database, WAL, site pages, feeds, downloads, the export
    for secret in (sam_key, password):
        assert [str(p) for p in files if secret.encode() in p.read_bytes()] == []
        assert not [o for o in outputs if secret in o]
        assert not [m for m in smtp.inbox.messages if secret.encode() in m[2]]
