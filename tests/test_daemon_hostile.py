"""The daemon against a hung poll (issue 19, item 2): digests still go out, and the poll is abandoned at its deadline.

`watcher daemon` as a subprocess; the replay's search endpoint sends one byte a second with a
request deadline of a minute, so the poll hangs. Digests (every 2 s) run in their own
executor, and the poll, run in a child process, is killed at ``schedule.poll_deadline_seconds``:
its write transaction rolls back, the run in progress is recorded as an error, and the
digest that waited for the database goes out.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SmtpServer, awards_from
from tests.test_daemon import _count, _wait
from tests.test_poll_e2e import base_rows
from watcher.fakes import hostile
from watcher.fakes.usaspending import UsaspendingReplay

pytestmark = pytest.mark.slow
POLL_DEADLINE = 10
#: Seconds after the start when the digest fires: the poll is hanging in its write transaction by then.
DIGEST_AT = 5


def test_a_hung_poll_neither_starves_digests_nor_outlives_its_deadline(
    replay: UsaspendingReplay, write_config, smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.start()
    replay.set_awards(awards_from(base_rows()))
    config = write_config(extra="subscribers:\n  desk:\n    email: desk@example.org\n    cadence: instant\n")
    db = tmp_path / "w.db"
    env = {**os.environ, "WATCHER_USASPENDING_URL": replay.url, "PYTHONDONTWRITEBYTECODE": "1"}  # type: ignore[attr-defined]
    base = [sys.executable, "-m", "watcher", "-v", "--config", str(config), "--db", str(db)]
    first = subprocess.run([*base, "poll"], env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr  # three new awards, not mailed yet
    digest_second = (int(time.time()) + DIGEST_AT) % 60
    block = (
        f"  email:\n    smtp:\n      host: 127.0.0.1\n      port: {smtp.port}\n      security: none\n"
        '  schedule:\n    poll: "*/2 * * * * *"\n    site: null\n    site_full: null\n'
        f'    digest: "{digest_second} * * * * *"\n    poll_deadline_seconds: {POLL_DEADLINE}\n'
    )
    slow = "    timeout_seconds: 30\n    deadline_seconds: 60\n"  # each byte comes in time: only the deadlines end it
    text = config.read_text().replace("    min_interval_seconds: 0\n", slow)
    config.write_text(text.replace("settings:\n", "settings:\n" + block))
    with sqlite3.connect(db) as conn:  # the digest is not due at start: it first runs at DIGEST_AT
        conn.execute("INSERT INTO daemon_jobs VALUES ('digest', strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+1 minute'))")
    replay.faults.append(hostile.fault("/api/v2/search/spending_by_award/", hostile.drip(interval=1.0)))
    log = (tmp_path / "daemon.log").open("w")
    proc = subprocess.Popen([*base, "daemon"], env=env, stdout=log, stderr=subprocess.STDOUT)
    started = time.monotonic()
    try:
        _wait(lambda: len(smtp.inbox.messages) == 1, timeout=30)
        mailed = time.monotonic() - started
        _wait(lambda: _count(db, "SELECT count(*) FROM runs WHERE error LIKE 'abandoned%'") >= 1, timeout=30)
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - stopped < 10
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    text = (tmp_path / "daemon.log").read_text()
    print(f"\ndigest mailed {mailed:.1f} s after the daemon started, the poll hanging")
    # The digest fired while the poll hung in its write transaction; it waited for it at most until the
    # poll's deadline (plus a process start and a tick), not for the request's minute.
    assert DIGEST_AT - 1 < mailed < POLL_DEADLINE + 5, text
    assert f"daemon: poll abandoned after {POLL_DEADLINE} s" in text
    with sqlite3.connect(db) as conn:
        (error,) = conn.execute("SELECT error FROM runs WHERE error LIKE 'abandoned%' LIMIT 1").fetchone()
        assert conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone() == (0,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert "schedule.poll_deadline_seconds" in error
    # No poll process outlives the daemon.
    pids = [int(p) for p in re.findall(r"daemon: poll running in process (\d+)", text)]
    assert pids and not [p for p in pids if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
