"""``watcher daemon``: run the schedule in queries.yaml (polls, site builds, digests) until told to stop.

APScheduler 3 (``BlockingScheduler``) with one worker thread per kind of job (polls, site
builds, digests), so a job never overlaps another of its kind and a hung poll never holds up
a digest; coalescing and a misfire grace. A job whose time passed while the daemon was down
runs once at start (``daemon_jobs`` remembers each job's last run).

A poll runs in a child process of its own, so it can be stopped whatever it is waiting on:
past ``schedule.poll_deadline_seconds`` it is killed (its watch run in progress rolls back,
as after a crash, and is recorded as an error), which also frees the database for the
digests waiting to write. SIGTERM or SIGINT stops scheduling and asks the job in progress
to stop (``stopping``, passed on to a poll's process): a poll ends after the page it is on
and keeps what it read. A job that still has not ended after a few seconds (a request
hanging) is abandoned: its transaction rolls back and it runs again at the next start.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
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
from watcher.ops import logs
from watcher.ops.lock import writer_lock
from watcher.settings import cron_fields
from watcher.values import iso_utc, parse_utc

log = logging.getLogger(__name__)
JOBS = ("poll", "site", "site_full", "digest")
#: Each job's executor (one thread each): jobs of one kind never overlap, and no kind waits for another.
KINDS = {"poll": "poll", "site": "site", "site_full": "site", "digest": "digest"}
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


class _Running:
    """The jobs in progress, and the poll's child process, for the stop at SIGTERM."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.jobs: set[str] = set()
        self.child: Any = None  # the poll's process while it runs

    def start(self, name: str) -> None:
        with self._lock:
            self.jobs.add(name)

    def end(self, name: str) -> None:
        with self._lock:
            self.jobs.discard(name)

    def busy(self) -> bool:
        with self._lock:
            return bool(self.jobs)

    def signal_child(self, signum: int) -> None:
        child = self.child
        if child is not None and child.pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it just ended
                os.kill(child.pid, signum)


def run_daemon(config: Config, db_path: Path, jobs: Mapping[str, Callable[[], str]]) -> int:
    """Run ``jobs`` (name -> job returning a summary) on the schedule until SIGTERM/SIGINT; returns the exit code.

    The jobs come from ``watcher.jobs.scheduled``; the poll must be picklable (it runs in a
    child process). Raises Locked if another daemon holds the database.
    """
    sched = config.settings.schedule
    with writer_lock(db_path, "daemon"):
        db = store.open_db(db_path)
        last = dict(db.execute("SELECT job, last_run_at FROM daemon_jobs").fetchall())
        db.conn.close()
        scheduler = BlockingScheduler(
            timezone=ZoneInfo(sched.timezone),
            executors={kind: ThreadPoolExecutor(1) for kind in sorted(set(KINDS.values()))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": sched.misfire_grace_seconds},
        )
        running = _Running()
        now = datetime.now(UTC)
        for name, trigger in triggers(config).items():
            previous = last.get(name)
            due = (
                previous is None or trigger.get_next_fire_time(None, parse_utc(previous) + timedelta(seconds=1)) <= now
            )
            extra: dict[str, Any] = {"next_run_time": now} if due else {}
            if due:
                log.info("daemon: %s %s; running it now", name, "never ran" if previous is None else "was missed")
            job = jobs[name]
            if name == "poll":
                job = _in_child(job, sched.poll_deadline_seconds, db_path, running)
            wrapped = _wrap(name, job, db_path, running)
            scheduler.add_job(wrapped, trigger, id=name, name=name, executor=KINDS[name], **extra)

        def stop(signum: int, frame: Any) -> None:
            log.info("daemon: %s received, stopping", signal.Signals(signum).name)
            stopping.request()  # a job in progress ends after its current page, keeping what it read
            running.signal_child(signal.SIGTERM)  # and so does a poll in its own process
            threading.Thread(target=scheduler.shutdown, kwargs={"wait": False}, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("daemon: started (pid %d); next: %s", os.getpid(), next_runs(config))
        scheduler.start()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while running.busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        if running.busy():
            log.warning("daemon: a job is still running; stopping anyway (its work rolls back and reruns at start)")
            running.signal_child(signal.SIGKILL)
            logging.shutdown()
            os._exit(0)
    log.info("daemon: stopped")
    return 0


def _wrap(name: str, job: Callable[[], str], db_path: Path, running: _Running) -> Callable[[], None]:
    def run() -> None:
        running.start(name)
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
                running.end(name)

    return run


class JobFailed(Exception):
    """A job in a child process failed (its message) or was stopped at its deadline."""


def _in_child(job: Callable[[], str], deadline: float | None, db_path: Path, running: _Running) -> Callable[[], str]:
    """``job`` run in a new process (spawned: no lock or connection of this one is inherited), killed past
    ``deadline`` seconds; the runs it left 'running' are then recorded as abandoned."""

    def run() -> str:
        ctx = multiprocessing.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        root = logging.getLogger()
        verbose = 2 if root.level <= logging.DEBUG else 1 if root.level <= logging.INFO else 0
        fmt = "json" if any(isinstance(h.formatter, logs.JsonFormatter) for h in root.handlers) else "text"
        child = ctx.Process(target=_child_main, args=(job, send, verbose, fmt), name="watcher-poll")
        child.start()
        send.close()
        running.child = child
        log.info("daemon: poll running in process %d", child.pid)
        try:
            child.join(deadline)
            if child.is_alive():
                log.error("daemon: poll abandoned after %g s (schedule.poll_deadline_seconds); stopping it", deadline)
                child.kill()
                child.join()
                db = store.open_db(db_path)
                store.mark_interrupted_runs(
                    db,
                    f"abandoned: the poll was still running after {deadline:g} s (schedule.poll_deadline_seconds)"
                    " and was stopped; nothing from this run was kept, the next poll reads it again",
                )
                db.conn.close()
                raise JobFailed(f"abandoned after {deadline:g} s")
            outcome = receive.recv() if receive.poll() else ("error", f"its process ended with code {child.exitcode}")
        finally:
            running.child = None
            receive.close()
        status, text = outcome
        if status != "ok":
            raise JobFailed(text)
        return str(text)

    return run


def _child_main(job: Callable[[], str], send: Any, verbose: int, fmt: str) -> None:
    """The body of a job's process: the daemon's logging, SIGTERM as a request to stop, the outcome sent back."""
    logs.configure(verbose, fmt)

    def stop(signum: int, frame: Any) -> None:
        stopping.request()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        send.send(("ok", job()))
    except Exception as exc:  # the daemon logs it as the job's failure
        send.send(("error", str(exc)))
    finally:
        send.close()
