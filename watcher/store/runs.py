"""The ``runs`` ledger and what each watch remembers between runs (verified agencies, rules, rejections).

Also the ledger read back for readers: how fresh each source's data is, in words.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlite_utils import Database

from watcher.store.reads import _chunks
from watcher.values import utcnow
from watcher.words import SOURCE_LABELS, clean, when


def start_run(db: Database, watch: str, source: str, now: str | None = None) -> int:
    cur = db.execute(
        "INSERT INTO runs (started_at, watch, source, status, requests, pages, records, changes)"
        " VALUES (?, ?, ?, 'running', 0, 0, 0, 0)",
        [now or utcnow(), watch, source],
    )
    return int(cur.lastrowid or 0)


def finish_run(
    db: Database,
    run_id: int,
    status: str,
    *,
    requests: int = 0,
    pages: int = 0,
    records: int = 0,
    changes: int = 0,
    error: str | None = None,
    warnings: str | None = None,
    duration: float = 0.0,
    finished: str | None = None,
) -> None:
    finished = finished or utcnow()
    db.execute(
        "UPDATE runs SET finished_at=?, duration_seconds=?, status=?, requests=?, pages=?,"
        " records=?, changes=?, error=?, warnings=? WHERE id=?",
        [finished, duration, status, requests, pages, records, changes, error, warnings, run_id],
    )


def mark_interrupted_runs(db: Database, error: str | None = None) -> int:
    """Runs left 'running' by a killed process are errors (``error`` says why); their data was rolled back."""
    cur = db.execute(
        "UPDATE runs SET status='error', error=?, finished_at=? WHERE status='running'",
        [error or "interrupted (process stopped mid-run; nothing from it was kept)", utcnow()],
    )
    return cur.rowcount


def matched_keys(db: Database, watch: str) -> set[str]:
    """Every award the watch holds matches for (one query per run, not one per page)."""
    return {r[0] for r in db.execute("SELECT DISTINCT entity_key FROM matches WHERE watch = ?", [watch])}


def get_rejected(db: Database, watch: str, keys: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        for key, fp in db.execute(
            f"SELECT award_key, fingerprint FROM rejected WHERE watch=? AND award_key IN ({marks})", [watch, *chunk]
        ):
            out[key] = fp
    return out


def agencies_verified_since(db: Database, since: str) -> set[tuple[str, str]]:
    return {(n, t) for n, t in db.execute("SELECT name, tier FROM agency_checks WHERE verified_at >= ?", [since])}


def agency_verified(db: Database, name: str, tier: str, now: str) -> None:
    db.execute(
        "INSERT INTO agency_checks (name, tier, verified_at) VALUES (?, ?, ?)"
        " ON CONFLICT(name, tier) DO UPDATE SET verified_at = excluded.verified_at",
        [name, tier, now],
    )


def rules_changed(db: Database, watch: str, signature: str) -> bool:
    row = db.execute("SELECT signature FROM watch_rules WHERE watch = ?", [watch]).fetchone()
    return row is None or row[0] != signature


def set_rules(db: Database, watch: str, signature: str, now: str) -> None:
    """Record the rules a watch ran with; stale verdicts made under other rules are dropped.

    Rejections go; orders waiting in the review queue are judged again when next listed (a person's
    decisions stay: they are not verdicts of the rules).
    """
    db.execute("DELETE FROM rejected WHERE watch = ?", [watch])
    db.execute("UPDATE review SET fingerprint = NULL WHERE watch = ? AND status = 'pending'", [watch])
    db.execute(
        "INSERT INTO watch_rules (watch, signature, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(watch) DO UPDATE SET signature=excluded.signature, updated_at=excluded.updated_at",
        [watch, signature, now],
    )


def save_rejected(db: Database, watch: str, rejected: Sequence[tuple[str, str | None]], now: str) -> None:
    if not rejected:
        return
    db.conn.executemany(
        "INSERT INTO rejected (watch, award_key, fingerprint, rejected_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(watch, award_key) DO UPDATE SET"
        " fingerprint=excluded.fingerprint, rejected_at=excluded.rejected_at",
        [(watch, key, fp, now) for key, fp in rejected],
    )


def data_as_of(db: Database, watches: Sequence[str], now: str) -> list[str]:
    """One line per source: when it last answered, and whether its latest run (up to now) failed."""
    marks = ",".join("?" * len(watches))
    lines = []
    for source, ok_at in db.execute(
        f"SELECT source, max(CASE WHEN status = 'ok' THEN finished_at END) FROM runs WHERE watch IN ({marks})"
        " AND started_at <= ? GROUP BY source ORDER BY source",
        [*watches, now],
    ).fetchall():
        label = SOURCE_LABELS.get(source, source)
        line = f"{label}: data as of {when(ok_at)}" if ok_at else f"{label}: no successful poll yet"
        last = db.execute(
            f"SELECT status, error FROM runs WHERE source = ? AND watch IN ({marks}) AND started_at <= ?"
            " ORDER BY id DESC LIMIT 1",
            [source, *watches, now],
        ).fetchone()
        if last and last[0] == "error":
            line += f" (the latest poll failed: {clean(last[1], 160)})"
        lines.append(line)
    return lines
