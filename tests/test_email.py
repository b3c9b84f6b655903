"""Digests end to end through a real SMTP server (aiosmtpd on 127.0.0.1): filters, exactly-once, threading, TLS."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, SmtpServer
from watcher.cli import cli

pytestmark = pytest.mark.slow

#: Two people on one database: everything daily, and only big Palantir-sized money at once.
SUBSCRIBERS = """\
  everything:
    email: everything@example.org
    cadence: daily
    at: "07:00"
    timezone: America/New_York
  big-money:
    email: big@example.org
    cadence: instant
    kinds: [new_award, new_transaction, award_changed]
    min_change: 5000000
    min_amount: 50000000
"""
JULY = "2026-07-08T12:00:00Z"  # 08:00 in New York: the daily slot has passed


def digest(cfg: Path, db: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", str(db), "digest", *args])
    return result.exit_code, result.output


def ledger(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_each_subscriber_gets_exactly_what_matches_their_filters(smtp: SmtpServer, digest_env) -> None:
    smtp.start()
    cfg, db = digest_env(SUBSCRIBERS, smtp.port)
    code, out = digest(cfg, db, "--now", JULY)
    assert code == 0, out
    by_rcpt = {rcpts[0]: msg for (_, rcpts, _), msg in zip(smtp.inbox.messages, smtp.inbox.parsed(), strict=True)}
    assert set(by_rcpt) == {"everything@example.org", "big@example.org"}

    everything = by_rcpt["everything@example.org"]
    text = everything.get_body(("plain",)).get_content()
    # The 2026-07-08 poll: 2 new awards and 4 modified awards (11 new actions), from the demo, and the
    # demo's synthesized subaward of Amazon Web Services under a Four Points order (watcher/fakes/demo_subawards.py).
    assert (
        everything["Subject"] == "dhs-big-tech: 2 new awards, 6 modifications, 1 subaward, Amazon Web Services +$68.8M"
    )
    assert "FOUR POINTS TECHNOLOGY, L.L.C.: modifications P00018 and P00019 to CBP delivery order" in text
    assert "total obligated $139.7M → $177.9M" in text

    big = by_rcpt["big@example.org"]
    big_text = big.get_body(("plain",)).get_content()
    # Only awards of $50M+ whose money moved by $5M+: the CBP AWS order (+$38.2M) and Dell's
    # Microsoft licences (+$40.6M). Not the $46M order that moved $30.6M (too small an award),
    # nor the $2.3M M365 modification or the new small awards.
    assert big["Subject"] == "dhs-big-tech: 2 modifications, Microsoft +$40.6M"
    assert "70B04C24F00000413" in big_text and "70B04C25F00000214" in big_text
    assert "70B04C25F00000223" not in big_text and "70CTD023FR0000003" not in big_text
    assert "new award" not in big_text.lower().split("\n", 1)[1]

    # The ledger knows what each one got; nothing is due a second time.
    rows = dict(ledger(db, "SELECT subscriber, count(*) FROM deliveries WHERE status='sent' GROUP BY subscriber"))
    assert rows == {"everything": 1, "big-money": 1}
    smtp.inbox.messages.clear()
    code, out = digest(cfg, db, "--now", JULY)
    assert code == 0 and smtp.inbox.messages == [], out
    assert "everything: not due" in out and "big-money: nothing new" in out


def test_headers_parts_and_size(smtp: SmtpServer, digest_env) -> None:
    smtp.start()
    cfg, db = digest_env(SUBSCRIBERS, smtp.port)
    # The first day of the demo: 158 new awards, far more than one e-mail should list.
    assert digest(cfg, db, "--now", "2026-03-24T12:00:00Z", "--subscriber", "everything")[0] == 0
    (raw,) = [m[2] for m in smtp.inbox.messages]
    (msg,) = smtp.inbox.parsed()
    for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe"):
        assert msg[header], header
    assert msg["List-Unsubscribe"].startswith("<mailto:digests@watch.example.org?")
    parts = [p.get_content_type() for p in msg.walk() if not p.is_multipart()]
    assert parts == ["text/plain", "text/html"]
    html = msg.get_body(("html",)).get_content()
    assert len(html.encode()) < 100_000 and len(raw) < 200_000
    assert "<style" not in html.split("</head>")[1] and "<script" not in html and "<link" not in html
    assert 'style="' in html  # CSS inlined for mail clients that drop <style>
    assert "and 133 more (smaller amounts)" in html  # 25 listed, the rest summarized with a link
    hrefs = [h.split('"')[0] for h in html.split('href="')[1:]]
    assert hrefs and all(h.startswith(("https://", "mailto:")) for h in hrefs)


def test_smtp_down_then_up_delivers_exactly_once(smtp: SmtpServer, digest_env) -> None:
    cfg, db = digest_env(SUBSCRIBERS, smtp.port)  # nothing listening yet
    code, out = digest(cfg, db, "--now", JULY, "--subscriber", "everything")
    assert code == 1 and "everything: failed" in out and "ConnectionRefusedError" in out
    assert ledger(db, "SELECT status FROM deliveries") == [("failed",)]

    smtp.start()
    smtp.inbox.refuse = True  # up, but refusing with a temporary error
    code, out = digest(cfg, db, "--now", JULY, "--subscriber", "everything")
    assert code == 1 and "451" in out and smtp.inbox.messages == []

    smtp.inbox.refuse = False
    for _ in range(2):
        code, out = digest(cfg, db, "--now", JULY, "--subscriber", "everything")
        assert code == 0, out
    assert len(smtp.inbox.messages) == 1
    (sent,) = ledger(db, "SELECT id, changes FROM deliveries WHERE status='sent'")
    # Every change of that day went out once, in that one message.
    dupes = ledger(
        db,
        "SELECT i.change_id FROM delivery_items i JOIN deliveries d ON d.id = i.delivery_id"
        " WHERE d.status = 'sent' GROUP BY i.change_id HAVING count(*) > 1",
    )
    assert sent[1] == 18 and dupes == []  # 17 award changes and the synthesized new_subaward


def _digest_process(cfg: Path, db: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "watcher", "--config", str(cfg), "--db", str(db), "digest", "--now", JULY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def _wait(proc: subprocess.Popen) -> None:
    proc.wait(timeout=60)
    assert proc.returncode == -9, proc.stderr.read() if proc.stderr else ""


ONE = """\
  everything:
    email: everything@example.org
    cadence: daily
    timezone: America/New_York
"""


def test_killed_before_the_server_took_it_then_rerun_delivers_once(smtp: SmtpServer, digest_env) -> None:
    smtp.start()
    cfg, db = digest_env(ONE, smtp.port)
    proc = _digest_process(cfg, db)
    smtp.inbox.kill_pid, smtp.inbox.kill_at = proc.pid, "rcpt"
    _wait(proc)
    assert smtp.inbox.messages == []
    assert ledger(db, "SELECT status FROM deliveries") == [("pending",)]  # claimed, outcome unknown

    code, out = digest(cfg, db, "--now", JULY)
    assert code == 0, out
    assert len(smtp.inbox.messages) == 1
    assert ledger(db, "SELECT status FROM deliveries") == [("sent",)]
    code, out = digest(cfg, db, "--now", JULY)
    assert len(smtp.inbox.messages) == 1


def test_killed_after_the_server_took_it_resends_the_identical_message(smtp: SmtpServer, digest_env) -> None:
    """The one unavoidable window: accepted, then the process died before recording it."""
    smtp.start()
    cfg, db = digest_env(ONE, smtp.port)
    proc = _digest_process(cfg, db)
    smtp.inbox.kill_pid, smtp.inbox.kill_at = proc.pid, "data"
    _wait(proc)
    assert len(smtp.inbox.messages) == 1
    assert digest(cfg, db, "--now", JULY)[0] == 0
    first, second = smtp.inbox.parsed()
    # Same bytes, same Message-ID: the recipient's mail system drops the second copy.
    assert smtp.inbox.messages[0][2] == smtp.inbox.messages[1][2]
    assert first["Message-ID"] == second["Message-ID"]
    assert ledger(db, "SELECT status, attempts FROM deliveries") == [("sent", 1)]
    assert digest(cfg, db, "--now", JULY)[0] == 0 and len(smtp.inbox.messages) == 2


def test_a_later_change_is_threaded_to_the_first_mail_about_the_award(smtp: SmtpServer, digest_env) -> None:
    smtp.start()
    cfg, db = digest_env(ONE, smtp.port)
    # 2026-07-08 mentions CBP's AWS order 70B04C24F00000413; 2026-08-20 modifies it again.
    assert digest(cfg, db, "--now", JULY)[0] == 0
    assert digest(cfg, db, "--now", "2026-08-21T12:00:00Z")[0] == 0
    first, later = smtp.inbox.parsed()
    assert "70B04C24F00000413" in first.get_body(("plain",)).get_content()
    assert "70B04C24F00000413" in later.get_body(("plain",)).get_content()
    assert later["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in later["References"]
    assert first["In-Reply-To"] is None


def test_outbox_mode_and_dry_run(digest_env, tmp_path: Path) -> None:
    cfg, db = digest_env(ONE)  # no SMTP server configured: digests become .eml files
    code, out = digest(cfg, db, "--now", JULY, "--dry-run")
    assert code == 0 and "everything: dry run" in out
    assert ledger(db, "SELECT count(*) FROM deliveries") == [(0,)]  # a preview records nothing
    assert ledger(db, "SELECT count(*) FROM subscribers") == [(0,)]
    code, out = digest(cfg, db, "--now", JULY)
    assert code == 0 and "everything: written" in out
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2  # the preview and the real one
    assert ledger(db, "SELECT status FROM deliveries") == [("written",)]
    code, out = digest(cfg, db, "--now", JULY)
    assert "not due" in out and len(sorted((tmp_path / "outbox").glob("*.eml"))) == 2


def test_nothing_new_sends_nothing_unless_asked(smtp: SmtpServer, digest_env) -> None:
    smtp.start()
    quiet = ONE + "    send_empty: true\n  silent:\n    email: silent@example.org\n"
    cfg, db = digest_env(quiet, smtp.port)
    # 2026-06-01: nothing was detected in the week before (the demo has no poll between 05-05 and 07-08).
    code, out = digest(cfg, db, "--now", "2026-06-01T12:00:00Z")
    assert code == 0, out
    assert [m[1] for m in smtp.inbox.messages] == [["everything@example.org"]]
    (msg,) = smtp.inbox.parsed()
    assert msg["Subject"] == "dhs-big-tech: nothing new"
    assert "Nothing new for your watches" in msg.get_body(("plain",)).get_content()


def test_starttls_login_and_the_password_stays_secret(smtp: SmtpServer, digest_env, tmp_path: Path) -> None:
    from tests.conftest import start_starttls_smtp

    marker = "SMTP-PASSWORD-MARKER-8c1f"
    ca_file = start_starttls_smtp(smtp, tmp_path, marker)
    cfg, db = digest_env(
        ONE,
        smtp.port,
        "      security: starttls\n      username: watcher@watch.example.org\n      timeout_seconds: 10\n",
    )
    env = {**os.environ, "SSL_CERT_FILE": str(ca_file), "WATCHER_SMTP_PASSWORD": marker}
    cmd = [sys.executable, "-m", "watcher", "-vv", "--config", str(cfg), "--db", str(db), "digest", "--now", JULY]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert smtp.inbox.logins == [(b"watcher@watch.example.org", marker.encode())]
    assert len(smtp.inbox.messages) == 1

    for text in (done.stdout, done.stderr):
        assert marker not in text
    assert marker.encode() not in db.read_bytes()
    assert all(marker.encode() not in m[2] for m in smtp.inbox.messages)
    wal = Path(f"{db}-wal")
    assert not wal.exists() or marker.encode() not in wal.read_bytes()


def test_a_refused_login_is_a_clear_failure_and_the_digest_waits(smtp: SmtpServer, digest_env, monkeypatch) -> None:
    from aiosmtpd.smtp import AuthResult

    smtp.start(
        authenticator=lambda *args: AuthResult(success=False, handled=False),
        auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN"],
    )
    cfg, db = digest_env(ONE, smtp.port, "      security: none\n      username: watcher@watch.example.org\n")
    monkeypatch.delenv("WATCHER_SMTP_PASSWORD", raising=False)
    code, out = digest(cfg, db, "--now", JULY)
    assert code == 1 and "WATCHER_SMTP_PASSWORD is not" in out
    monkeypatch.setenv("WATCHER_SMTP_PASSWORD", "WRONG-PASSWORD-MARKER")
    code, out = digest(cfg, db, "--now", JULY)
    assert code == 1 and "login refused for watcher@watch.example.org: 535" in out
    assert "WRONG-PASSWORD-MARKER" not in out
    assert ledger(db, "SELECT status FROM deliveries") == [("failed",), ("failed",)]
    assert smtp.inbox.messages == []


def test_test_email_command(smtp: SmtpServer, digest_env) -> None:
    smtp.start()
    cfg, db = digest_env(ONE, smtp.port)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", str(db), "test-email", "me@example.org"])
    assert result.exit_code == 0, result.output
    (msg,) = smtp.inbox.parsed()
    assert msg["To"] == "me@example.org" and msg["Subject"] == "watcher: test message"
    result = CliRunner().invoke(cli, ["--config", str(cfg), "test-email", "me@example.org\r\nBcc: x@example.org"])
    assert result.exit_code == 2 and "not an email address" in result.output


def test_shipped_config_has_a_subscriber_the_demo_serves() -> None:
    text = (ROOT / "queries.yaml").read_text()
    assert "subscribers:" in text and "campaigns:" in text


def test_status_reports_each_subscribers_digests(smtp: SmtpServer, digest_env) -> None:
    cfg, db = digest_env(ONE, smtp.port)  # down: the delivery fails
    digest(cfg, db, "--now", JULY)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", str(db), "status", "--json"])
    (row,) = json.loads(result.output)["digests"]
    assert row["subscriber"] == "everything" and row["last_sent_at"] is None
    assert "ConnectionRefusedError" in row["last_error"]
    smtp.start()
    digest(cfg, db, "--now", JULY)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", str(db), "status"])
    assert "digest everything <everything@example.org>: last sent 2026-07-08T12:00:00Z" in result.output


def test_weekly_waits_but_an_urgent_change_goes_out_at_once_outside_quiet_hours(smtp: SmtpServer, digest_env) -> None:
    smtp.start()
    weekly = """\
  weekly:
    email: weekly@example.org
    cadence: weekly
    day: monday
    timezone: America/New_York
  urgent:
    email: urgent@example.org
    cadence: weekly
    day: monday
    timezone: America/New_York
    urgent_amount: 30000000
    quiet_hours: "07:30-09:00"
"""
    cfg, db = digest_env(weekly, smtp.port)
    # Monday 2026-07-06, 10:00 in New York: both weekly slots served (nothing new that week).
    code, out = digest(cfg, db, "--now", "2026-07-06T14:00:00Z")
    assert code == 0 and out.count("nothing new") == 2, out
    # Wednesday 08:00: the weekly digest waits for Monday; the urgent one is in its quiet hours.
    code, out = digest(cfg, db, "--now", JULY)
    assert "weekly: not due -> next digest 2026-07-13T11:00:00Z" in out and "urgent: quiet hours" in out
    assert smtp.inbox.messages == []
    # 09:30: the CBP orders moved $38.2M, $40.6M and $30.6M, so the urgent subscriber hears now.
    code, out = digest(cfg, db, "--now", "2026-07-08T13:30:00Z")
    assert code == 0, out
    assert [m[1] for m in smtp.inbox.messages] == [["urgent@example.org"]]
    (msg,) = smtp.inbox.parsed()
    assert msg["Subject"] == "dhs-big-tech: 2 new awards, 6 modifications, 1 subaward, Amazon Web Services +$68.8M"
    # The next Monday, the weekly subscriber gets the week; the urgent one has nothing left to hear.
    smtp.inbox.messages.clear()
    code, out = digest(cfg, db, "--now", "2026-07-13T14:00:00Z")
    assert [m[1] for m in smtp.inbox.messages] == [["weekly@example.org"]]
    assert "urgent: nothing new" in out


def test_apprise_second_channel_is_retried_until_accepted_and_keeps_its_token_secret(
    smtp: SmtpServer, digest_env, monkeypatch
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []
    state = {"up": False}

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state["up"]:
                received.append(json.loads(body))
            self.send_response(200 if state["up"] else 503)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    token = "APPRISE-TOKEN-MARKER-5d2e"
    monkeypatch.setenv("WATCHER_APPRISE_DESK", f"json://127.0.0.1:{hook.server_address[1]}/{token}")
    smtp.start()
    cfg, db = digest_env(ONE + "    apprise_env: WATCHER_APPRISE_DESK\n", smtp.port)
    try:
        code, out = digest(cfg, db, "--now", JULY)  # chat hook down: e-mail sent, notice waits
        assert code == 1 and "everything: sent" in out and "everything: pending" in out
        assert "entry 1 did not accept" in out and token not in out
        state["up"] = True
        code, out = digest(cfg, db, "--now", JULY)
        assert code == 0, out
        code, out = digest(cfg, db, "--now", JULY)
    finally:
        hook.shutdown()
    assert len(smtp.inbox.messages) == 1 and len(received) == 1
    (note,) = received
    assert note["title"] == "dhs-big-tech: 2 new awards, 6 modifications, 1 subaward, Amazon Web Services +$68.8M"
    assert "FOUR POINTS TECHNOLOGY, L.L.C.: modifications P00018 and P00019" in note["message"]
    assert ledger(db, "SELECT channel, status FROM deliveries ORDER BY id") == [("email", "sent"), ("apprise", "sent")]
    assert token.encode() not in db.read_bytes()


def test_a_digest_that_was_not_sent_is_not_announced_on_chat(smtp: SmtpServer, digest_env, monkeypatch) -> None:
    monkeypatch.setenv("WATCHER_APPRISE_DESK", "json://127.0.0.1:9/never-called")
    cfg, db = digest_env(ONE + "    apprise_env: WATCHER_APPRISE_DESK\n", smtp.port)  # SMTP down
    code, out = digest(cfg, db, "--now", JULY)
    assert code == 1 and "everything: failed" in out and "apprise" not in out
    assert ledger(db, "SELECT channel, status FROM deliveries ORDER BY id") == [
        ("email", "failed"),
        ("apprise", "failed"),
    ]


THREE = """\
  ann:
    email: ann@example.org
    cadence: daily
  bob:
    email: bob@example.org
    cadence: daily
    min_amount: 1000000
  cy:
    email: cy@example.org
    cadence: instant
"""
#: One kill -9 per seed, at a seeded moment of `watcher digest`; a failure names its seed.
DIGEST_SEEDS = list(range(1, 21))


@pytest.mark.slow
def test_digests_killed_at_random_moments_lose_nothing_and_repeat_only_identically(
    smtp: SmtpServer, digest_env, tmp_path: Path, trial_seeds
) -> None:
    import random
    import signal
    import time

    smtp.start()
    smtp.inbox.delay = 0.3  # three messages take about a second to go out
    cfg, db = digest_env(THREE, smtp.port)
    pristine = tmp_path / "pristine.db"
    src, dst = sqlite3.connect(db), sqlite3.connect(pristine)
    src.backup(dst)
    src.close()
    dst.close()
    assert digest(cfg, db, "--now", JULY)[0] == 0
    expected = _delivered(db)
    assert len(expected) == 3 and len(smtp.inbox.messages) == 3
    killed_midway = 0
    for seed in trial_seeds(DIGEST_SEEDS, 6):
        rng = random.Random(seed)
        smtp.inbox.messages.clear()
        trial = tmp_path / f"trial{seed}.db"
        src, dst = sqlite3.connect(pristine), sqlite3.connect(trial)
        src.backup(dst)
        src.close()
        dst.close()
        proc = _digest_process(cfg, trial)
        deadline = time.monotonic() + 30
        while not ledger(trial, "SELECT count(*) FROM deliveries")[0][0] and time.monotonic() < deadline:
            time.sleep(0.01)  # the first digest is claimed: kill at a seeded moment of the sending itself
        time.sleep(rng.uniform(0, 1.2))
        proc.send_signal(signal.SIGKILL)
        killed_midway += proc.wait(timeout=30) == -9 and len(smtp.inbox.messages) < 3
        assert digest(cfg, trial, "--now", JULY)[0] == 0, f"seed {seed}"
        assert _delivered(trial) == expected, f"seed {seed}"  # every change reached every subscriber it was for
        by_rcpt: dict[str, list[bytes]] = {}
        for _, tos, data in smtp.inbox.messages:
            by_rcpt.setdefault(tos[0], []).append(data)
        assert sorted(by_rcpt) == ["ann@example.org", "bob@example.org", "cy@example.org"], f"seed {seed}"
        # A repeat can only be the one documented window (accepted, then killed): the same bytes, same Message-ID.
        assert all(len(set(copies)) == 1 for copies in by_rcpt.values()), f"seed {seed}"
        with sqlite3.connect(trial) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert killed_midway >= 5  # the kills landed while digests were still going out


def _delivered(db: Path) -> dict[str, list[int]]:
    """subscriber -> the change ids its sent digests carried."""
    out: dict[str, list[int]] = {}
    for sub, change in ledger(
        db,
        "SELECT d.subscriber, i.change_id FROM deliveries d JOIN delivery_items i ON i.delivery_id = d.id"
        " WHERE d.status = 'sent' AND d.channel = 'email' ORDER BY 1, 2",
    ):
        out.setdefault(sub, []).append(change)
    return out
