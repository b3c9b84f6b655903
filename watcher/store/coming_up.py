"""The calendar ahead: the ``coming_up`` view's rules, reading its dates, and recording ``ending_soon`` once.

Campaigns act before a contract is renewed or runs out, so every watched award's known
future dates are read from the columns the polls already keep (no request of their own):

- ``end``: ``end_date`` when no option is left according to the data (no
  ``potential_end_date``, or one not later than it): the award ends that day.
- ``next_option``: ``end_date`` when ``potential_end_date`` is later. The current period of
  performance ends that day, so the next option must be exercised by then or the award ends
  early. USAspending has no option schedule: this is the one option date the data shows.
- ``potential_end``: ``potential_end_date`` when it is later than ``end_date`` (or the end is
  unknown): the award ends that day if every option is exercised.
- ``last_order``: ``last_date_to_order`` (IDVs, contract vehicles): the last day an order may be placed.

An award therefore has at most one final date (``end`` or ``potential_end``). The view holds
every date, past ones too; readers filter on ``date`` (``upcoming`` below does).

``ending_soon`` is a row of ``changes`` written once per award and date, when a final date or
a last-order date falls within ``ENDING_SOON_DAYS``: a partial unique index (migration
``m025_ending_soon``) makes a second insert of the same award and date a no-op, so a rerun, a
crash between the insert and the digest, or two digest runs on one day never record it twice;
the digest ledger (``delivery_items``) then mails each such change once per subscriber. A
date that moves is a new date, and a new change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlite_utils import Database

from watcher.models import ChangeKind

#: Days ahead within which an award's final date (or last order date) raises ``ending_soon``.
ENDING_SOON_DAYS = 30
#: The date kinds that end an award (or its ordering): the ones ``ending_soon`` is about.
ENDING_KINDS = ("end", "potential_end", "last_order")
#: The ``changes.diff`` field of an ``ending_soon`` change: ``{"ends_on": [null, "YYYY-MM-DD"]}``.
ENDS_ON = "ends_on"

#: The ``coming_up`` view (``store/views.py`` creates it): one row per watched award, kind of date and date.
COMING_UP_SQL = """
    SELECT d.award_key, d.date_kind, d.date, a.piid, a.category, a.award_type, a.recipient_name,
           a.awarding_subagency, a.funding_subagency, a.description, a.total_obligation, a.potential_value,
           a.end_date, a.potential_end_date, a.last_date_to_order,
           (SELECT group_concat(DISTINCT m.vendor) FROM matches m
            WHERE m.entity_key = d.award_key AND m.vendor != '') AS vendors,
           (SELECT group_concat(DISTINCT watch) FROM matches m WHERE m.entity_key = d.award_key) AS watches,
           a.source_url
    FROM (
        SELECT award_key, 'end' AS date_kind, end_date AS date FROM awards
        WHERE end_date IS NOT NULL AND (potential_end_date IS NULL OR potential_end_date <= end_date)
        UNION ALL
        SELECT award_key, 'next_option', end_date FROM awards
        WHERE end_date IS NOT NULL AND potential_end_date > end_date
        UNION ALL
        SELECT award_key, 'potential_end', potential_end_date FROM awards
        WHERE potential_end_date IS NOT NULL AND (end_date IS NULL OR potential_end_date > end_date)
        UNION ALL
        SELECT award_key, 'last_order', last_date_to_order FROM awards WHERE last_date_to_order IS NOT NULL
    ) d JOIN awards a ON a.award_key = d.award_key
    WHERE EXISTS (SELECT 1 FROM matches m WHERE m.entity_key = d.award_key)
"""


def window(today: str, days: int) -> tuple[str, str]:
    """The ISO dates from ``today`` (a date or a timestamp) to ``days`` later, both inclusive."""
    start = date.fromisoformat(today[:10])
    return start.isoformat(), (start + timedelta(days=days)).isoformat()


def _where(today: str, days: int, watches: Sequence[str] | None, kinds: Sequence[str] | None) -> tuple[str, list[Any]]:
    start, end = window(today, days)
    sql = "c.date >= ? AND c.date <= ?"
    args: list[Any] = [start, end]
    if watches is not None:
        held = f"SELECT 1 FROM matches m WHERE m.entity_key = c.award_key AND m.watch IN ({_marks(watches)})"
        sql += f" AND EXISTS ({held})"
        args += list(watches)
    if kinds is not None:
        sql += f" AND c.date_kind IN ({_marks(kinds)})"
        args += list(kinds)
    return sql, args


def upcoming(
    db: Database,
    today: str,
    days: int,
    watches: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The ``coming_up`` rows dated from ``today`` to ``days`` later, soonest first, for some watches only.

    ``limit``: only the soonest rows (the site's page and feeds show a bounded number; reading
    every row of a year at 100k awards costs seconds, most of it building row dicts).
    """
    where, args = _where(today, days, watches, kinds)
    sql = f"SELECT * FROM coming_up c WHERE {where} ORDER BY c.date, c.award_key, c.date_kind"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return list(db.query(sql, args))


def count_upcoming(
    db: Database, today: str, days: int, watches: Sequence[str] | None = None, kinds: Sequence[str] | None = None
) -> int:
    """How many ``coming_up`` rows :func:`upcoming` would return without a limit."""
    where, args = _where(today, days, watches, kinds)
    (n,) = db.execute(f"SELECT count(*) FROM coming_up c WHERE {where}", args).fetchone()
    return int(n)


def told_until(db: Database, subscriber: str) -> str | None:
    """The far end of the latest coming-up window this subscriber's digests have shown (None: never shown).

    A digest that is ``pending`` counts: its exact bytes are resent, never rebuilt. A ``failed``
    one does not: the server certainly did not take it, so its dates were never told.
    """
    row = db.execute(
        "SELECT max(coming_up_until) FROM deliveries WHERE subscriber = ? AND status IN ('pending', 'sent', 'written')",
        [subscriber],
    ).fetchone()
    return row[0] if row else None


def record_ending_soon(db: Database, now: str, days: int = ENDING_SOON_DAYS) -> int:
    """Write an ``ending_soon`` change for each watched award and date ending within ``days`` not yet recorded.

    Idempotent (the partial unique index ignores a repeat), and one transaction: the caller
    runs it before reading changes for digests, with the same ``now`` (``--now`` replays work).
    Nothing is written while the log holds a change detected after ``now`` (a ``--now`` in the
    past on a newer database): ids must grow with ``detected_at``, since a digest's watermark is
    an id, and an alert slipped in after later changes would carry the watermark past them. The
    next run at a later ``now`` records it.
    """
    db.execute("BEGIN IMMEDIATE")  # the write lock first: a poll writing meanwhile never deadlocks this
    try:
        if db.execute("SELECT 1 FROM changes WHERE detected_at > ? LIMIT 1", [now]).fetchone():
            db.conn.rollback()
            return 0
        rows = upcoming(db, now, days, kinds=ENDING_KINDS)
        dates = sorted({(r["award_key"], r["date"]) for r in rows})
        before = db.conn.total_changes
        db.conn.executemany(
            "INSERT OR IGNORE INTO changes (run_id, detected_at, kind, entity_key, award_key, diff, source)"
            " VALUES (NULL, ?, ?, ?, ?, ?, NULL)",
            [(now, ChangeKind.ENDING_SOON.value, k, k, json.dumps({ENDS_ON: [None, day]})) for k, day in dates],
        )
        added = db.conn.total_changes - before
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.commit()
    return added


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))
