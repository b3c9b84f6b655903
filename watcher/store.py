"""The SQLite store: opening it, reads for diffing, and the writes of one run.

One writer (the watcher), any number of readers (WAL). Every write that belongs to a
watch run happens inside the run's transaction, so a crash leaves either all of a
run's awards, transactions, matches and changes, or none of them.
"""

from __future__ import annotations

import json
import operator
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .migrations import AWARD_COLUMNS, AWARD_FTS_COLUMNS, TRANSACTION_COLUMNS, migrations
from .models import Award, Change, Match, Transaction

BUSY_TIMEOUT_MS = 30_000


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def save_responses(db: Database, source: str, raws: Sequence[Any], now: str) -> dict[int, int]:
    """Keep API responses byte for byte (zlib-compressed); returns id(raw) -> responses.id."""
    ids: dict[int, int] = {}
    for raw in raws:
        cur = db.execute(
            "INSERT INTO responses (source, method, path, request, received_at, content) VALUES (?, ?, ?, ?, ?, ?)",
            [
                source,
                raw.method,
                raw.path,
                json.dumps(raw.request, default=float) if raw.request else None,
                now,
                zlib.compress(raw.content, 1),  # level 1: 3x faster than 6; pages still shrink about 4x
            ],
        )
        ids[id(raw)] = int(cur.lastrowid or 0)
    return ids


def read_raw(db: Database, refs: str) -> list[Any]:
    """The records a provenance row points at: ``[[response id, index or null], ...]``."""
    out = []
    for response_id, index in json.loads(refs):
        (content,) = db.execute("SELECT content FROM responses WHERE id = ?", [response_id]).fetchone()
        body = json.loads(zlib.decompress(content), parse_float=Decimal)
        if index is None:
            out.append(body)
            continue
        items = next(body[k] for k in ("results", "awardSummary", "opportunitiesData") if isinstance(body.get(k), list))
        out.append(items[index])
    return out


def _db_value(value: Any) -> Any:
    return float(value) if type(value) is Decimal else value


def open_db(path: str | Path) -> Database:
    """Open (creating if needed) and migrate the database; WAL so readers never block."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db = Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if db.journal_mode != "wal":
        db.enable_wal()
    db.execute("PRAGMA foreign_keys = ON")
    # WAL + NORMAL: a crash of the process can never corrupt or half-apply a transaction;
    # only a power cut can lose the last committed ones (and the next poll refetches them).
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA temp_store = MEMORY")
    migrations.apply(db)
    from .views import ensure_views

    ensure_views(db)
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
    """Stored award rows by key (with ``_rowid``, which the full-text index is keyed on)."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        cur = db.execute(f"SELECT rowid AS _rowid, * FROM awards WHERE award_key IN ({marks})", list(chunk))
        cols = [c[0] for c in cur.description]
        for row in cur:
            rec = dict(zip(cols, row, strict=True))
            out[rec["award_key"]] = rec
    return out


def rows_by_key(db: Database, table: str, key: str, values: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Rows whose ``key`` is one of ``values`` (in chunks: SQLite caps the number of parameters)."""
    out: dict[str, dict[str, Any]] = {}
    vals = list(dict.fromkeys(v for v in values if v))
    for chunk in _chunks(vals):
        for row in db.query(f"SELECT * FROM {table} WHERE {key} IN ({','.join('?' * len(chunk))})", list(chunk)):
            out[row[key]] = row
    return out


def rows_by_key_multi(db: Database, table: str, key: str, values: Sequence[str]) -> list[dict[str, Any]]:
    """Every row whose ``key`` is one of ``values`` (several rows per value allowed)."""
    out: list[dict[str, Any]] = []
    vals = list(dict.fromkeys(v for v in values if v))
    for chunk in _chunks(vals):
        out += db.query(f"SELECT * FROM {table} WHERE {key} IN ({','.join('?' * len(chunk))})", list(chunk))
    return out


def seen_by(db: Database, source: str, keys: Sequence[str]) -> set[str]:
    """The ``keys`` that ``source`` has returned at least once (provenance)."""
    out: set[str] = set()
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        out.update(
            r[0]
            for r in db.execute(
                f"SELECT entity_key FROM provenance WHERE source = ? AND entity_key IN ({marks})", [source, *chunk]
            )
        )
    return out


def sam_transaction_keys(db: Database, award_key: str) -> set[str]:
    """The award's contract actions that SAM.gov reported."""
    return {
        r[0]
        for r in db.execute(
            "SELECT t.transaction_key FROM transactions t JOIN provenance p"
            " ON p.entity_key = t.transaction_key AND p.source = 'sam_awards' WHERE t.award_key = ?",
            [award_key],
        )
    }


def drop_backfilled(db: Database, award_key: str, keep: set[str]) -> int:
    """Remove the award's backfilled actions that its real transaction list does not have (composed keys)."""
    gone = [
        k
        for (k,) in db.execute(
            "SELECT transaction_key FROM transactions WHERE award_key = ? AND backfilled_at IS NOT NULL", [award_key]
        )
        if k not in keep
    ]
    db.conn.executemany("DELETE FROM transactions WHERE transaction_key = ?", [(k,) for k in gone])
    return len(gone)


def get_stored(db: Database, keys: Sequence[str]) -> dict[str, tuple[str | None, str | None]]:
    """For the stored ones among ``keys``: (the search row's fingerprint, the last sighting).

    This runs for every page of every poll, so it is one query and plain tuples.
    """
    out: dict[str, tuple[str | None, str | None]] = {}
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        cur = db.conn.execute(
            f"SELECT award_key, fingerprint, last_seen_at FROM awards WHERE award_key IN ({marks})", chunk
        )
        out.update((key, (fp, seen)) for key, fp, seen in cur)
    return out


def matched_keys(db: Database, watch: str) -> set[str]:
    """Every award the watch holds matches for (one query per run, not one per page)."""
    return {r[0] for r in db.execute("SELECT DISTINCT entity_key FROM matches WHERE watch = ?", [watch])}


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


# ---------------------------------------------------------------- writes (inside a run)


def set_rules(db: Database, watch: str, signature: str, now: str) -> None:
    """Record the rules a watch ran with; stale verdicts made under other rules are dropped."""
    db.execute("DELETE FROM rejected WHERE watch = ?", [watch])
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


_DETAIL_ONLY = ("parent_name", "parent_uei", "potential_value", "potential_end_date")
_AWARD_WRITE_COLUMNS = (*AWARD_COLUMNS, "first_seen_at", "last_seen_at", "enriched_at")
_award_values = operator.attrgetter(*AWARD_COLUMNS)  # Award -> tuple in column order, in C
_DETAIL_ONLY_AT = tuple((AWARD_COLUMNS.index(f), f) for f in _DETAIL_ONLY)
_AWARD_UPSERT = (
    f"INSERT INTO awards ({', '.join(_AWARD_WRITE_COLUMNS)}) VALUES ({', '.join('?' * len(_AWARD_WRITE_COLUMNS))})"
    " ON CONFLICT(award_key) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _AWARD_WRITE_COLUMNS if c not in ("award_key", "first_seen_at"))
)


def save_awards(db: Database, awards: Sequence[tuple[Award, dict[str, Any] | None, bool | None]], now: str) -> None:
    """Upsert awards (each with its stored row or None, and whether its detail was fetched now)."""
    if not awards:
        return
    params = []
    for award, existing, enriched in awards:
        values = [float(v) if type(v) is Decimal else v for v in _award_values(award)]
        if existing is not None and enriched is False:
            # Keep detail-only fields fetched earlier; this pass did not fetch them again.
            # (None: a merged record from another source, written as given.)
            for i, f in _DETAIL_ONLY_AT:
                values[i] = existing.get(f)
        first_seen = existing["first_seen_at"] if existing else now
        enriched_at = now if enriched else (existing or {}).get("enriched_at")
        values += (first_seen, now, enriched_at)
        params.append(values)
    # Out of the full-text index with the old text now; back in with the new text at the end
    # of the run (index_awards_fts), in one statement for the whole run.
    db.conn.executemany(
        f"INSERT INTO awards_fts(awards_fts, rowid, {', '.join(AWARD_FTS_COLUMNS)}) VALUES ('delete', ?, ?, ?, ?, ?)",
        [[old["_rowid"], *(old[c] for c in AWARD_FTS_COLUMNS)] for _, old, _ in awards if old is not None],
    )
    db.execute("CREATE TEMP TABLE IF NOT EXISTS fts_pending (award_key TEXT PRIMARY KEY)")
    db.conn.executemany("INSERT OR IGNORE INTO temp.fts_pending VALUES (?)", [[a.award_key] for a, _, _ in awards])
    db.conn.executemany(_AWARD_UPSERT, params)


def index_awards_fts(db: Database) -> None:
    """Add the awards written since the last call to awards_fts (call before committing)."""
    if not db.execute("SELECT 1 FROM sqlite_temp_master WHERE name = 'fts_pending'").fetchone():
        return
    cols = ", ".join(AWARD_FTS_COLUMNS)
    db.execute(
        f"INSERT INTO awards_fts(rowid, {cols}) SELECT a.rowid, {', '.join('a.' + c for c in AWARD_FTS_COLUMNS)}"
        " FROM awards a JOIN temp.fts_pending p ON p.award_key = a.award_key"
    )
    db.execute("DELETE FROM temp.fts_pending")


def _refs_json(refs: Sequence[tuple[Any, int | None]], ids: dict[int, int]) -> str:
    """``[[response id, index or null], ...]``, written by hand: it runs once per stored record."""
    return "[" + ",".join(f"[{ids[id(raw)]},{'null' if i is None else i}]" for raw, i in refs) + "]"


def save_provenance(
    db: Database, source: str, records: Sequence[tuple[str, str | None, list[tuple[Any, int | None]]]], now: str
) -> None:
    """(entity_key, url, [(raw response, index in its results or None)]) seen now from ``source``.

    The responses are stored once each; the first sighting is kept and the raw references
    are replaced by the newest ones.
    """
    if not records:
        return
    distinct = list({id(raw): raw for _, _, refs in records for raw, _ in refs}.values())
    ids = save_responses(db, source, distinct, now)
    db.conn.executemany(
        "INSERT INTO provenance (entity_key, source, first_seen_at, last_seen_at, url, raw_refs)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, source) DO UPDATE SET"
        " last_seen_at=excluded.last_seen_at, url=excluded.url, raw_refs=excluded.raw_refs",
        [
            (
                key,
                source,
                now,
                now,
                url,
                "[" + ",".join(f"[{ids[id(raw)]},{'null' if index is None else index}]" for raw, index in refs) + "]",
            )
            for key, url, refs in records
        ],
    )


def touch_awards(db: Database, keys: Sequence[str], now: str, source: str = "usaspending") -> None:
    """Refresh ``last_seen_at`` of the awards and their provenance, at day resolution."""
    today = now[:10]
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        db.execute(
            f"UPDATE provenance SET last_seen_at=? WHERE source=? AND entity_key IN ({marks})"
            " AND substr(last_seen_at, 1, 10) < ?",
            [now, source, *chunk, today],
        )
        db.execute(
            f"UPDATE awards SET last_seen_at=? WHERE award_key IN ({marks}) AND substr(last_seen_at, 1, 10) < ?",
            [now, *chunk, today],
        )


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
                json.dumps(c.diff, ensure_ascii=False, sort_keys=True) if c.diff else "{}",
                _db_value(c.amount_delta),
                c.source,
            )
            for c in changes
        ],
    )


def replace_matches(
    db: Database, watch: str, matches: dict[str, Sequence[Match]], now: str, new: frozenset[str] = frozenset()
) -> None:
    """For each entity, the watch's matches become exactly the given ones (first match time kept).

    ``new`` names entities first stored in this run: they cannot have matches to replace.
    """
    if not matches:
        return
    keys = [k for k in matches if k not in new]
    first_seen: dict[tuple[str, str, str], str] = {}
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        args = [watch, *chunk]
        for key, vendor, reason, at in db.execute(
            f"SELECT entity_key, vendor, reason, matched_at FROM matches WHERE watch=? AND entity_key IN ({marks})",
            args,
        ):
            first_seen[(key, vendor, reason)] = at
        db.execute(f"DELETE FROM matches WHERE watch=? AND entity_key IN ({marks})", args)
    db.conn.executemany(
        "INSERT OR REPLACE INTO matches (watch, entity_key, vendor, reason, evidence, matched_at) VALUES (?,?,?,?,?,?)",
        [
            (watch, key, m.vendor, m.reason, m.evidence, first_seen.get((key, m.vendor, m.reason), now))
            for key, ms in matches.items()
            for m in ms
        ],
    )


def load_seeds(db: Database, vendors: dict[str, Any], resellers: dict[str, Any], agencies: dict[str, Any]) -> None:
    """Mirror the reviewed vendor and agency maps into tables, so SQL can join on them."""
    with db.atomic():
        for table in ("vendors", "resellers", "agencies"):
            db.execute(f"DELETE FROM {table}")
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
