"""`watcher daemon` as a subprocess with a seconds-level schedule against the replay API and a real SMTP server."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SmtpServer
from tests.test_poll_e2e import awards_from, base_rows

pytestmark = pytest.mark.slow


def _config(write_config, smtp_port: int, site: Path) -> Path:
    config = write_config(extra="subscribers:\n  desk:\n    email: desk@example.org\n    cadence: instant\n")
    block = (
        f"  email:\n    smtp:\n      host: 127.0.0.1\n      port: {smtp_port}\n      security: none\n"
        '  schedule:\n    poll: "*/2 * * * * *"\n    site: "*/3 * * * * *"\n    site_full: null\n'
        f'    digest: "*/2 * * * * *"\n    site_dir: {site}\n'
    )
    config.write_text(config.read_text().replace("settings:\n", "settings:\n" + block))
    return config


def _wait(check, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_daemon_polls_builds_mails_refuses_a_second_and_stops_on_sigterm(
    replay, write_config, smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.start()
    replay.set_awards(awards_from(base_rows()))
    site = tmp_path / "site"
    config = _config(write_config, smtp.port, site)
    db = tmp_path / "w.db"
    env = {**os.environ, "WATCHER_USASPENDING_URL": replay.url, "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "watcher", "-v", "--config", str(config), "--db", str(db), "daemon"]
    log = (tmp_path / "daemon.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: len(smtp.inbox.messages) == 1 and (site / "index.html").exists())
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and f"another watcher daemon process (pid {proc.pid})" in second.stderr
        _wait(lambda: _count(db, "SELECT count(*) FROM runs WHERE status = 'ok'") >= 3)
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - stopped < 10
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    text = (tmp_path / "daemon.log").read_text()
    assert "daemon: poll never ran; running it now" in text and "daemon: stopped" in text
    assert len(smtp.inbox.messages) == 1  # later polls found nothing new: nothing more to mail
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT started_at, finished_at FROM runs ORDER BY id").fetchall()
        jobs = dict(conn.execute("SELECT job, last_run_at FROM daemon_jobs"))
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(runs))  # never two polls at once
    assert set(jobs) == {"poll", "site", "digest"}


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_missed_job_runs_at_start_and_a_recent_one_waits(replay, write_config, smtp: SmtpServer, tmp_path) -> None:
    from watcher import store
    from watcher.config import load_config
    from watcher.ops.daemon import next_runs

    config = _config(write_config, smtp.port, tmp_path / "site")
    text = config.read_text().replace('poll: "*/2 * * * * *"', 'poll: "0 3 * * mon"')
    config.write_text(
        text.replace('site: "*/3 * * * * *"', "site: null").replace('digest: "*/2 * * * * *"', "digest: null")
    )
    db = store.open_db(tmp_path / "w.db")
    db.execute("INSERT INTO daemon_jobs VALUES ('poll', '2000-01-03T03:00:00Z')")  # a Monday long ago
    db.conn.commit()
    env = {**os.environ, "WATCHER_USASPENDING_URL": replay.url}
    cmd = [sys.executable, "-m", "watcher", "-v", "--config", str(config), "--db", str(tmp_path / "w.db"), "daemon"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait(lambda: _count(tmp_path / "w.db", "SELECT count(*) FROM runs") >= 1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "daemon: poll was missed; running it now" in out
    assert set(next_runs(load_config(config))) == {"poll"}


def test_sigterm_mid_poll_ends_at_a_page_boundary_keeping_the_pages_read(
    replay, write_config, smtp: SmtpServer, tmp_path: Path
) -> None:
    from tests.conftest import tx_row

    rows = [
        tx_row(
            f"70CTD026FC00003{i:02d}",
            f"CONT_AWD_70CTD026FC00003{i:02d}_7012_-NONE-_-NONE-",
            "PALANTIR TECHNOLOGIES INC.",
            f"{1000 + i}.00",
            time.strftime("%Y-%m-%d"),
            desc="LICENSES",
        )
        for i in range(40)
    ]
    replay.set_awards(awards_from(rows))
    replay.delay = 0.25  # each page of 2 awards costs 5 requests: the poll would take about a minute
    smtp.start()
    config = _config(write_config, smtp.port, tmp_path / "site")
    config.write_text(config.read_text().replace("page_size: 100", "page_size: 2"))
    db = tmp_path / "w.db"
    env = {**os.environ, "WATCHER_USASPENDING_URL": replay.url, "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "watcher", "-v", "--config", str(config), "--db", str(db), "daemon"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: len(replay.requests) >= 12, timeout=30)  # well into the first walk
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - stopped < 10
    finally:
        replay.delay = 0.0
        if proc.poll() is None:
            proc.kill()
    output = proc.stdout.read() if proc.stdout else ""
    assert "still running" not in output  # it ended by itself at the page boundary, not by the hard stop
    with sqlite3.connect(db) as conn:
        status, error, pages = conn.execute("SELECT status, error, pages FROM runs ORDER BY id LIMIT 1").fetchone()
        awards, changes = conn.execute(
            "SELECT (SELECT count(*) FROM awards), (SELECT count(*) FROM changes)"
        ).fetchone()
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert status == "error" and "stopped early" in error and pages >= 1
    assert 0 < awards < 40 and changes == awards  # the pages read are kept, each award once, with its change
