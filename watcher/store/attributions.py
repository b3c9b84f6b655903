"""Keep ``attributions`` (which actions tie an award's money to a vendor, by which path) in step with matches.

Rebuilt for an award whenever its matches for a watch are written (``replace_matches``,
which every source's save goes through, after the page's transactions), from what is
stored: the award, its actions, its matches, and the vendors' mention words (the
``vendors`` table mirrors the seeds). The rules are in :mod:`watcher.attribution`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence

from sqlite_utils import Database

from watcher.attribution import attribute
from watcher.match import mention_pattern
from watcher.models import Award, Match, Transaction


def _patterns(db: Database) -> dict[str, re.Pattern[str] | None]:
    if not db["vendors"].exists():
        return {}
    return _compiled(tuple(db.execute("SELECT vendor, mentions FROM vendors ORDER BY vendor")))


@functools.lru_cache(maxsize=8)
def _compiled(rows: tuple[tuple[str, str | None], ...]) -> dict[str, re.Pattern[str] | None]:
    """Compiled once per vendor map, not once per page: this runs for every page a poll saves."""
    return {v: mention_pattern(json.loads(m or "[]")) for v, m in rows}


def refresh(db: Database, watch: str, keys: Sequence[str]) -> None:
    """Recompute the watch's attributions of these awards (an award out of the watch keeps none)."""
    if not keys:
        return
    patterns = _patterns(db)
    rows = []
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        marks = ",".join("?" * len(chunk))
        db.execute(f"DELETE FROM attributions WHERE watch = ? AND award_key IN ({marks})", [watch, *chunk])
        matches: dict[str, list[Match]] = {}
        for key, vendor, reason, evidence in db.execute(
            f"SELECT entity_key, vendor, reason, evidence FROM matches WHERE watch = ? AND entity_key IN ({marks})",
            [watch, *chunk],
        ):
            matches.setdefault(key, []).append(Match(vendor, reason, evidence))
        if not matches:
            continue
        held = list(matches)
        hmarks = ",".join("?" * len(held))
        descriptions = dict(
            db.execute(f"SELECT award_key, description FROM awards WHERE award_key IN ({hmarks})", held)
        )
        txs: dict[str, list[Transaction]] = {}
        for tkey, akey, mod, desc in db.execute(
            "SELECT transaction_key, award_key, modification_number, description FROM transactions"
            f" WHERE award_key IN ({hmarks})",
            held,
        ):
            txs.setdefault(akey, []).append(Transaction(tkey, akey, modification_number=mod, description=desc))
        for key, ms in matches.items():
            award = Award(award_key=key, description=descriptions.get(key))
            rows += [(watch, v, t, key, p) for v, t, p in attribute(award, txs.get(key, []), ms, patterns)]
    db.conn.executemany(
        "INSERT OR REPLACE INTO attributions (watch, vendor, transaction_key, award_key, path) VALUES (?,?,?,?,?)",
        rows,
    )


def refresh_others(db: Database, watch: str, keys: Sequence[str]) -> None:
    """Recompute the other watches' attributions of these awards: their actions are shared, their matches not."""
    others: dict[str, list[str]] = {}
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for w, key in db.execute(
            f"SELECT DISTINCT watch, entity_key FROM matches WHERE watch != ? AND entity_key IN ({marks})",
            [watch, *chunk],
        ):
            others.setdefault(w, []).append(key)
    for w, held in others.items():
        refresh(db, w, held)
