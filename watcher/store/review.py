"""The review queue: reseller orders that name no watched product, kept for a person to confirm or dismiss.

An order from a known reseller to a watched agency that names no watched vendor or product
(``match.Matcher.review_candidate``) is not a match, and is not thrown away: a poll queues it
here (``pending``) with what a reviewer needs to judge it (PIID, recipient, agency, amount,
description, the vehicle it was placed under). It is not in ``awards`` or ``matches``, so no
page, feed, digest or total counts it. A reviewer decides with ``watcher review``:

- ``confirmed``: the order joins the watch with match reason ``reviewed`` (the evidence says
  who, when and why); the next poll reads it like any new award (or at once, when another
  watch already stored it), and the decision holds through later polls and rule changes
  (the matcher is built with the confirmations, ``confirmed``);
- ``dismissed``: it never comes back to the queue, whatever later modifications say; only a
  modification that names a watched product brings it into the watch, on that evidence, as
  for any award.

A pending order whose search row changes is judged again (a modification may now name the
product, and then it is a match and leaves the queue); an unchanged one costs no request
(``judged``, like ``rejected``). Decisions are kept for good, and exported (``watcher export
review``); the queue is the operator's and never published on the site.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from watcher.match import ReviewDecision
from watcher.models import Award
from watcher.store.reads import _chunks

STATUSES = ("pending", "confirmed", "dismissed")
#: What a reviewer sees of an order, copied from its search row when queued.
SNAPSHOT = (
    "piid",
    "recipient_name",
    "awarding_subagency",
    "parent_award_piid",
    "description",
    "total_obligation",
    "source_url",
)


@dataclass(frozen=True)
class Candidate:
    """An order a poll queues: the award as read (with its search row's fingerprint), and the reseller's key."""

    award: Award
    reseller: str


def save_candidates(db: Database, watch: str, candidates: Sequence[Candidate], now: str) -> None:
    """Queue new candidates as pending; refresh what a reviewer sees of known ones, never their decision."""
    if not candidates:
        return
    cols = ["watch", "entity_key", "reseller", "status", "first_seen_at", "last_seen_at", "fingerprint", *SNAPSHOT]
    refreshed = ["reseller", "last_seen_at", "fingerprint", *SNAPSHOT]
    rows = []
    for c in candidates:
        a = c.award
        snapshot = [getattr(a, f) for f in SNAPSHOT]
        snapshot = [float(v) if isinstance(v, Decimal) else v for v in snapshot]
        rows.append([watch, a.award_key, c.reseller, "pending", now, now, a.fingerprint, *snapshot])
    db.conn.executemany(
        f"INSERT INTO review ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        " ON CONFLICT(watch, entity_key) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in refreshed),
        rows,
    )


def judged(db: Database, watch: str, keys: Sequence[str]) -> dict[str, str]:
    """Queued or dismissed orders among ``keys`` with the fingerprint they were judged at (like ``rejected``).

    A confirmed order is not among them: the poll must read it until the watch holds it.
    """
    out: dict[str, str] = {}
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        for key, fp in db.execute(
            f"SELECT entity_key, fingerprint FROM review WHERE watch = ? AND status != 'confirmed'"
            f" AND fingerprint IS NOT NULL AND entity_key IN ({marks})",
            [watch, *chunk],
        ):
            out[key] = fp
    return out


def drop_pending(db: Database, watch: str, keys: Iterable[str]) -> None:
    """Orders that now match on their own evidence, or are no longer the watch's business (under its
    threshold), leave the queue; a decision already taken stays on record."""
    db.conn.executemany(
        "DELETE FROM review WHERE watch = ? AND entity_key = ? AND status = 'pending'", [(watch, k) for k in keys]
    )


def confirmed(db: Database, watch: str) -> dict[str, ReviewDecision]:
    """The watch's confirmed orders, as the matcher applies them (award key -> decision)."""
    rows = db.query("SELECT * FROM review WHERE watch = ? AND status = 'confirmed'", [watch])
    return {
        r["entity_key"]: ReviewDecision(
            r["vendor"] or "", r["decided_by"], r["decided_at"], r["note"] or "", r["recipient_name"]
        )
        for r in rows
    }


def unread_confirmed(db: Database, watch: str) -> dict[str, str | None]:
    """Confirmed orders the watch does not hold yet (award key -> PIID): the poll reads them by PIID."""
    return {
        key: piid
        for key, piid in db.execute(
            "SELECT entity_key, piid FROM review WHERE watch = ? AND status = 'confirmed'"
            " AND entity_key NOT IN (SELECT entity_key FROM matches WHERE watch = ?)",
            [watch, watch],
        )
    }


def entries(db: Database, *, status: str | None = None, watch: str | None = None) -> list[dict[str, Any]]:
    """Queue rows, biggest orders first (``status``/``watch``: only those)."""
    where, args = ["1=1"], []
    if status:
        where.append("status = ?")
        args.append(status)
    if watch:
        where.append("watch = ?")
        args.append(watch)
    return list(
        db.query(
            f"SELECT * FROM review WHERE {' AND '.join(where)}"
            " ORDER BY coalesce(total_obligation, 0) DESC, entity_key, watch",
            args,
        )
    )


def find(db: Database, text: str, watch: str | None = None) -> list[dict[str, Any]]:
    """The queue rows an award key or a PIID names (in every watch, or in ``watch``)."""
    key = text.strip().upper()
    sql = "SELECT * FROM review WHERE (entity_key = ? OR piid = ?)" + (" AND watch = ?" if watch else "")
    return list(db.query(sql + " ORDER BY watch, entity_key", [key, key, *([watch] if watch else [])]))


def decide(db: Database, row: dict[str, Any], status: str, by: str, note: str, vendor: str, now: str) -> bool:
    """Record a decision on a queue row (inside a transaction); True when the order's match changed at once.

    Confirming an order already stored (another watch holds it) gives it its ``reviewed`` match now;
    otherwise the next poll reads it. Dismissing takes a ``reviewed`` match away: an order that has
    no other reason then leaves the watch (its history stays in the database).
    """
    watch, key = row["watch"], row["entity_key"]
    db.execute(
        "UPDATE review SET status = ?, decided_by = ?, decided_at = ?, note = ?, vendor = ?"
        " WHERE watch = ? AND entity_key = ?",
        [status, by, now, note, vendor if status == "confirmed" else "", watch, key],
    )
    gone = db.execute("DELETE FROM matches WHERE watch = ? AND entity_key = ? AND reason = 'reviewed'", [watch, key])
    if status != "confirmed":
        return gone.rowcount > 0
    if db.execute("SELECT 1 FROM awards WHERE award_key = ?", [key]).fetchone() is None:
        return False
    evidence = ReviewDecision(vendor, by, now, note, row.get("recipient_name")).evidence()
    db.execute(
        "INSERT INTO matches (watch, entity_key, vendor, reason, evidence, matched_at)"
        " VALUES (?, ?, ?, 'reviewed', ?, ?)",
        [watch, key, vendor, evidence, now],
    )
    return True
