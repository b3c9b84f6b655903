"""The site's subawards: timeline entries for subaward changes, and the rows of a prime's subaward table.

A subaward change belongs to its prime (``changes.award_key``); its entry links to the prime's
page only when the site has one (a watch holds the prime). A watched vendor found as a
sub-recipient under someone else's prime has no page of its own: its entry links to the
prime on usaspending.gov, whose Sub-Awards tab lists it.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from watcher import links
from watcher.store import rows_by_key
from watcher.words import SUBAWARD_KINDS, Item, subaward_item

__all__ = ["SUBAWARD_KINDS", "award_of", "context", "entry_item", "table_sql"]


def context(db: Database, changes: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """For the subaward changes among ``changes``: their subaward rows, and which of their primes have a page."""
    mine = [c for c in changes if c["kind"] in SUBAWARD_KINDS]
    if not mine:
        return {}, set()
    rows = rows_by_key(db, "subawards", "subaward_key", [c["entity_key"] for c in mine])
    primes = list(dict.fromkeys(c["award_key"] for c in mine if c["award_key"]))
    paged: set[str] = set()
    for i in range(0, len(primes), 500):
        chunk = primes[i : i + 500]
        marks = ",".join("?" * len(chunk))
        paged |= {
            k
            for (k,) in db.execute(
                f"SELECT award_key FROM awards WHERE award_key IN ({marks})"
                " AND award_key IN (SELECT entity_key FROM matches)",
                chunk,
            )
        }
    return rows, paged


def award_of(c: dict[str, Any], awards: dict[str, dict[str, Any]], paged: set[str]) -> dict[str, Any] | None:
    """The award row a timeline entry is worded with: for a subaward, its prime only if that has a page."""
    if c["kind"] in SUBAWARD_KINDS and c["award_key"] not in paged:
        return None
    return awards.get(c["award_key"])


def entry_item(
    c: dict[str, Any], sub: dict[str, Any] | None, prime: dict[str, Any] | None, abbr: dict[str, str]
) -> tuple[Item, str | None]:
    """A subaward change in the digest's words, and the site page it links to (its prime's, if any)."""
    item = subaward_item(c["entity_key"], [c], sub, prime, [], "", abbr, None)
    return item, (f"awards/{links.safe_name(c['award_key'])}.html" if prime is not None else None)


def table_sql(where: str) -> str:
    """The award pages' subaward stream: every award's subawards, newest first, in award_key order."""
    return (
        "SELECT *, prime_award_key AS award_key FROM subawards WHERE 1=1"
        + where.replace("award_key", "prime_award_key")
        + " ORDER BY prime_award_key, action_date DESC, subaward_key"
    )
