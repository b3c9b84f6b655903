"""The digest outbox ledger: decide which digests are due, claim their changes, send, record.

Exactly once, by construction:

1. In one write transaction the subscriber's undelivered changes are selected, the
   digest is rendered and stored as a ``pending`` delivery holding the exact message
   bytes and the ids of the changes it carries (``delivery_items``).
2. The message goes to the SMTP server (or into the outbox folder).
3. Only when the server has accepted it is the delivery marked ``sent``.

A failure the server certainly saw (refused connection, login, recipient or message)
marks the delivery ``failed`` and frees its changes for the next digest. A crash, or a
connection lost after the message body went out, leaves it ``pending``: the next run
sends the identical bytes again, with the same Message-ID. That is the one window in
which a subscriber can receive a digest twice (the server took it, we died before
recording that); mail systems and clients drop a second copy with a Message-ID they
already have, which makes it harmless. In outbox mode the file name is fixed per
delivery, so rewriting it is idempotent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from watcher.config import Config
from watcher.digest import build as digest_mod
from watcher.digest import mailer, notify, render
from watcher.digest.cadence import in_quiet_hours, latest_slot, next_slot
from watcher.settings import Subscriber
from watcher.store import coming_up, write_transaction
from watcher.templating import environment
from watcher.values import iso_utc

log = logging.getLogger(__name__)
MAX_REFERENCES = 10


@dataclass
class Result:
    """What happened to one subscriber's digest in this run (one line of ``watcher digest``)."""

    subscriber: str
    status: str  # sent | written | failed | pending | not due | quiet hours | nothing new | dry run
    subject: str = ""
    changes: int = 0
    detail: str = ""
    delivery_id: int | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "pending")

    def line(self) -> str:
        """One line for the command's output: who, what happened, the subject, where it went."""
        head = f"{self.subscriber}: {self.status}"
        if self.subject:
            head += f": {self.subject} ({self.changes} changes)"
        return head + (f" -> {self.detail}" if self.detail else "")


def _subscriber_state(
    db: Database, name: str, sub: Subscriber, now: datetime, backlog_days: int, *, write: bool
) -> dict[str, Any]:
    rows = list(db.query("SELECT * FROM subscribers WHERE subscriber = ?", [name]))
    if rows:
        if rows[0]["email"] != sub.email and write:
            db.execute("UPDATE subscribers SET email = ? WHERE subscriber = ?", [sub.email, name])
        return rows[0]
    # A new subscriber starts with the changes of the last backlog_days, not the whole history.
    since = iso_utc(now - timedelta(days=backlog_days))
    (watermark,) = db.execute("SELECT coalesce(max(id), 0) FROM changes WHERE detected_at < ?", [since]).fetchone()
    state = {"subscriber": name, "email": sub.email, "first_seen_at": iso_utc(now), "watermark": watermark}
    state["last_slot"] = None
    if write:
        db.table("subscribers").insert(state)
    return state


def _references(db: Database, name: str, award_keys: list[str]) -> list[str]:
    """Message-IDs of the first mails this subscriber got about these awards (for threading)."""
    first: dict[str, tuple[int, str]] = {}
    for i in range(0, len(award_keys), 500):
        chunk = award_keys[i : i + 500]
        for key, did, mid in db.execute(
            "SELECT i.award_key, d.id, d.message_id FROM delivery_items i JOIN deliveries d ON d.id = i.delivery_id"
            f" WHERE d.subscriber = ? AND d.status IN ('sent', 'written', 'pending')"
            f" AND i.award_key IN ({','.join('?' * len(chunk))}) ORDER BY d.id",
            [name, *chunk],
        ):
            first.setdefault(key, (did, mid))
    if not first:
        return []
    parent = next(first[k][1] for k in award_keys if k in first)  # the first listed award already mailed
    others = sorted({v for v in first.values() if v[1] != parent})
    return [*[mid for _, mid in others][-(MAX_REFERENCES - 1) :], parent]


def _claim(
    db: Database, config: Config, env: Any, name: str, sub: Subscriber, now: datetime, *, dry_run: bool
) -> tuple[Result, list[dict[str, Any]]]:
    """Inside a write transaction: is a digest due, and if so render it and store it as pending.

    With ``dry_run`` nothing is written: the caller gets the message that would be sent.
    """
    state = _subscriber_state(db, name, sub, now, config.settings.email.backlog_days, write=not dry_run)
    if in_quiet_hours(sub, now):
        return Result(name, "quiet hours", detail=f"quiet hours {sub.quiet_hours} ({sub.timezone})"), []
    slot = latest_slot(sub, now)
    slot_text = iso_utc(slot) if slot else None
    slot_due = slot_text is not None and (state["last_slot"] is None or slot_text > state["last_slot"])
    upcoming = next_slot(sub, now)
    not_due = Result(name, "not due", detail=f"next digest {iso_utc(upcoming) if upcoming else 'on change'}")
    if not slot_due and sub.cadence != "instant" and sub.urgent_amount is None:
        return not_due, []  # cheap path: nothing to read until the next slot
    # Changes detected up to now (a replay with --now on a newer database must not see the future).
    (up_to,) = db.execute("SELECT coalesce(max(id), 0) FROM changes WHERE detected_at <= ?", [iso_utc(now)]).fetchone()
    watches = list(sub.watches or config.watches)
    changes = digest_mod.select_changes(db, name, sub, watches, state["watermark"], up_to)
    dg = digest_mod.build(db, config, name, sub, changes, now=iso_utc(now))
    urgent = any(digest_mod.is_urgent(i, sub) for i in dg.items)
    if not (slot_due or urgent or sub.cadence == "instant"):
        return not_due, []
    if not dg.items and not (sub.send_empty and slot_due):
        if not dry_run:  # everything up to here was considered and filtered out
            db.execute(
                "UPDATE subscribers SET watermark = max(watermark, ?), last_slot = coalesce(?, last_slot)"
                " WHERE subscriber = ?",
                [up_to, slot_text, name],
            )
        return Result(name, "nothing new"), []
    dg, rendered = render.render_within(
        env,
        lambda limit: (
            digest_mod.build(db, config, name, sub, changes, now=iso_utc(now), max_items=limit) if limit else dg
        ),
    )
    email = config.settings.email
    message_id, message = mailer.compose(
        email,
        to=sub.email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        date=iso_utc(now),
        list_name=name,
        list_label=f"watcher digest {name}",
        unsubscribe=dg.unsubscribe,
        references=_references(db, name, dg.award_keys),
    )
    row = {
        "subscriber": name,
        "email": sub.email,
        "channel": "email",
        "status": "pending",
        "created_at": iso_utc(now),
        "slot": slot_text or iso_utc(now),
        "attempts": 0,
        "subject": rendered.subject,
        "message_id": message_id,
        "changes": len(dg.change_ids),
        "considered_up_to": up_to,
        "coming_up_until": dg.coming_up_until,
        "message": message,
    }
    if dry_run:
        return Result(name, "dry run", rendered.subject, len(dg.change_ids)), [row]
    delivery_id = db.table("deliveries").insert(row).last_pk
    item_of = {cid: item.key for item in dg.items for cid in item.change_ids}
    db.conn.executemany(
        "INSERT INTO delivery_items (delivery_id, change_id, award_key) VALUES (?, ?, ?)",
        [(delivery_id, cid, item_of[cid]) for cid in dg.change_ids],
    )
    row["id"] = delivery_id
    rows = [row]  # the chat notice, if any, is sent by run_digests once released
    if sub.apprise_env:  # the second channel: a short notice, sent (and retried) on its own
        title, body = notify.message(dg)
        # "held" until the e-mail is accepted: a digest that failed must not be announced.
        chat = {**row, "channel": "apprise", "email": sub.apprise_env, "message_id": None, "status": "held"}
        chat["parent_id"] = delivery_id
        chat["message"] = json.dumps({"title": title, "body": body}).encode()
        del chat["id"]
        db.table("deliveries").insert(chat)
    return Result(name, "pending", rendered.subject, len(dg.change_ids), delivery_id=delivery_id), rows


def _eml_name(row: dict[str, Any]) -> str:
    stamp = row["created_at"].replace(":", "").replace("-", "")
    return f"{stamp}-{row['subscriber']}-{row.get('id', 'preview')}.eml"


def _deliver(
    db: Database, config: Config, row: dict[str, Any], outbox: Path | None, *, retry: bool, now: datetime
) -> Result:
    """Hand one claimed delivery to SMTP (or the outbox) and record the outcome."""
    name = row["subscriber"]
    result = Result(name, "sent", row["subject"], row["changes"], delivery_id=row["id"])
    try:
        if outbox is not None:
            path = mailer.write_eml(outbox, _eml_name(row), row["message"])
            result.status, result.detail = "written", str(path)
        else:
            assert config.settings.email.smtp is not None
            mailer.send(config.settings.email.smtp, config.settings.email.from_, row["email"], row["message"])
            result.detail = row["email"]
    except (mailer.DeliveryError, OSError) as exc:
        maybe = retry or getattr(exc, "maybe_accepted", False)
        status = "pending" if maybe else "failed"
        with write_transaction(db):
            db.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + 1, error = ? WHERE id = ?",
                [status, str(exc).split("\n")[0], row["id"]],
            )
            if status == "failed":
                db.execute(
                    "UPDATE deliveries SET status = 'failed' WHERE parent_id = ? AND status = 'held'", [row["id"]]
                )
        log.warning("digest for %s %s: %s", name, "will be resent" if maybe else "not sent", exc)
        result.status, result.detail = status, str(exc).split("\n")[0]
        return result
    with write_transaction(db):
        db.execute(
            "UPDATE deliveries SET status = ?, attempts = attempts + 1, sent_at = ?, error = NULL, outbox_path = ?"
            " WHERE id = ?",
            [result.status, iso_utc(now), result.detail if outbox is not None else None, row["id"]],
        )
        db.execute(
            "UPDATE subscribers SET watermark = max(watermark, ?),"
            " last_slot = CASE WHEN last_slot IS NULL OR last_slot < ? THEN ? ELSE last_slot END WHERE subscriber = ?",
            [row["considered_up_to"], row["slot"], row["slot"], name],
        )
        db.execute("UPDATE deliveries SET status = 'pending' WHERE parent_id = ? AND status = 'held'", [row["id"]])
    return result


def _deliver_apprise(db: Database, row: dict[str, Any], now: datetime) -> Result:
    """Chat notices are retried until accepted (a repeat there is harmless); the e-mail ledger is not touched."""
    result = Result(row["subscriber"], "sent", f"[apprise] {row['subject']}", row["changes"], delivery_id=row["id"])
    note = json.loads(row["message"])
    try:
        notify.send(row["email"], note["title"], note["body"])
    except mailer.DeliveryError as exc:
        with write_transaction(db):
            db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, error = ? WHERE id = ?",
                [str(exc).split("\n")[0], row["id"]],
            )
        result.status, result.detail = "pending", str(exc).split("\n")[0]
        return result
    with write_transaction(db):
        db.execute(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?, error = NULL WHERE id = ?",
            [iso_utc(now), row["id"]],
        )
    result.detail = row["email"]
    return result


def run_digests(
    db: Database,
    config: Config,
    *,
    now: datetime,
    outbox: Path | None = None,
    dry_run: bool = False,
    only: list[str] | None = None,
) -> list[Result]:
    """Send every digest that is due (and resend any left pending), one subscriber at a time."""
    env = environment(config.templates_dir())
    if outbox is None and (dry_run or config.settings.email.smtp is None):
        outbox = config.outbox()
    results: list[Result] = []
    if not dry_run:  # today's ending_soon alerts, once per award and date, before any digest reads changes
        coming_up.record_ending_soon(db, iso_utc(now))
    for name, sub in config.subscribers.items():
        if only and name not in only:
            continue
        if dry_run:  # a preview: render what is due, record nothing
            result, rows = _claim(db, config, env, name, sub, now, dry_run=True)
            if rows:
                assert outbox is not None  # a dry run always writes to an outbox (set above)
                result.detail = str(mailer.write_eml(outbox, _eml_name(rows[0]), rows[0]["message"]))
            results.append(result)
            continue
        pending = (
            []
            if in_quiet_hours(sub, now)
            else list(
                db.query(
                    "SELECT * FROM deliveries WHERE subscriber = ? AND status = 'pending' AND channel = 'email'"
                    " ORDER BY id",
                    [name],
                )
            )
        )
        for row in pending:  # left by a crash or a lost connection: the identical message again
            results.append(_deliver(db, config, row, outbox, retry=True, now=now))
        with write_transaction(db):
            result, rows = _claim(db, config, env, name, sub, now, dry_run=False)
        results += [_deliver(db, config, row, outbox, retry=False, now=now) for row in rows] or [result]
        if not in_quiet_hours(sub, now):  # chat notices whose e-mail was accepted, new or left from before
            for row in list(
                db.query(
                    "SELECT * FROM deliveries WHERE subscriber = ? AND status = 'pending' AND channel = 'apprise'"
                    " ORDER BY id",
                    [name],
                )
            ):
                results.append(_deliver_apprise(db, row, now))
    return results
