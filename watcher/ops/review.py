"""``watcher review``: the operator's side of the review queue (list, confirm, dismiss), in words.

The queue itself (what a poll puts in it, how decisions apply) is ``store/review.py``; this
module checks a decision against the config, records it in one transaction and says what it
did. Everything shown comes from the API, so it is cleaned of control characters (a
description cannot move the terminal's cursor or fake a line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from watcher import store
from watcher.config import Config
from watcher.errors import ConfigError
from watcher.ops.lock import writer_lock
from watcher.store import review, write_transaction
from watcher.values import utcnow
from watcher.words import clean, usd

#: How many orders ``review list`` shows unless told otherwise.
DEFAULT_LIMIT = 50
STATUSES = review.STATUSES


@dataclass
class Decided:
    """One decision taken: the queue row as it was, and whether the order's match changed at once."""

    row: dict[str, Any]
    status: str
    applied_now: bool

    def line(self) -> str:
        piid = clean(self.row["piid"], 40) or self.row["entity_key"]
        head = f"{self.row['watch']}: {piid} {self.status}"
        if self.status == "dismissed":
            return head + (": it left the watch" if self.applied_now else ": it stays out of the watch for good")
        if self.applied_now:
            return head + ": matched now, with reason reviewed"
        return head + ": it joins the watch at the next poll (matched with reason reviewed)"


def decide(
    db_path: Path,
    config: Config,
    keys: list[str],
    status: str,
    *,
    by: str | None,
    note: str = "",
    vendor: str | None = None,
    watch: str | None = None,
    now: str | None = None,
) -> list[Decided]:
    """Confirm or dismiss the queued orders ``keys`` name (award keys or PIIDs), all or none.

    ``vendor`` (confirm only) attributes the order to one of the watch's vendors; without it, a
    reseller seen carrying exactly one of them gives that one, and otherwise none is named. It
    takes the database's writer lock: a poll in progress makes it fail at once, saying so.
    """
    if not db_path.exists():
        raise ConfigError(f"{db_path}: no database yet; run `watcher poll` first")
    with writer_lock(db_path):
        return _decide(store.open_db(db_path), config, keys, status, by, note, vendor, watch, now)


def _decide(
    db: Database,
    config: Config,
    keys: list[str],
    status: str,
    by: str | None,
    note: str,
    vendor: str | None,
    watch: str | None,
    now: str | None,
) -> list[Decided]:
    if status not in ("confirmed", "dismissed"):
        raise ConfigError(f"unknown decision {status!r}")
    who = (by or "").strip()
    if not who:
        raise ConfigError("say who decides: --by NAME (or set $USER)")
    if watch is not None and watch not in config.watches:
        raise ConfigError(f"no watch named {watch!r} (have: {', '.join(config.watches)})")
    rows: list[dict[str, Any]] = []
    for text in keys:
        found = review.find(db, text, watch)
        if not found:
            queue = f"the review queue of {watch}" if watch else "the review queue"
            raise ConfigError(f"{text!r} is not in {queue} (see: watcher review list)")
        if len({r["watch"] for r in found}) > 1:
            names = ", ".join(sorted({r["watch"] for r in found}))
            raise ConfigError(f"{text!r} is queued for several watches ({names}): say which with --watch")
        if len(found) > 1:
            keys_named = ", ".join(r["entity_key"] for r in found)
            raise ConfigError(f"{text!r} names {len(found)} orders: give the award key ({keys_named})")
        rows.append(found[0])
    at = now or utcnow()
    out: list[Decided] = []
    with write_transaction(db):
        for row in rows:
            attributed = _vendor(config, row, vendor) if status == "confirmed" else ""
            changed = review.decide(db, row, status, who, note.strip(), attributed, at)
            out.append(Decided(row, status, changed))
    return out


def _vendor(config: Config, row: dict[str, Any], asked: str | None) -> str:
    w = config.watches.get(row["watch"])
    mine = list(w.vendors) if w else []
    if asked:
        if asked not in mine:
            raise ConfigError(f"--vendor {asked!r}: watch {row['watch']!r} follows {', '.join(mine) or 'no vendor'}")
        return asked
    reseller = config.resellers.get(row["reseller"] or "")
    carried = [v for v in (reseller.vendors if reseller else []) if v in mine]
    return carried[0] if len(carried) == 1 else ""


def listing(db: Database, status: str, watch: str | None, limit: int = DEFAULT_LIMIT, as_json: bool = False) -> str:
    """``review list``: the queue rows of ``status`` (or ``all``), as text for people or as JSON (every row)."""
    wanted = None if status == "all" else status
    rows = review.entries(db, status=wanted, watch=watch)
    return json.dumps(rows, indent=2, default=str) if as_json else render(rows, wanted, limit)


def render(rows: list[dict[str, Any]], status: str | None, limit: int = DEFAULT_LIMIT) -> str:
    """The queue for a terminal: one block per order, biggest first; at most ``limit`` (0: all)."""
    what = f"{status} " if status else ""
    if not rows:
        return f"no {what}orders in the review queue"
    total = sum((r["total_obligation"] or 0) for r in rows)
    lines = [f"{len(rows)} {what}order(s) in the review queue, {usd(round(total, 2))} in all:"]
    shown = rows if limit <= 0 else rows[:limit]
    for r in shown:
        under = f", under {clean(r['parent_award_piid'], 40)}" if r["parent_award_piid"] else ""
        lines.append(
            f"\n{clean(r['piid'], 40) or '?'}  {usd(r['total_obligation'])}  {clean(r['recipient_name'], 80)}"
            f" ({clean(r['awarding_subagency'], 80) or 'agency unknown'}{under})"
        )
        lines.append(f"  {clean(r['description'], 200) or '(no description)'}")
        lines.append(f"  key {r['entity_key']}  watch {r['watch']}  queued {clean(r['first_seen_at'], 30)}")
        if r["status"] != "pending":
            note = f": {clean(r['note'], 200)}" if r["note"] else ""
            vendor = f" as {clean(r['vendor'], 40)}" if r["vendor"] else ""
            who = f"by {clean(r['decided_by'], 60)} on {clean(r['decided_at'], 30)}"
            lines.append(f"  {r['status']}{vendor} {who}{note}")
        lines.append(f"  {clean(r['source_url'], 200)}")
    if len(shown) < len(rows):
        lines.append(f"\n... and {len(rows) - len(shown)} more (--limit 0 lists them all; --json for machines)")
    return "\n".join(lines)
