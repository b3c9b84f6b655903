"""The SQLite store: opening it, and (re-exported here, as ``store.<name>``) its reads, run ledger and page writes.

One writer (the watcher), any number of readers (WAL). Every write that belongs to a
watch run happens inside the run's transaction, so a crash leaves either all of a
run's awards, transactions, matches and changes, or none of them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from watcher.store import migrations_later  # noqa: F401 - registers migrations 19 on
from watcher.store.attributions import refresh as refresh_attributions
from watcher.store.faults import StoreError, explain, record_versions, refuse_newer
from watcher.store.migrations import migrations
from watcher.store.provenance import (
    add_provenance,
    earlier_versions,
    keep_latest_only,
    prune,
    release_responses,
)
from watcher.store.reads import (
    get_awards,
    get_stored,
    get_transactions,
    provisional_transactions,
    read_raw,
    rows_by_key,
    rows_by_key_multi,
    sam_transaction_keys,
    seen_by,
    stored_actions,
)
from watcher.store.runs import (
    agencies_verified_since,
    agency_verified,
    data_as_of,
    finish_run,
    get_rejected,
    mark_interrupted_runs,
    matched_keys,
    rules_changed,
    save_rejected,
    set_rules,
    start_run,
)
from watcher.store.writes import (
    PageWrites,
    Provenance,
    drop_backfilled,
    index_awards_fts,
    replace_matches,
    save_awards,
    save_changes,
    save_page,
    save_provenance,
    save_responses,
    save_transactions,
    settle_provisional,
    touch_awards,
)
from watcher.values import utcnow

__all__ = [
    "BUSY_TIMEOUT_MS",
    "PageWrites",
    "Provenance",
    "StoreError",
    "add_provenance",
    "agencies_verified_since",
    "agency_verified",
    "data_as_of",
    "drop_backfilled",
    "earlier_versions",
    "explain",
    "finish_run",
    "get_awards",
    "get_rejected",
    "get_stored",
    "get_transactions",
    "index_awards_fts",
    "keep_latest_only",
    "load_seeds",
    "mark_interrupted_runs",
    "matched_keys",
    "open_db",
    "provisional_transactions",
    "prune",
    "read_raw",
    "refresh_attributions",
    "release_responses",
    "replace_matches",
    "rows_by_key",
    "rows_by_key_multi",
    "rules_changed",
    "sam_transaction_keys",
    "save_awards",
    "save_changes",
    "save_page",
    "save_provenance",
    "save_rejected",
    "save_responses",
    "save_transactions",
    "seen_by",
    "set_rules",
    "settle_provisional",
    "start_run",
    "stored_actions",
    "touch_awards",
    "write_transaction",
]


BUSY_TIMEOUT_MS = 30_000


def open_db(path: str | Path) -> Database:
    """Open (creating if needed) and migrate the database; WAL so readers never block.

    A storage fault (a read-only file or folder, a full disk, a damaged file) and a database from
    a newer watcher are a StoreError with one line to act on (store/faults.py), never a traceback.
    """
    try:
        return _open(path)
    except sqlite3.Error as exc:
        raise StoreError(explain(exc, path)) from None


def _open(path: str | Path) -> Database:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db = Database(conn)
    try:
        refuse_newer(db, migrations, path)  # before the first write (WAL, pragmas, migrations)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if db.journal_mode != "wal":
            db.enable_wal()
        db.execute("PRAGMA foreign_keys = ON")
        # WAL + NORMAL: a crash of the process can never corrupt or half-apply a transaction;
        # only a power cut can lose the last committed ones (and the next poll refetches them).
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA temp_store = MEMORY")
        migrations.apply(db)
        record_versions(db, migrations, utcnow())
        from watcher.store.views import ensure_views

        ensure_views(db)
    except BaseException:
        conn.close()
        raise
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
