"""`watcher run`: one pass (poll, site, due digests) as cron runs it, against the replay API and a real SMTP server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from tests.conftest import SmtpServer
from tests.test_poll_e2e import PAL, awards_from, base_rows, edit
from watcher.cli import cli

pytestmark = pytest.mark.slow


def test_one_pass_polls_builds_the_site_and_mails_once(
    replay, write_config, smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)
    replay.set_awards(awards_from(base_rows()))
    smtp.start()
    config = write_config(
        extra=("subscribers:\n  desk:\n    email: desk@example.org\n    cadence: instant\n    timezone: UTC\n")
    )
    config.write_text(
        config.read_text().replace(
            "settings:\n",
            f"settings:\n  email:\n    smtp:\n      host: 127.0.0.1\n      port: {smtp.port}\n      security: none\n",
        )
    )
    db, site = tmp_path / "w.db", tmp_path / "site"

    def run() -> str:
        result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), "run", "--site", str(site)])
        assert result.exit_code == 0, result.output
        return result.output

    out = run()
    assert (
        # 2 of them transaction walks, 2 subaward walks, 5 the lists of orders under the vendors' vehicles
        "ice-vendors / usaspending: 4 awards, 19 requests, 3 new_award" in out
        and "full build" in out
        and "desk: sent" in out
    )
    assert (site / f"awards/{PAL}.html").exists()
    (first,) = smtp.inbox.parsed()
    assert first["Subject"].startswith("ice-vendors: 3 new awards")

    # Nothing changed upstream: nothing to rebuild, nothing to mail.
    out = run()
    assert "incremental: 0 changed awards" in out and "desk: nothing new" in out
    assert len(smtp.inbox.messages) == 1

    # Palantir's order grows: the next pass stores it, rewrites its pages and mails only that.
    edit(replay, PAL, {"Award Amount": 90000000.0, "Last Modified Date": replay.awards[PAL].row["Last Modified Date"]})
    out = run()
    assert "incremental: 1 changed awards" in out and "desk: sent" in out
    latest = smtp.inbox.parsed()[-1]
    assert "70CTD026FC0000012" in latest.get_body(("plain",)).get_content()
    assert latest["In-Reply-To"] == first["Message-ID"]
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    assert feed.bozo == 0 and "70CTD026FC0000012" in feed.entries[0].title
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone() == (2,)


def test_a_failing_poll_still_builds_the_site_and_exits_1(write_config, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WATCHER_USASPENDING_URL", "http://127.0.0.1:9")  # nothing listens there
    config = write_config()
    result = CliRunner().invoke(
        cli, ["--config", str(config), "--db", str(tmp_path / "w.db"), "run", "--site", str(tmp_path / "site")]
    )
    assert result.exit_code == 1
    assert "FAILED" in result.output and "full build" in result.output
    assert (tmp_path / "site" / "index.html").exists()
    assert "Nothing to search yet" in (tmp_path / "site" / "search.html").read_text()


def test_a_step_whose_lock_is_held_is_skipped_and_the_rest_run(write_config, tmp_path: Path) -> None:
    from watcher.ops.lock import writer_lock

    db = tmp_path / "w.db"
    with writer_lock(db):  # a slow poll from the previous run still holds the database
        result = CliRunner().invoke(
            cli, ["--config", str(write_config()), "--db", str(db), "run", "--site", str(tmp_path / "site")]
        )
    assert result.exit_code == 1
    assert "poll: error:" in result.output and "another watcher writer process (pid" in result.output
    assert "full build" in result.output  # the site step still ran
