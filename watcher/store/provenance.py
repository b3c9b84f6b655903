"""Provenance that does not grow without bound: each record's latest versions, and the answers they need.

A record whose raw answer changes at every poll used to add its whole answer to
``responses`` each time. Now an answer is stored once per distinct content (``save_responses``
reuses a row with the same ``content_sha256``), each (record, source) keeps its versions
(distinct ``raw_refs``) in ``provenance_versions``, with the answers each version refers to
indexed in ``version_responses``, and ``prune`` keeps the latest ``keep`` versions of the
records that gained one, deleting the answers nothing refers to any more. ``provenance``
itself is unchanged: its ``raw_refs`` is always the latest version.

An answer is referenced by a kept version or by a table listed in ``RESPONSE_REFERENCES``
(backfill's staged actions); a new table that keeps ``responses.id`` must be listed there, or
pruning may delete what it points at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from sqlite_utils import Database

from watcher.store.reads import _chunks, read_raw

#: (table, column) pairs besides version_responses that keep a responses.id: never pruned while listed there.
RESPONSE_REFERENCES = (("backfill_transactions", "response_id"),)

_VERSION_UPSERT = (
    "INSERT INTO provenance_versions (entity_key, source, raw_refs, first_seen_at, last_seen_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT(entity_key, source, raw_refs) DO UPDATE SET last_seen_at = excluded.last_seen_at"
)
_VERSION_RESPONSES = (
    "INSERT OR IGNORE INTO version_responses (response_id, version_id)"
    " SELECT json_extract(j.value, '$[0]'), v.id FROM provenance_versions v, json_each(v.raw_refs) j"
    " WHERE v.entity_key = ? AND v.source = ? AND v.raw_refs = ?"
)
#: A record with more than one version may have too many: ``prune`` looks at it (and only at those).
_TOUCH = (
    "INSERT OR IGNORE INTO temp.versions_touched (entity_key, source)"
    " SELECT ?1, ?2 WHERE (SELECT count(*) FROM provenance_versions WHERE entity_key = ?1 AND source = ?2) > 1"
)


def _temp_tables(db: Database) -> None:
    db.execute(
        "CREATE TEMP TABLE IF NOT EXISTS versions_touched"
        " (entity_key TEXT, source TEXT, PRIMARY KEY (entity_key, source))"
    )
    db.execute("CREATE TEMP TABLE IF NOT EXISTS prune_candidates (response_id INTEGER PRIMARY KEY)")


def record_versions(db: Database, source: str, rows: Sequence[tuple[str, str, str]]) -> None:
    """(entity_key, raw_refs, now) just written to ``provenance``: each is a version of its record (kept once)."""
    if not rows:
        return
    _temp_tables(db)
    db.conn.executemany(_VERSION_UPSERT, [(key, source, refs, now, now) for key, refs, now in rows])
    db.conn.executemany(_VERSION_RESPONSES, [(key, source, refs) for key, refs, _ in rows])
    db.conn.executemany(_TOUCH, [(key, source) for key, _, _ in rows])


def add_provenance(db: Database, source: str, rows: Sequence[tuple[str, str | None, str]], now: str) -> None:
    """(entity_key, url, raw_refs) for records this source has no provenance of yet; those it has keep theirs."""
    known: set[str] = set()
    for chunk in _chunks([k for k, _, _ in rows]):
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT entity_key FROM provenance WHERE source = ? AND entity_key IN ({marks})"
        known |= {r[0] for r in db.execute(sql, [source, *chunk])}
    fresh = list({k: (k, url, refs) for k, url, refs in rows if k not in known}.values())
    db.conn.executemany(
        "INSERT INTO provenance (entity_key, source, first_seen_at, last_seen_at, url, raw_refs)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(k, source, now, now, url, refs) for k, url, refs in fresh],
    )
    record_versions(db, source, [(k, refs, now) for k, _, refs in fresh])


def drop_versions(db: Database, keys: Iterable[str]) -> None:
    """Forget every version of these records (they left the store); their answers become prune candidates."""
    _temp_tables(db)
    for chunk in _chunks(list(keys)):
        marks = ",".join("?" * len(chunk))
        ids = f"SELECT id FROM provenance_versions WHERE entity_key IN ({marks})"
        db.execute(
            f"INSERT OR IGNORE INTO temp.prune_candidates SELECT response_id FROM version_responses"
            f" WHERE version_id IN ({ids})",
            list(chunk),
        )
        db.execute(f"DELETE FROM version_responses WHERE version_id IN ({ids})", list(chunk))
        db.execute(f"DELETE FROM provenance_versions WHERE entity_key IN ({marks})", list(chunk))


def release_responses(db: Database, ids: Iterable[int]) -> None:
    """Answers a caller stopped referring to (backfill staging): deleted at the next ``prune`` if nothing else does."""
    _temp_tables(db)
    db.conn.executemany("INSERT OR IGNORE INTO temp.prune_candidates VALUES (?)", [(i,) for i in ids])


def prune(db: Database, keep: int) -> tuple[int, int]:
    """Keep the latest ``keep`` versions of the records that gained one; delete the answers left unreferenced.

    The current version (provenance.raw_refs) always stays. Call it inside a write transaction
    (after a poll's or a backfill's runs). Returns (versions, responses) deleted.
    """
    _temp_tables(db)
    doomed = [
        r[0]
        for r in db.execute(
            "SELECT id FROM (SELECT v.id, row_number() OVER (PARTITION BY v.entity_key, v.source"
            " ORDER BY v.raw_refs = p.raw_refs DESC, v.last_seen_at DESC, v.id DESC) AS n"
            " FROM temp.versions_touched t JOIN provenance_versions v USING (entity_key, source)"
            " LEFT JOIN provenance p USING (entity_key, source)) WHERE n > ?",
            [keep],
        )
    ]
    for chunk in _chunks(doomed):
        marks = ",".join("?" * len(chunk))
        db.execute(
            "INSERT OR IGNORE INTO temp.prune_candidates SELECT response_id FROM version_responses"
            f" WHERE version_id IN ({marks})",
            list(chunk),
        )
        db.execute(f"DELETE FROM version_responses WHERE version_id IN ({marks})", list(chunk))
        db.execute(f"DELETE FROM provenance_versions WHERE id IN ({marks})", list(chunk))
    unreferenced = " ".join(
        f"AND NOT EXISTS (SELECT 1 FROM {table} x WHERE x.{column} = c.response_id)"
        for table, column in (("version_responses", "response_id"), *RESPONSE_REFERENCES)
    )
    gone = db.execute(
        f"DELETE FROM responses WHERE id IN (SELECT c.response_id FROM temp.prune_candidates c WHERE 1 {unreferenced})"
    ).rowcount
    db.execute("DELETE FROM temp.prune_candidates")
    db.execute("DELETE FROM temp.versions_touched")
    return len(doomed), gone


def earlier_versions(db: Database, entity_key: str, source: str, current: str) -> list[dict[str, Any]]:
    """The kept versions of a record other than its current ``raw_refs``, newest first, with their records."""
    rows = db.execute(
        "SELECT raw_refs, first_seen_at, last_seen_at FROM provenance_versions WHERE entity_key = ? AND source = ?"
        " AND raw_refs != ? ORDER BY last_seen_at DESC, id DESC",
        [entity_key, source, current],
    ).fetchall()
    return [{"first_seen_at": first, "last_seen_at": last, "records": read_raw(db, refs)} for refs, first, last in rows]


def keep_latest_only(conn: sqlite3.Connection) -> None:
    """In a copy of the database (the site's download): only the current version of each record, and the
    answers something still refers to (older ones, and any left by earlier versions of the watcher, go)."""
    referenced = " ".join(
        f"AND id NOT IN (SELECT {column} FROM {table} WHERE {column} IS NOT NULL)"
        for table, column in (("version_responses", "response_id"), *RESPONSE_REFERENCES)
    )
    with conn:
        conn.execute(
            "DELETE FROM provenance_versions WHERE id NOT IN (SELECT v.id FROM provenance_versions v JOIN provenance p"
            " ON p.entity_key = v.entity_key AND p.source = v.source AND p.raw_refs = v.raw_refs)"
        )
        conn.execute("DELETE FROM version_responses WHERE version_id NOT IN (SELECT id FROM provenance_versions)")
        conn.execute(f"DELETE FROM responses WHERE 1 {referenced}")
