"""The calendar ahead end to end: two consecutive days replayed, each polled then digested with `digest --now`
through a real SMTP server.

The polls replay the demo's real ICE/CBP captures through the production pipeline (``run_demo``,
one day at a time); its replay serves synthesized end dates for three awards
(watcher/fakes/demo_dates.py): Amazon's CBP order 70B04C22F00000001 ends 2026-09-10 with no
option left, so from 2026-08-20 it is within 30 days.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import SEEDS, SUBSCRIBERS_CONFIG, SmtpServer
from watcher import jobs
from watcher.cli import cli
from watcher.config import load_config
from watcher.fakes.demo import run_demo

pytestmark = pytest.mark.slow

AWS_ORDER = "CONT_AWD_70B04C22F00000001_7014_HSHQDC13D00003_7001"
ALERT = "CBP delivery order 70B04C22F00000001 ends on 2026-09-10, with no option left to extend it"
SUBSCRIBERS = """\
  calendar:
    email: calendar@example.org
    cadence: daily
    at: "07:00"
    timezone: America/New_York
    lookahead_days: 30
  alerts-only:
    email: alerts@example.org
    cadence: daily
    at: "07:00"
    timezone: America/New_York
    kinds: [ending_soon]
"""


def digest(cfg: Path, db: Path, now: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", str(db), "digest", "--now", now])
    assert result.exit_code == 0, result.output
    return result.output


def mails(smtp: SmtpServer) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for (_, rcpts, _), msg in zip(smtp.inbox.messages, smtp.inbox.parsed(), strict=True):
        text = " ".join(msg.get_body(("plain",)).get_content().split())
        html = msg.get_body(("html",)).get_content()
        out.setdefault(rcpts[0], []).append(text + "\n" + html)
    return out


def poll(cfg: Path, db: Path, *days: date) -> None:
    """The replayed polls of these capture days (as ``watcher demo`` makes them), no digest."""
    config = load_config(cfg)
    conn = jobs.open_db(config, db)
    try:
        results = run_demo(conn, config, SEEDS, echo=lambda _: None, days=set(days))
    finally:
        conn.conn.close()
    assert results and all(r.status == "ok" for r in results)


def test_an_award_ending_within_30_days_is_told_once_and_not_again_the_next_day(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.start()
    cfg, db = tmp_path / "queries.yaml", tmp_path / "w.db"
    smtp_block = f"    smtp:\n      host: 127.0.0.1\n      port: {smtp.port}\n      security: none\n"
    cfg.write_text(
        SUBSCRIBERS_CONFIG.format(seeds=SEEDS, outbox=tmp_path / "outbox", smtp=smtp_block, subscribers=SUBSCRIBERS)
    )
    poll(cfg, db, date(2026, 3, 24), date(2026, 4, 20), date(2026, 5, 5), date(2026, 7, 8), date(2026, 8, 20))
    with sqlite3.connect(db) as conn:  # a poll records none: digests do, with their --now
        assert conn.execute("SELECT count(*) FROM changes WHERE kind = 'ending_soon'").fetchone() == (0,)

    out = digest(cfg, db, "2026-08-20T12:00:00Z")
    assert "calendar: sent" in out and "alerts-only: sent" in out, out
    day1 = mails(smtp)
    (calendar,) = day1["calendar@example.org"]
    text = calendar.split("\n")[0]
    assert text.count(ALERT) == 1  # once as ending_soon
    section = text.split("Coming up in the next 30 days")[1]
    # ... and once in the coming-up section, with the next option date of Palantir's order
    assert section.count("delivery order 70B04C22F00000001") == 1
    assert "* 2026-09-10: ends (no option left): FOUR POINTS TECHNOLOGY, L.L.C.: CBP delivery order" in section
    assert "* 2026-09-18: current period ends: next option due: PALANTIR TECHNOLOGIES INC." in section
    assert "Coming up in the next 30 days</h2>" in calendar  # the HTML part has the section too
    (alert,) = day1["alerts@example.org"]
    assert ALERT in alert and "Coming up" not in alert
    assert "1 award ending soon" in alert.split("\n")[0]

    smtp.inbox.messages.clear()
    poll(cfg, db, date(2026, 8, 21))
    out = digest(cfg, db, "2026-08-21T12:00:00Z")
    # The next day: the calendar subscriber gets that day's changes (a subaward, two modifications), but
    # neither the alert nor the date again (each date is listed once: the section says so and links the
    # whole calendar); the alerts-only subscriber gets nothing.
    assert "alerts-only: nothing new" in out and "calendar: sent" in out, out
    day2 = mails(smtp)
    assert list(day2) == ["calendar@example.org"]
    (calendar,) = day2["calendar@example.org"]
    assert ALERT not in calendar and "ending soon" not in calendar.split("\n")[0]
    assert "* 2026-09-10: ends (no option left)" not in calendar
    assert "2026-09-18: current period ends" not in calendar
    assert "The dates new since your last digest (each date is listed once)" in calendar.split("\n")[0]

    with sqlite3.connect(db) as conn:
        (cid,) = conn.execute("SELECT id FROM changes WHERE kind = 'ending_soon'").fetchone()
        delivered = conn.execute(
            "SELECT d.subscriber FROM delivery_items i JOIN deliveries d ON d.id = i.delivery_id"
            " WHERE i.change_id = ? ORDER BY 1",
            [cid],
        ).fetchall()
        assert delivered == [("alerts-only",), ("calendar",)]  # once each, in the ledger
    smtp.inbox.messages.clear()
    poll(cfg, db, date(2026, 8, 22))
    with sqlite3.connect(db) as conn:  # the agency moves the date (as a later poll would store it): a new date
        conn.execute(
            "UPDATE awards SET end_date = '2026-09-15', potential_end_date = '2026-09-15' WHERE award_key = ?",
            [AWS_ORDER],
        )
    digest(cfg, db, "2026-08-22T12:00:00Z")
    day3 = mails(smtp)
    assert "CBP delivery order 70B04C22F00000001 ends on 2026-09-15" in day3["alerts@example.org"][0]
    # the moved date is news to the calendar subscriber too: listed again, at its new date
    section = day3["calendar@example.org"][0].split("\n")[0].split("Coming up in the next 30 days")[1]
    assert "* 2026-09-15: ends (no option left): FOUR POINTS" in section and "2026-09-10" not in section
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM changes WHERE kind = 'ending_soon'").fetchone() == (2,)
