"""Reads the diffing needs: stored rows by key, in chunks that stay under SQLite's variable limit."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlite_utils import Database


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


def provisional_transactions(db: Database, award_keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Per award, its actions still under a backfill's composed key (``backfilled_at`` set): provisional."""
    out: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(list(dict.fromkeys(award_keys))):
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT * FROM transactions WHERE backfilled_at IS NOT NULL AND award_key IN ({marks})"
        for row in db.query(sql, list(chunk)):
            out.setdefault(row["award_key"], []).append(row)
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


def stored_actions(db: Database, award_keys: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Each stored award's actions as (modification, action date, obligation, description).

    An award with no stored action maps to an empty list; an award not stored is absent.
    """
    out: dict[str, list[tuple[Any, ...]]] = {}
    for chunk in _chunks(list(dict.fromkeys(award_keys))):
        marks = ",".join("?" * len(chunk))
        for (key,) in db.execute(f"SELECT award_key FROM awards WHERE award_key IN ({marks})", list(chunk)):
            out[key] = []
        for key, *fact in db.execute(
            "SELECT award_key, modification_number, action_date, obligation, description FROM transactions"
            f" WHERE award_key IN ({marks})",
            list(chunk),
        ):
            out.setdefault(key, []).append(tuple(fact))
    return out


def get_transactions(db: Database, award_key: str) -> dict[str, dict[str, Any]]:
    cur = db.execute("SELECT * FROM transactions WHERE award_key = ?", [award_key])
    cols = [c[0] for c in cur.description]
    return {r[0]: dict(zip(cols, r, strict=True)) for r in cur}


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
