"""The SQLite store: schema and migrations, reads for diffing, and the writes of one run.

One writer (the watcher), any number of readers (WAL). Every write that belongs to a
watch run happens inside the run's transaction, so a crash leaves either all of a
run's awards, transactions, matches and changes, or none of them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlite_utils import Database, Migrations

from .diff import AWARD_FIELDS, TRANSACTION_FIELDS
from .models import Award, Change, Match, Transaction

migrations = Migrations("watcher")
BUSY_TIMEOUT_MS = 30_000

AWARD_COLUMNS = ("award_key", *AWARD_FIELDS, "last_modified_date", "source_url", "fingerprint")
TRANSACTION_COLUMNS = ("transaction_key", "award_key", *TRANSACTION_FIELDS)


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@migrations()
def m001_initial(db: Database) -> None:
    amounts = {"total_obligation", "potential_value"}
    award_cols: dict[str, Any] = {c: (float if c in amounts else str) for c in AWARD_COLUMNS}
    award_cols |= {"first_seen_at": str, "last_seen_at": str, "enriched_at": str}
    db.table("awards").create(award_cols, pk="award_key")
    tx_cols: dict[str, Any] = {c: (float if c == "obligation" else str) for c in TRANSACTION_COLUMNS}
    tx_cols |= {"first_seen_at": str, "last_seen_at": str}
    db.table("transactions").create(tx_cols, pk="transaction_key", foreign_keys=[("award_key", "awards", "award_key")])
    db.table("transactions").create_index(["award_key"])
    db.table("runs").create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "duration_seconds": float,
            "watch": str,
            "source": str,
            "status": str,
            "requests": int,
            "pages": int,
            "records": int,
            "changes": int,
            "error": str,
        },
        pk="id",
    )
    db.table("changes").create(
        {
            "id": int,
            "run_id": int,
            "detected_at": str,
            "kind": str,
            "entity_key": str,
            "award_key": str,
            "diff": str,
            "amount_delta": float,
            "source": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("changes").create_index(["award_key"])
    db.table("changes").create_index(["detected_at"])
    db.table("matches").create(
        {"watch": str, "entity_key": str, "vendor": str, "reason": str, "evidence": str, "matched_at": str},
        pk=("watch", "entity_key", "vendor", "reason"),
    )
    db.table("matches").create_index(["entity_key"])
    db.table("awards").enable_fts(["piid", "recipient_name", "parent_name", "description"], create_triggers=True)
    db.table("transactions").enable_fts(["description"], create_triggers=True)


@migrations()
def m002_rejected(db: Database) -> None:
    """Search hits our matcher turned down, so an unchanged one is not fetched again."""
    db.table("rejected").create(
        {"watch": str, "award_key": str, "fingerprint": str, "rejected_at": str},
        pk=("watch", "award_key"),
    )


def _db_value(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def open_db(path: str | Path) -> Database:
    """Open (creating if needed) and migrate the database; WAL so readers never block."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db = Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if db.journal_mode != "wal":
        db.enable_wal()
    db.execute("PRAGMA foreign_keys = ON")
    migrations.apply(db)
    return db


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """BEGIN IMMEDIATE ... COMMIT: take the write lock up front so a run never deadlocks."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.commit()


# ---------------------------------------------------------------- runs


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
    duration: float = 0.0,
    finished: str | None = None,
) -> None:
    finished = finished or utcnow()
    db.execute(
        "UPDATE runs SET finished_at=?, duration_seconds=?, status=?, requests=?, pages=?,"
        " records=?, changes=?, error=? WHERE id=?",
        [finished, duration, status, requests, pages, records, changes, error, run_id],
    )


def mark_interrupted_runs(db: Database) -> int:
    """Runs left 'running' by a killed process are errors; their data was rolled back."""
    cur = db.execute(
        "UPDATE runs SET status='error', error='interrupted (process stopped mid-run; nothing from it was kept)',"
        " finished_at=? WHERE status='running'",
        [utcnow()],
    )
    return cur.rowcount


# ---------------------------------------------------------------- reads


def _chunks(seq: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def get_awards(db: Database, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        cur = db.execute(f"SELECT * FROM awards WHERE award_key IN ({marks})", list(chunk))
        cols = [c[0] for c in cur.description]
        for row in cur:
            rec = dict(zip(cols, row, strict=True))
            out[rec["award_key"]] = rec
    return out


def get_transactions(db: Database, award_key: str) -> dict[str, dict[str, Any]]:
    cur = db.execute("SELECT * FROM transactions WHERE award_key = ?", [award_key])
    cols = [c[0] for c in cur.description]
    return {r[0]: dict(zip(cols, r, strict=True)) for r in cur}


def get_rejected(db: Database, watch: str, keys: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        for key, fp in db.execute(
            f"SELECT award_key, fingerprint FROM rejected WHERE watch=? AND award_key IN ({marks})", [watch, *chunk]
        ):
            out[key] = fp
    return out


# ---------------------------------------------------------------- writes (inside a run)


def save_rejected(db: Database, watch: str, award_key: str, fingerprint: str | None, now: str) -> None:
    db.execute(
        "INSERT INTO rejected (watch, award_key, fingerprint, rejected_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(watch, award_key) DO UPDATE SET"
        " fingerprint=excluded.fingerprint, rejected_at=excluded.rejected_at",
        [watch, award_key, fingerprint, now],
    )


def save_award(db: Database, award: Award, existing: dict[str, Any] | None, now: str, enriched: bool) -> None:
    row = {k: _db_value(v) for k, v in award.to_row().items()}
    if existing is not None and not enriched:
        # Keep detail-only fields we fetched earlier; this pass did not fetch them again.
        for f in ("parent_name", "parent_uei", "potential_value", "potential_end_date"):
            row[f] = existing.get(f)
    row["first_seen_at"] = existing["first_seen_at"] if existing else now
    row["last_seen_at"] = now
    row["enriched_at"] = now if enriched else (existing or {}).get("enriched_at")
    cols = list(row)
    db.execute(
        f"INSERT INTO awards ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        f" ON CONFLICT(award_key) DO UPDATE SET "
        + ", ".join(f"{c}=excluded.{c}" for c in cols if c not in ("award_key", "first_seen_at")),
        [row[c] for c in cols],
    )


def touch_awards(db: Database, keys: Sequence[str], now: str) -> int:
    """Refresh ``last_seen_at`` at day resolution, so an unchanged re-poll writes nothing."""
    n = 0
    today = now[:10]
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        cur = db.execute(
            f"UPDATE awards SET last_seen_at=? WHERE award_key IN ({marks}) AND substr(last_seen_at, 1, 10) < ?",
            [now, *chunk, today],
        )
        n += cur.rowcount
    return n


def save_transactions(db: Database, txs: Sequence[Transaction], now: str) -> None:
    if not txs:
        return
    cols = [*TRANSACTION_COLUMNS, "first_seen_at", "last_seen_at"]
    sql = (
        f"INSERT INTO transactions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        " ON CONFLICT(transaction_key) DO UPDATE SET "
        + ", ".join(f"{c}=excluded.{c}" for c in cols if c not in ("transaction_key", "first_seen_at"))
    )
    rows = []
    for t in txs:
        r = t.to_row()
        rows.append([_db_value(r[c]) for c in TRANSACTION_COLUMNS] + [now, now])
    db.conn.executemany(sql, rows)


def save_changes(db: Database, changes: Sequence[Change], run_id: int, now: str) -> None:
    db.conn.executemany(
        "INSERT INTO changes (run_id, detected_at, kind, entity_key, award_key, diff, amount_delta, source)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                run_id,
                now,
                c.kind,
                c.entity_key,
                c.award_key,
                json.dumps(c.diff, ensure_ascii=False, sort_keys=True),
                _db_value(c.amount_delta),
                c.source,
            )
            for c in changes
        ],
    )


def replace_matches(db: Database, watch: str, entity_key: str, matches: Sequence[Match], now: str) -> None:
    """The watch's matches for this entity become exactly ``matches`` (first match time kept)."""
    old = {
        (r[0], r[1]): r[2]
        for r in db.execute(
            "SELECT vendor, reason, matched_at FROM matches WHERE watch=? AND entity_key=?", [watch, entity_key]
        )
    }
    db.execute("DELETE FROM matches WHERE watch=? AND entity_key=?", [watch, entity_key])
    db.conn.executemany(
        "INSERT OR REPLACE INTO matches (watch, entity_key, vendor, reason, evidence, matched_at) VALUES (?,?,?,?,?,?)",
        [(watch, entity_key, m.vendor, m.reason, m.evidence, old.get((m.vendor, m.reason), now)) for m in matches],
    )


def load_seeds(db: Database, vendors: dict[str, Any], resellers: dict[str, Any], agencies: dict[str, Any]) -> None:
    """Mirror the reviewed vendor and agency maps into tables, so SQL can join on them."""
    with db.atomic():
        db.execute("DROP TABLE IF EXISTS vendors")
        db.execute("DROP TABLE IF EXISTS resellers")
        db.execute("DROP TABLE IF EXISTS agencies")
        db.table("vendors").insert_all(
            (
                {
                    "vendor": k,
                    "name": v.name,
                    "aliases": v.aliases,
                    "ueis": [u.uei for u in v.ueis],
                    "parent_ueis": [u.uei for u in v.parent_ueis],
                    "mentions": v.mentions,
                    "evidence": v.evidence,
                }
                for k, v in vendors.items()
            ),
            pk="vendor",
        )
        db.table("resellers").insert_all(
            (
                {"reseller": k, "name": r.name, "aliases": r.aliases, "vendors": r.vendors, "evidence": r.evidence}
                for k, r in resellers.items()
            ),
            pk="reseller",
        )
        db.table("agencies").insert_all(
            ({"agency": k, **a.model_dump()} for k, a in agencies.items()),
            pk="agency",
        )
