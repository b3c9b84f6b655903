"""Tell the admins when a source breaks, when it recovers, and when it goes quiet; once per event.

``assess`` is pure: from the latest runs and changes of a watch and source, and what the
admins were last told (the ``health`` table), it says which alert is due. ``notify_admins``
sends each due alert and records the new state only after the mail server took it, so an
outage of the mail server delays an alert and never drops it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

from sqlite_utils import Database

from watcher import links, stopping
from watcher.config import Config
from watcher.digest import mailer
from watcher.store import write_transaction
from watcher.values import iso_utc
from watcher.words import clean

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    watch: str
    source: str
    state: str  # the new state: broken | ok | quiet
    subject: str
    body: str


def assess(
    watch: str,
    source: str,
    told: str,
    failures: int,
    last_error: str | None,
    last_success: str | None,
    last_change: str | None,
    first_run: str | None,
    now: datetime,
    after_failures: int,
    quiet_days: int | None,
) -> Alert | None:
    """The alert due for one watch and source, if any (pure)."""
    label = f"{watch} / {source}"
    if failures >= after_failures:
        if told == "broken":
            return None
        return Alert(
            watch,
            source,
            "broken",
            f"watcher: {label} is failing ({failures} runs in a row)",
            f"The last {failures} runs of {label} failed. The latest error:\n\n  {clean(last_error, 500)}\n\n"
            f"Last success: {last_success or 'never'}. Other watches keep running; this one is retried at every "
            "run, and you will get one more mail when it works again.",
        )
    if failures == 0 and told == "broken":
        return Alert(
            watch, source, "ok", f"watcher: {label} works again", f"{label} succeeded again at {last_success}."
        )
    if failures == 0 and quiet_days and last_success:
        quiet_since = last_change or "never"
        # A new watch is not "quiet" before it has been watched for quiet_days.
        latest = last_change or first_run
        if latest is not None and latest < iso_utc(now - timedelta(days=quiet_days)):
            if told == "quiet":
                return None
            return Alert(
                watch,
                source,
                "quiet",
                f"watcher: {label} has found nothing new for {quiet_days}+ days",
                f"{label} polls successfully (last success {last_success}) but its latest change was detected "
                f"{quiet_since}. That can be true of the agencies and vendors watched, or a sign that a name or "
                "filter no longer matches anything: check the watch with `watcher check` and `watcher status`.",
            )
        if told == "quiet":
            return Alert(
                watch, source, "ok", f"watcher: {label} has news again", f"A change was detected {last_change}."
            )
    return None


STOPPED_LIKE = stopping.MESSAGE.split(" (")[0] + "%"

#: SAM.gov keys last 90 days; the admins hear this long before the key stops working.
KEY_WARNING_DAYS = 14


def key_expiry(expires: date | None, today: date, told: str) -> Alert | None:
    """One mail when the SAM.gov key is due to expire within two weeks (or has), one when it was renewed (pure)."""
    if expires is None:
        return None
    days = (expires - today).days
    if days <= KEY_WARNING_DAYS and told != "expiring":
        when = f"in {days} days, on {expires}" if days >= 0 else f"on {expires} ({-days} days ago)"
        return Alert(
            "*",
            "sam",
            "expiring",
            f"watcher: the SAM.gov API key expires {when}",
            f"The SAM.gov API key (SAM_API_KEY) expires {when}. After that SAM.gov answers 401/403 and the "
            "SAM.gov sources stop (USAspending keeps running). Get a new key from your SAM.gov profile (Account "
            "Details), put it in the environment, and update settings.sam.key_expires in queries.yaml.",
        )
    if days > KEY_WARNING_DAYS and told == "expiring":
        return Alert("*", "sam", "ok", "watcher: the SAM.gov API key was renewed", f"It now expires on {expires}.")
    return None


def due_alerts(db: Database, config: Config, now: datetime) -> list[Alert]:
    settings = config.settings.alerts
    told = {(w, s): st for w, s, st in db.execute("SELECT watch, source, state FROM health")}
    alerts = []
    if any(s.startswith("sam_") for w in config.watches.values() for s in w.sources):
        key_alert = key_expiry(config.settings.sam.key_expires, now.date(), told.get(("*", "sam"), "ok"))
        if key_alert:
            alerts.append(key_alert)
    for watch, source in db.execute("SELECT DISTINCT watch, source FROM runs ORDER BY watch, source").fetchall():
        if watch not in config.watches:
            continue
        last_ok = db.execute(
            "SELECT max(id), max(finished_at) FROM runs WHERE watch = ? AND source = ? AND status = 'ok'",
            [watch, source],
        ).fetchone()
        # A run the daemon stopped on request (SIGTERM) is partial, not broken: it does not count.
        failures, last_error = db.execute(
            "SELECT count(*), (SELECT error FROM runs WHERE watch = ? AND source = ? AND status = 'error'"
            " ORDER BY id DESC LIMIT 1) FROM runs WHERE watch = ? AND source = ? AND status = 'error' AND id > ?"
            " AND coalesce(error, '') NOT LIKE ?",
            [watch, source, watch, source, last_ok[0] or 0, STOPPED_LIKE],
        ).fetchone()
        (first_run,) = db.execute(
            "SELECT min(started_at) FROM runs WHERE watch = ? AND source = ?", [watch, source]
        ).fetchone()
        (last_change,) = db.execute(
            "SELECT max(c.detected_at) FROM changes c JOIN runs r ON r.id = c.run_id"
            " WHERE r.watch = ? AND r.source = ?",
            [watch, source],
        ).fetchone()
        alert = assess(
            watch,
            source,
            told.get((watch, source), "ok"),
            failures,
            last_error,
            last_ok[1],
            last_change,
            first_run,
            now,
            settings.after_failures,
            settings.quiet_days,
        )
        if alert:
            alerts.append(alert)
    return alerts


def notify_admins(db: Database, config: Config, now: datetime, outbox: Path | None = None) -> list[str]:
    """Send every due alert to the admins; returns one line per alert for the command's output."""
    admins = config.settings.alerts.admins
    if not admins:
        return []
    email = config.settings.email
    if outbox is None and email.smtp is None:
        outbox = config.outbox()
    lines = []
    for alert in due_alerts(db, config, now):
        try:
            for admin in admins:
                _, message = mailer.compose(
                    email,
                    to=admin,
                    subject=alert.subject,
                    text=alert.body + "\n",
                    date=iso_utc(now),
                    list_name="alerts",
                    list_label="watcher alerts",
                    unsubscribe=f"mailto:{parseaddr(email.from_)[1]}?subject=alerts",
                )
                stamp = iso_utc(now).replace(":", "").replace("-", "")
                name = f"{stamp}-alert-{links.safe_name(alert.watch)}-{alert.state}-{links.safe_name(admin)}.eml"
                mailer.dispatch(email, admin, message, outbox, name)
        except (mailer.DeliveryError, OSError) as exc:
            log.warning("alert %r not sent (will retry next run): %s", alert.subject, exc)
            lines.append(f"alert not sent: {alert.subject}: {str(exc).splitlines()[0]}")
            continue
        with write_transaction(db):
            db.execute(
                "INSERT OR REPLACE INTO health (watch, source, state, since, detail, alerted_at) VALUES (?,?,?,?,?,?)",
                [alert.watch, alert.source, alert.state, iso_utc(now), alert.subject, iso_utc(now)],
            )
        lines.append(f"alert sent to {', '.join(admins)}: {alert.subject}")
    return lines
