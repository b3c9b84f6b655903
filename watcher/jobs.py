"""The watcher's jobs, each written once: poll, build the site, send the digests, backfill, send a test e-mail.

A job takes the lock it needs, opens the database, makes its clients, does its work,
tells the admins what they must hear, and returns a report. The command line and the
daemon only call these and print; neither repeats a step of them.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from watcher import store
from watcher.config import Config
from watcher.digest import mailer
from watcher.digest.deliveries import Result as DigestResult
from watcher.digest.deliveries import run_digests
from watcher.errors import ConfigError, WatcherError
from watcher.http import usaspending_client
from watcher.ops import health, livecheck
from watcher.ops import status as status_mod
from watcher.ops.daemon import next_runs
from watcher.ops.lock import writer_lock
from watcher.settings import email_address
from watcher.site import build as site_build
from watcher.site import publish as site_publish
from watcher.sources import Clients, PollRequest, RunResult, registry
from watcher.sources.sam.client import budget_report, sam_client_for
from watcher.sources.usaspending.backfill import BackfillResult, Progress, run_backfill
from watcher.values import UNSAFE_TEXT, iso_utc

log = logging.getLogger(__name__)


def open_db(config: Config, db_path: Path) -> Database:
    """The database, migrated, with the seed maps (vendors, resellers, agencies) as the config has them."""
    db = store.open_db(db_path)
    store.load_seeds(db, config.vendors, config.resellers, config.agencies)
    return db


@dataclass
class PollReport:
    """One poll: a result per watch and source, and a line per admin alert sent (or not)."""

    results: list[RunResult]
    alerts: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.status not in ("ok", "skipped"))

    def lines(self) -> list[tuple[str, bool]]:
        """What the command prints: a line per alert, then per watch and source; True marks an error line."""
        out = [(line, line.startswith("alert not sent")) for line in self.alerts]
        for r in self.results:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(r.kinds.items())) or "no changes"
            if r.status == "ok":
                what = "notices" if r.source == "sam_opportunities" else "awards"
                out.append((f"{r.watch} / {r.source}: {r.records} {what}, {r.requests} requests, {kinds}", False))
            elif r.status == "skipped":
                out.append((f"{r.watch} / {r.source}: skipped: {r.error}", False))
            else:
                out.append((f"{r.watch} / {r.source}: FAILED after {r.requests} requests: {r.error}", True))
        return [(UNSAFE_TEXT.sub("", line), error) for line, error in out]  # errors quote API answers


def poll(
    config: Config,
    db_path: Path,
    *,
    watches: list[str] | None = None,
    source: str | None = None,
    record: Path | None = None,
) -> PollReport:
    """Fetch, diff and store once, under the writer lock; then alert the admins of what went wrong or recovered.

    ``record``: also save every API response there (``--record``), for a bug report or a replay.
    """
    with writer_lock(db_path):
        db = open_db(config, db_path)
        with usaspending_client(config) as client, sam_client_for(config, db) as sam:
            client.record_to(record, "usaspending")
            if sam is not None:
                sam.http.record_to(record, "sam")
            results = registry.poll(db, config, Clients(client, sam), PollRequest(watch_names=watches, only=source))
        alerts = health.notify_admins(db, config, datetime.now(UTC))
    return PollReport(results, alerts)


def status(db: Database, db_path: Path, config: Callable[[], Config]) -> dict[str, Any]:
    """``watcher status``: the report, with the schedule and SAM.gov's budget when the config loads
    (status still works without a valid config: it is what one runs when something is wrong)."""
    data = status_mod.report(db, db_path)
    try:
        loaded = config()
        data["next_runs"] = next_runs(loaded)
        data["sam"] = budget_report(db, loaded)
    except WatcherError:
        data["next_runs"] = {}
    return data


def run_steps(steps: list[tuple[str, Callable[[], int]]], warn: Callable[[str], None]) -> int:
    """``watcher run``: each step in turn, a failing one reported and the next still run; how many failed.

    Any exception fails only its step, not just a WatcherError: the site and the digests work
    from what is stored, so a bug or a fault in one step (a template, a full disk) must never
    keep the digests from going out. Ctrl-C (KeyboardInterrupt) still stops the whole run.
    """
    failed = 0
    for name, step in steps:
        try:
            failed += step()
        except Exception as exc:
            message = describe(exc)
            log.error("run: the %s step failed: %s", name, message)
            if not isinstance(exc, WatcherError):
                log.debug("traceback of the %s step", name, exc_info=True)
            warn(f"{name}: error: {message}")
            failed += 1
    return failed


def describe(exc: BaseException) -> str:
    """One line for an exception: a WatcherError's own message, a storage fault in plain words, else its type."""
    if isinstance(exc, WatcherError):
        return str(exc)
    if isinstance(exc, sqlite3.Error | OSError):
        return store.explain(exc)
    return f"{type(exc).__name__}: {exc} (unexpected: run it again with -vv for the traceback, and report it)"


def live_check(config: Config, db_path: Path, record: Path | None = None) -> list[livecheck.Finding]:
    """``check --live``: a handful of real requests; SAM.gov's are counted in the database's daily budget."""
    db = open_db(config, db_path)
    with usaspending_client(config) as client:
        return livecheck.run(config, db, client, record)


def build_site(config: Config, db_path: Path, out: Path, *, full: bool = False) -> site_build.BuildResult:
    """Build the static site into ``out`` (incremental unless ``full``), under the site's own lock."""
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: the folder {out.parent} does not exist; create it, or build the site elsewhere")
    with writer_lock(out.parent / out.name, "site"):
        return site_build.build(store.open_db(db_path), config, out, now=iso_utc(datetime.now(UTC)), full=full)


def publish_site(config: Config, site: Path) -> site_publish.PublishResult:
    """Send the built site where settings.publish says, under the site's lock (never a build half written)."""
    if config.settings.publish is None:
        raise ConfigError(
            f"{config.path}: settings.publish is not set; add publish: {{rsync: {{dest: ...}}}}"
            " or publish: {git: {repo: ..., branch: gh-pages}} (see the README)"
        )
    with writer_lock(site.parent / site.name, "site"):
        return site_publish.publish(site, config.settings.publish, config.root)


def describe_publish(config: Config) -> str:
    """The line `watcher check` prints for settings.publish: where the site goes, credentials hidden."""
    p = config.settings.publish
    assert p is not None
    where = "nowhere"
    if p.rsync is not None:
        where = f"rsync to {site_publish.redact(site_publish.resolve(p.rsync.dest, config.root))}"
    elif p.git is not None:
        where = f"git branch {p.git.branch} of {site_publish.redact(site_publish.resolve(p.git.repo, config.root))}"
    after = "after each site build and " if p.after_build else ""
    warn = "" if config.settings.site_url else " (settings.site_url is not set: pages will have no canonical URL)"
    return f"publish: {where}, {after}on `watcher publish`{warn}"


def publishes_after_build(config: Config) -> bool:
    """Whether `watcher run` and the daemon publish after each site build."""
    return config.settings.publish is not None and config.settings.publish.after_build


def send_digests(
    config: Config,
    db_path: Path,
    *,
    now: datetime | None = None,
    outbox: Path | None = None,
    dry_run: bool = False,
    only: list[str] | None = None,
) -> list[DigestResult]:
    """Send (or write) the digests that are due, under the digest lock; one result per subscriber."""
    with writer_lock(db_path, "digest"):
        db = store.open_db(db_path)
        return run_digests(db, config, now=now or datetime.now(UTC), outbox=outbox, dry_run=dry_run, only=only)


def backfill_window(since_text: str, until_text: str | None) -> tuple[date, date | None]:
    """``--since`` / ``--until`` as dates, or a ConfigError saying what is wrong with them."""
    try:
        since = date.fromisoformat(since_text)
        until = date.fromisoformat(until_text) if until_text else None
    except ValueError:
        raise ConfigError(f"--since/--until: use a date like 2024-10-01 (got {since_text!r}, {until_text!r})") from None
    if since < date(2007, 10, 1):
        raise ConfigError("--since: USAspending's search starts at 2007-10-01")
    return since, until


def backfill(
    config: Config,
    db_path: Path,
    since: date,
    until: date | None = None,
    *,
    watches: list[str] | None = None,
    progress: Progress | None = None,
    record: Path | None = None,
) -> list[BackfillResult]:
    """Fetch the selected watches' history since ``since``, under the writer lock; resumable."""
    with writer_lock(db_path):
        db = open_db(config, db_path)
        with usaspending_client(config) as client:
            client.record_to(record, "usaspending")
            return run_backfill(db, config, client, since, until, watch_names=watches, progress=progress)


def send_test_email(config: Config, address: str, outbox: Path | None = None) -> str:
    """One test message to ``address`` through the configured SMTP server (or the outbox); says where it went."""
    try:
        address = email_address(address)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    email = config.settings.email
    now = datetime.now(UTC)
    via = email.smtp.host if email.smtp else "the outbox (no SMTP server configured)"
    text = (
        "This is a test message from watcher.\n\nIf you can read it, digests can reach this address.\n"
        f"Sent {iso_utc(now)} via {via}.\n"
    )
    _, message = mailer.compose(
        email,
        to=address,
        subject="watcher: test message",
        text=text,
        date=iso_utc(now),
        list_name="test",
        list_label="watcher test",
    )
    if outbox is None and email.smtp is None:
        outbox = config.outbox()
    where = mailer.dispatch(email, address, message, outbox, f"test-{now:%Y%m%dT%H%M%S}.eml")
    return f"no SMTP server used: {where}" if where.startswith("written") else where


def poll_summary(config: Config, db_path: Path) -> str:
    """The daemon's poll: one poll, as a line for its log."""
    report = poll(config, db_path)
    summary = ", ".join(f"{r.watch}: {sum(r.kinds.values())} changes" for r in report.results)
    failed = sum(1 for r in report.results if r.status != "ok")
    return f"{summary}; {failed} failed" + (f"; {'; '.join(report.alerts)}" if report.alerts else "")


def scheduled(config: Config, db_path: Path) -> dict[str, Callable[[], str]]:
    """The daemon's jobs by name, each returning a one-line summary for its log.

    The poll is a partial of a module-level function: the daemon runs it in a process of its own.
    """

    def site_job(full: bool) -> Callable[[], str]:
        def run() -> str:
            r = build_site(config, db_path, config.site_dir(), full=full)
            line = f"{'full' if r.full else 'incremental'} build, {r.files} files, {r.seconds:.1f} s"
            if publishes_after_build(config):
                line += "; " + publish_site(config, config.site_dir()).line()
            return line

        return run

    def digest_job() -> str:
        results = send_digests(config, db_path)
        return ", ".join(f"{r.subscriber}: {r.status}" for r in results) or "no subscribers"

    poll_job = functools.partial(poll_summary, config, db_path)
    return {"poll": poll_job, "site": site_job(False), "site_full": site_job(True), "digest": digest_job}
