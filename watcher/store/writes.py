"""The writes of one page of one source, each with one statement per table: ``save_page`` and its parts.

Every write that belongs to a watch run happens inside the run's transaction, so a crash
leaves either all of a run's awards, transactions, matches and changes, or none of them.
"""

from __future__ import annotations

import hashlib
import json
import operator
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from watcher.http import redact_bytes
from watcher.models import COMPETITION_FIELDS, Award, Change, Match, Transaction
from watcher.store import attributions
from watcher.store.migrations import AWARD_COLUMNS, AWARD_FTS_COLUMNS, TRANSACTION_COLUMNS
from watcher.store.provenance import drop_versions, record_versions
from watcher.store.reads import _chunks
from watcher.store.review import Candidate, drop_pending, save_candidates
from watcher.store.runs import save_rejected


def save_responses(db: Database, source: str, raws: Sequence[Any], now: str) -> dict[int, int]:
    """Keep API responses byte for byte (zlib-compressed), once per distinct content; returns id(raw) -> responses.id.

    An answer identical to one kept from the same source (same SHA-256) is not stored again:
    its row is reused (``received_at`` says when that content first came). SAM.gov's answers
    are kept with any secret redacted: the key travels in the URL, and an answer may echo the
    URL (its client redacts them on receipt; this is the second lock).
    """
    ids: dict[int, int] = {}
    for raw in raws:
        content = redact_bytes(raw.content) if source.startswith("sam") else raw.content
        digest = hashlib.sha256(content).hexdigest()
        same = db.execute(
            "SELECT id FROM responses WHERE source = ? AND content_sha256 = ? LIMIT 1", [source, digest]
        ).fetchone()
        if same is not None:
            ids[id(raw)] = int(same[0])
            continue
        cur = db.execute(
            "INSERT INTO responses (source, method, path, request, received_at, content, content_sha256)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                source,
                raw.method,
                raw.path,
                json.dumps(raw.request, default=float) if raw.request else None,
                now,
                zlib.compress(content, 1),  # level 1: 3x faster than 6; pages still shrink about 4x
                digest,
            ],
        )
        ids[id(raw)] = int(cur.lastrowid or 0)
    return ids


def _db_value(value: Any) -> Any:
    return float(value) if type(value) is Decimal else value


def settle_provisional(db: Database, drop: Iterable[str], confirm: Iterable[str]) -> None:
    """Backfilled actions (composed, provisional keys) whose real key a source now gave.

    ``drop``: rows replaced by their real ones; they leave silently (no ``deleted``: the action
    is still there, under its real key), with their provenance. ``confirm``: rows whose
    composed key was the real one; they stay and are no longer provisional, so no later
    action can be paired with them (``diff.pair_provisional``).
    """
    gone = [(k,) for k in drop]
    db.conn.executemany("DELETE FROM transactions WHERE transaction_key = ? AND backfilled_at IS NOT NULL", gone)
    db.conn.executemany("DELETE FROM provenance WHERE entity_key = ?", gone)
    drop_versions(db, [k for (k,) in gone])
    db.conn.executemany(
        "UPDATE transactions SET backfilled_at = NULL WHERE transaction_key = ?", [(k,) for k in confirm]
    )


def drop_backfilled(db: Database, award_key: str, keep: set[str]) -> set[str]:
    """The award's real transaction list (``keep``) replaces its provisional backfilled actions.

    Those the list lacks (composed keys) leave; those it has are confirmed. Returns the
    confirmed keys: their stored rows came from the backfill, which knew less of each action.
    """
    provisional = {
        k
        for (k,) in db.execute(
            "SELECT transaction_key FROM transactions WHERE award_key = ? AND backfilled_at IS NOT NULL", [award_key]
        )
    }
    settle_provisional(db, provisional - keep, provisional & keep)
    return provisional & keep


_DETAIL_ONLY = ("parent_name", "parent_uei", "potential_value", "potential_end_date", *COMPETITION_FIELDS)
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

    The responses are stored once each (once per distinct content); the first sighting is
    kept and the raw references are replaced by the newest ones, each a version of the record
    (``provenance_versions``; ``provenance.prune`` keeps the latest few).
    """
    if not records:
        return
    distinct = list({id(raw): raw for _, _, refs in records for raw, _ in refs}.values())
    ids = save_responses(db, source, distinct, now)
    rows = [(key, url, _refs_json(refs, ids)) for key, url, refs in records]
    db.conn.executemany(
        "INSERT INTO provenance (entity_key, source, first_seen_at, last_seen_at, url, raw_refs)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, source) DO UPDATE SET"
        " last_seen_at=excluded.last_seen_at, url=excluded.url, raw_refs=excluded.raw_refs",
        [(key, source, now, now, url, refs) for key, url, refs in rows],
    )
    record_versions(db, source, [(key, refs, now) for key, _, refs in rows])


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
    db: Database, watch: str, matches: Mapping[str, Sequence[Match]], now: str, new: frozenset[str] = frozenset()
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
    awards = [k for k in matches if k.startswith(("CONT_AWD_", "CONT_IDV_"))]
    attributions.refresh(db, watch, awards)
    # Another watch holding one of these awards ties money from the same stored actions, which this
    # page may just have changed (a reseller order one watch matches and the other reads for review).
    attributions.refresh_others(db, watch, awards)


#: (entity_key, official url, [(raw response, index in its results or None)]): where a record was read.
Provenance = tuple[str, str | None, list[tuple[Any, int | None]]]


@dataclass
class PageWrites:
    """Everything one page of one source produces, written by :func:`save_page` with one statement per table.

    ``matches`` is per watch, then per entity: each listed entity's matches for that watch
    become exactly the given ones (an empty list takes it out of the watch). ``new`` names
    entities first stored by this page besides its new awards (notices, backfilled awards).
    """

    source: str
    awards: list[tuple[Award, dict[str, Any] | None, bool | None]] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    matches: dict[str, dict[str, list[Match]]] = field(default_factory=dict)
    rejected: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)  # watch -> (key, fingerprint)
    review: dict[str, list[Candidate]] = field(default_factory=dict)  # watch -> reseller orders for the review queue
    provenance: list[Provenance] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    new: set[str] = field(default_factory=set)

    def watch_matches(self, watch: str) -> dict[str, list[Match]]:
        return self.matches.setdefault(watch, {})


def save_page(db: Database, page: PageWrites, now: str, run_id: int | None = None) -> None:
    """Write a page: awards, transactions, matches, rejections, the review queue, provenance, and its changes
    when ``run_id`` is given.

    The one save sequence of every source (USAspending polls, SAM.gov merges, backfills),
    so a record is stored the same way whichever API it came from. Call it inside the
    run's write transaction.
    """
    save_awards(db, page.awards, now)
    # A transaction reported twice in one page (two walks, two pages of SAM.gov) is written once.
    save_transactions(db, list({t.transaction_key: t for t in page.transactions}.values()), now)
    new = frozenset(page.new | {a.award_key for a, old, _ in page.awards if old is None})
    for watch, matches in page.matches.items():
        replace_matches(db, watch, matches, now, new=new)
        drop_pending(db, watch, [k for k, ms in matches.items() if ms])
    for watch, rejected in page.rejected.items():
        save_rejected(db, watch, rejected, now)
        drop_pending(db, watch, [k for k, _ in rejected])  # e.g. fell under the watch's threshold
    for watch, candidates in page.review.items():
        save_candidates(db, watch, candidates, now)
    save_provenance(db, page.source, page.provenance, now)
    if run_id is not None and page.changes:
        save_changes(db, page.changes, run_id, now)
