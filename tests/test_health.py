"""Alerts to the admins: a source that breaks, recovers or goes quiet is reported once per event."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import SmtpServer
from tests.test_poll_e2e import awards_from, base_rows
from watcher.cli import cli
from watcher.ops.health import assess, key_expiry

NOW = datetime(2026, 8, 22, 12, tzinfo=UTC)


def test_assess_says_each_event_once() -> None:
    def run(told: str, failures: int, last_change: str | None = "2026-08-20T12:00:00Z", first: str = "2026-01-01"):
        return assess(
            "w", "usaspending", told, failures, "HTTP 503", "2026-08-01T00:00:00Z", last_change, first, NOW, 3, 14
        )

    assert run("ok", 2) is None  # not yet
    broken = run("ok", 3)
    assert broken and broken.state == "broken" and "HTTP 503" in broken.body and "3 runs in a row" in broken.subject
    assert run("broken", 4) is None  # already told
    back = run("broken", 0)
    assert back and back.state == "ok" and "works again" in back.subject
    quiet = run("ok", 0, "2026-07-01T00:00:00Z")
    assert quiet and quiet.state == "quiet"
    assert run("quiet", 0, "2026-07-01T00:00:00Z") is None
    news = run("quiet", 0, "2026-08-21T00:00:00Z")
    assert news and news.state == "ok"
    # A watch that has never found anything is quiet only once it has been watched that long.
    assert run("ok", 0, None, first="2026-08-15T00:00:00Z") is None
    never = run("ok", 0, None, first="2026-07-01T00:00:00Z")
    assert never and never.state == "quiet" and "detected never" in never.body


@pytest.mark.slow
def test_broken_then_recovered_mails_the_admins_once_each(
    replay, write_config, smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp.start()
    replay.set_awards(awards_from(base_rows()))
    config = write_config()
    block = (
        "  alerts:\n    admins: [ops@example.org]\n    after_failures: 2\n    quiet_days: 3650\n"
        f"  email:\n    smtp:\n      host: 127.0.0.1\n      port: {smtp.port}\n      security: none\n"
    )
    config.write_text(config.read_text().replace("settings:\n", "settings:\n" + block))
    db = tmp_path / "w.db"

    def poll(url: str) -> str:
        monkeypatch.setenv("WATCHER_USASPENDING_URL", url)
        return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), "poll"]).output

    poll(replay.url)  # a good first run
    assert smtp.inbox.messages == []
    poll("http://127.0.0.1:9")
    assert smtp.inbox.messages == []  # one failure is not yet "broken"
    out = poll("http://127.0.0.1:9")
    assert "alert sent to ops@example.org: watcher: ice-vendors / usaspending is failing (2 runs in a row)" in out
    poll("http://127.0.0.1:9")
    assert len(smtp.inbox.messages) == 1  # told once
    status = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), "status"]).output
    assert "ALERT ice-vendors / usaspending: broken since" in status
    out = poll(replay.url)
    assert "works again" in out
    subjects = [m["Subject"] for m in smtp.inbox.parsed()]
    assert subjects == [
        "watcher: ice-vendors / usaspending is failing (2 runs in a row)",
        "watcher: ice-vendors / usaspending works again",
    ]
    assert "Connection refused" in smtp.inbox.parsed()[0].get_body(("plain",)).get_content()
    assert [m[1] for m in smtp.inbox.messages] == [["ops@example.org"], ["ops@example.org"]]


@pytest.mark.slow
def test_an_alert_that_could_not_be_sent_is_sent_at_the_next_run(
    write_config, smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config()
    block = (
        "  alerts:\n    admins: [ops@example.org]\n    after_failures: 1\n"
        f"  email:\n    smtp:\n      host: 127.0.0.1\n      port: {smtp.port}\n      security: none\n"
    )
    config.write_text(config.read_text().replace("settings:\n", "settings:\n" + block))
    monkeypatch.setenv("WATCHER_USASPENDING_URL", "http://127.0.0.1:9")
    args = ["--config", str(config), "--db", str(tmp_path / "w.db"), "poll"]
    out = CliRunner().invoke(cli, args).output  # the SMTP server is down too
    assert "alert not sent: watcher: ice-vendors / usaspending is failing" in out
    smtp.start()
    CliRunner().invoke(cli, args)
    CliRunner().invoke(cli, args)
    assert len(smtp.inbox.messages) == 1


def test_sam_key_expiry_is_announced_once_two_weeks_ahead_and_renewal_once() -> None:
    from datetime import date

    today = date(2026, 8, 22)
    assert key_expiry(None, today, "ok") is None
    assert key_expiry(date(2026, 9, 30), today, "ok") is None  # 39 days left: nothing yet
    soon = key_expiry(date(2026, 9, 1), today, "ok")
    assert soon and soon.state == "expiring" and "in 10 days" in soon.subject and "SAM_API_KEY" in soon.body
    assert key_expiry(date(2026, 9, 1), today, "expiring") is None  # already told
    renewed = key_expiry(date(2026, 11, 20), today, "expiring")
    assert renewed and renewed.state == "ok" and "renewed" in renewed.subject


def test_runs_stopped_on_request_are_not_failures(tmp_path: Path) -> None:
    from tests.conftest import SEEDS
    from watcher import stopping, store
    from watcher.config import load_config
    from watcher.ops.health import due_alerts

    cfg = tmp_path / "queries.yaml"
    cfg.write_text(
        f"settings:\n  seeds_dir: {SEEDS}\n  alerts: {{admins: [ops@example.org], after_failures: 3}}\n"
        "watches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n"
    )
    config = load_config(cfg)
    db = store.open_db(tmp_path / "w.db")
    for error in [None, stopping.MESSAGE, stopping.MESSAGE, stopping.MESSAGE]:  # one ok run, then three stops
        run = store.start_run(db, "w", "usaspending", "2026-08-22T10:00:00Z")
        store.finish_run(db, run, "ok" if error is None else "error", error=error, finished="2026-08-22T10:01:00Z")
    assert [a.state for a in due_alerts(db, config, NOW)] == []
    for _ in range(3):  # real failures still count
        run = store.start_run(db, "w", "usaspending", "2026-08-22T11:00:00Z")
        store.finish_run(db, run, "error", error="HTTP 503", finished="2026-08-22T11:01:00Z")
    assert [a.state for a in due_alerts(db, config, NOW)] == ["broken"]
