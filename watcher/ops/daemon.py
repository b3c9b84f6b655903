"""``watcher daemon``: run the schedule in queries.yaml (polls, site builds, digests) until told to stop.

APScheduler 3 (``BlockingScheduler``) with one worker thread, so jobs never overlap (the
database has one writer), coalescing and a misfire grace. A job whose time passed while
the daemon was down runs once at start (``daemon_jobs`` remembers each job's last run).
SIGTERM or SIGINT stops scheduling and asks the job in progress to stop (``stopping``): a
poll ends after the page it is on and keeps what it read. A job that still has not ended
after a few seconds (a request hanging) is abandoned: its transaction rolls back and it
runs again at the next start.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from watcher import stopping, store
from watcher.config import Config
from watcher.ops.lock import writer_lock
from watcher.settings import cron_fields
from watcher.values import iso_utc, parse_utc

log = logging.getLogger(__name__)
JOBS = ("poll", "site", "site_full", "digest")
#: How long a job in progress may take to finish after SIGTERM (the promise is: exit within 10 s).
STOP_GRACE_SECONDS = 8.0


def triggers(config: Config) -> dict[str, CronTrigger]:
    """The configured jobs and their cron triggers, in the schedule's time zone."""
    sched = config.settings.schedule
    tz = ZoneInfo(sched.timezone)
    return {
        name: CronTrigger(**cron_fields(expr), timezone=tz)
        for name in JOBS
        if (expr := getattr(sched, name)) is not None
    }


def next_runs(config: Config, now: datetime | None = None) -> dict[str, str]:
    """When each job runs next (for ``watcher status``)."""
    now = now or datetime.now(UTC)
    out = {}
    for name, trigger in triggers(config).items():
        nxt = trigger.get_next_fire_time(None, now)
        if nxt is not None:
            out[name] = iso_utc(nxt)
    return out


def run_daemon(config: Config, db_path: Path, jobs: Mapping[str, Callable[[], str]]) -> int:
    """Run ``jobs`` (name -> job returning a summary) on the schedule until SIGTERM/SIGINT; returns the exit code.

    The jobs come from ``watcher.jobs.scheduled``; raises Locked if another daemon holds the database.
    """
    sched = config.settings.schedule
    with writer_lock(db_path, "daemon"):
        db = store.open_db(db_path)
        last = dict(db.execute("SELECT job, last_run_at FROM daemon_jobs").fetchall())
        db.conn.close()
        scheduler = BlockingScheduler(
            timezone=ZoneInfo(sched.timezone),
            executors={"default": ThreadPoolExecutor(1)},  # one job at a time: one writer
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": sched.misfire_grace_seconds},
        )
        running = threading.Event()
        now = datetime.now(UTC)
        for name, trigger in triggers(config).items():
            previous = last.get(name)
            due = (
                previous is None or trigger.get_next_fire_time(None, parse_utc(previous) + timedelta(seconds=1)) <= now
            )
            extra: dict[str, Any] = {"next_run_time": now} if due else {}
            if due:
                log.info("daemon: %s %s; running it now", name, "never ran" if previous is None else "was missed")
            scheduler.add_job(_wrap(name, jobs[name], db_path, running), trigger, id=name, name=name, **extra)

        def stop(signum: int, frame: Any) -> None:
            log.info("daemon: %s received, stopping", signal.Signals(signum).name)
            stopping.request()  # a job in progress ends after its current page, keeping what it read
            threading.Thread(target=scheduler.shutdown, kwargs={"wait": False}, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("daemon: started (pid %d); next: %s", os.getpid(), next_runs(config))
        scheduler.start()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while running.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        if running.is_set():
            log.warning("daemon: a job is still running; stopping anyway (its work rolls back and reruns at start)")
            logging.shutdown()
            os._exit(0)
    log.info("daemon: stopped")
    return 0


def _wrap(name: str, job: Callable[[], str], db_path: Path, running: threading.Event) -> Callable[[], None]:
    def run() -> None:
        running.set()
        started = time.monotonic()
        try:
            summary = job()
            log.info("daemon: %s done in %.1f s: %s", name, time.monotonic() - started, summary)
        except Exception as exc:  # one failing job never stops the daemon
            log.error("daemon: %s failed: %s", name, exc)
        finally:
            try:
                db = store.open_db(db_path)
                db.execute(
                    "INSERT OR REPLACE INTO daemon_jobs (job, last_run_at) VALUES (?, ?)",
                    [name, iso_utc(datetime.now(UTC))],
                )
                db.conn.close()
            finally:
                running.clear()

    return run
