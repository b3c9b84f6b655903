"""The subawards' reads and writes, and what each prime's award detail last said about its subawards.

Called inside a watch run's write transaction, like every other write: a run's subawards,
their matches and their changes are stored together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from watcher.models import SUBAWARD_SLOTS, Subaward
from watcher.store.reads import _chunks, rows_by_key

_WRITE_COLUMNS = (*SUBAWARD_SLOTS, "first_seen_at", "last_seen_at", "deleted_at")
_UPSERT = (
    f"INSERT INTO subawards ({', '.join(_WRITE_COLUMNS)}) VALUES ({', '.join('?' * len(_WRITE_COLUMNS))})"
    " ON CONFLICT(subaward_key) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _WRITE_COLUMNS if c not in ("subaward_key", "first_seen_at"))
)


def get_subawards(db: Database, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Stored subaward rows by subaward_key."""
    return rows_by_key(db, "subawards", "subaward_key", keys)


def subawards_of(db: Database, prime_award_key: str) -> dict[str, dict[str, Any]]:
    """Every stored subaward of one prime (withdrawn ones included), by subaward_key."""
    return {
        r["subaward_key"]: r
        for r in db.query("SELECT * FROM subawards WHERE prime_award_key = ? ORDER BY subaward_key", [prime_award_key])
    }


def save_subawards(db: Database, subawards: Sequence[tuple[Subaward, dict[str, Any] | None]], now: str) -> None:
    """Upsert subawards, each with its stored row or None; a subaward written now is not withdrawn."""
    params = []
    for sub, old in subawards:
        values = [float(v) if type(v) is Decimal else v for v in (getattr(sub, c) for c in SUBAWARD_SLOTS)]
        params.append([*values, old["first_seen_at"] if old else now, now, None])
    db.conn.executemany(_UPSERT, params)


def touch_subawards(db: Database, keys: Sequence[str], now: str) -> None:
    """Refresh ``last_seen_at`` of subawards an answer repeated unchanged, at day resolution."""
    for chunk in _chunks(list(keys)):
        marks = ",".join("?" * len(chunk))
        db.execute(
            f"UPDATE subawards SET last_seen_at=? WHERE subaward_key IN ({marks}) AND substr(last_seen_at, 1, 10) < ?",
            [now, *chunk, now[:10]],
        )


def mark_withdrawn(db: Database, keys: Sequence[str], now: str) -> None:
    """Subawards their prime's complete list no longer has: kept, with the time they went."""
    db.conn.executemany("UPDATE subawards SET deleted_at = ? WHERE subaward_key = ?", [(now, k) for k in keys])


def get_check(db: Database, award_key: str) -> tuple[int | None, Decimal | None] | None:
    """What the prime's detail said (subaward_count, total_subaward_amount) when its list was last read."""
    row = db.execute(
        "SELECT subaward_count, total_subaward_amount FROM subaward_checks WHERE award_key = ?", [award_key]
    ).fetchone()
    if row is None:
        return None
    count, total = row
    return count, (Decimal(repr(total)) if isinstance(total, float) else total)


def set_check(db: Database, award_key: str, count: int | None, total: Decimal | None, now: str) -> None:
    db.execute(
        "INSERT INTO subaward_checks (award_key, subaward_count, total_subaward_amount, checked_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(award_key) DO UPDATE SET subaward_count=excluded.subaward_count,"
        " total_subaward_amount=excluded.total_subaward_amount, checked_at=excluded.checked_at",
        [award_key, count, None if total is None else float(total), now],
    )
