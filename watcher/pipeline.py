"""One watch run: fetch -> normalize -> match -> diff -> store, with its errors captured in ``runs``.

A run is one SQLite transaction: a failure at any point (HTTP error, wrong shape, a
crash) leaves nothing of it behind, and the next run redoes it from the same state.
The ``runs`` row itself is written outside that transaction, so a failed run is
always on record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlite_utils import Database

from . import store
from .config import Config, Watch
from .diff import AWARD_FIELDS, diff_award, diff_transaction
from .errors import WatcherError
from .http import ApiClient, redact
from .match import Matcher, build_matcher
from .models import NEW_TRANSACTION, Award, Change
from .normalize import DETAIL_FIELDS, award_from_search, detail_fields, transaction_from_api
from .sources import usaspending

log = logging.getLogger(__name__)
SEARCH_ONLY_FIELDS = tuple(f for f in AWARD_FIELDS if f not in DETAIL_FIELDS)


@dataclass
class RunResult:
    """What one watch x source run did; mirrors its ``runs`` row."""

    watch: str
    source: str
    run_id: int
    status: str = "ok"
    requests: int = 0
    pages: int = 0
    records: int = 0
    changes: int = 0
    error: str | None = None
    kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class _Ctx:
    db: Database
    client: ApiClient
    watch: Watch
    matcher: Matcher
    run_id: int
    now: str
    fetch_details: bool
    result: RunResult


def run_watch(
    db: Database,
    config: Config,
    watch: Watch,
    client: ApiClient,
    *,
    today: date | None = None,
    now: str | None = None,
    fetch_details: bool = True,
) -> RunResult:
    """Poll USAspending for one watch; never raises for source errors (they go to ``runs``).

    ``today`` sets the lookback window and ``now`` the recorded timestamps; both default
    to the clock (the demo replays recorded days by setting them).
    """
    started, simulated = time.monotonic(), now is not None
    now = now or store.utcnow()
    run_id = store.start_run(db, watch.name, "usaspending", now)
    result = RunResult(watch.name, "usaspending", run_id)
    ctx = _Ctx(db, client, watch, build_matcher(watch, config.resellers), run_id, now, fetch_details, result)
    today = today or datetime.now(UTC).date()
    page_size = config.settings.usaspending.page_size
    before = client.requests
    try:
        with store.write_transaction(db):
            seen: set[str] = set()
            for query in usaspending.plan(watch):
                body = usaspending.search_body(watch, query, today, page_size)
                for rows in usaspending.walk(client, body, f"{watch.name} {query.label}"):
                    result.pages += 1
                    _process_page(ctx, rows, query.group, seen)
            result.records = len(seen)
    except (WatcherError, httpx.HTTPError) as exc:
        result.status, result.error = "error", redact(str(exc))
        result.changes, result.kinds = 0, {}
        log.error("watch %s: usaspending failed: %s", watch.name, result.error)
    result.requests = client.requests - before
    store.finish_run(
        db,
        run_id,
        result.status,
        requests=result.requests,
        pages=result.pages,
        records=result.records,
        changes=result.changes,
        error=result.error,
        duration=round(time.monotonic() - started, 3),
        finished=now if simulated else None,
    )
    return result


def _process_page(ctx: _Ctx, rows: list[dict[str, Any]], group: str, seen: set[str]) -> None:
    awards: list[Award] = []
    for row in rows:
        award = award_from_search(row, group)
        if award.award_key in seen:  # the same award from another walk, or a repeated row
            continue
        seen.add(award.award_key)
        awards.append(award)
    if not awards:
        return
    existing = store.get_awards(ctx.db, [a.award_key for a in awards])
    new_keys = [a.award_key for a in awards if a.award_key not in existing]
    rejected = store.get_rejected(ctx.db, ctx.watch.name, new_keys) if new_keys else {}
    # A search hit we already turned down, and that has not changed since, costs no request.
    awards = [a for a in awards if rejected.get(a.award_key) != a.fingerprint]
    unchanged = [a for a in awards if (old := existing.get(a.award_key)) and old["fingerprint"] == a.fingerprint]
    store.touch_awards(ctx.db, [a.award_key for a in unchanged], ctx.now)
    _ensure_matches(ctx, unchanged, existing)
    changes: list[Change] = []
    for award in awards:
        old = existing.get(award.award_key)
        if old is None or old["fingerprint"] != award.fingerprint:
            changes += _process_award(ctx, award, old)
    if changes:
        store.save_changes(ctx.db, changes, ctx.run_id, ctx.now)
        ctx.result.changes += len(changes)
        for c in changes:
            ctx.result.kinds[c.kind] = ctx.result.kinds.get(c.kind, 0) + 1


def _process_award(ctx: _Ctx, award: Award, old: dict[str, Any] | None) -> list[Change]:
    """A new or changed award: enrich, match, diff, store. Returns its changes."""
    txs = []
    if ctx.fetch_details:
        # Transactions first: a mention may be only in a modification's description.
        rows = usaspending.fetch_transactions(ctx.client, award.award_key)
        txs = list({t.transaction_key: t for t in (transaction_from_api(r, award.award_key) for r in rows)}.values())
    matches = ctx.matcher.match(award, (t.description for t in txs))
    if not matches and old is None:
        # A search hit that is not about our vendors (e.g. "AWS" prefix-matching "AWSOME").
        store.save_rejected(ctx.db, ctx.watch.name, award.award_key, award.fingerprint, ctx.now)
        return []
    if ctx.fetch_details:
        for name, value in detail_fields(usaspending.fetch_detail(ctx.client, award.award_key)).items():
            setattr(award, name, value)
    previously_enriched = old is not None and old.get("enriched_at") is not None
    fields = AWARD_FIELDS if ctx.fetch_details and previously_enriched else SEARCH_ONLY_FIELDS
    changes = []
    change = diff_award(old, award, fields)
    if change:
        changes.append(change)
    store.save_award(ctx.db, award, old, ctx.now, enriched=ctx.fetch_details)
    if txs:
        known = store.get_transactions(ctx.db, award.award_key) if old else {}
        for tx in txs:
            tx_change = diff_transaction(known.get(tx.transaction_key), tx)
            # An award's history arrives with it: only actions on a known award are news.
            if tx_change and not (tx_change.kind == NEW_TRANSACTION and not previously_enriched):
                changes.append(tx_change)
        store.save_transactions(ctx.db, txs, ctx.now)
    store.replace_matches(ctx.db, ctx.watch.name, award.award_key, matches, ctx.now)
    return changes


def _ensure_matches(ctx: _Ctx, awards: Iterable[Award], existing: dict[str, dict[str, Any]]) -> None:
    """Unchanged awards stored by another watch still need this watch's matches (no HTTP)."""
    keys = [a.award_key for a in awards]
    if not keys:
        return
    marks = ",".join("?" * len(keys))
    have = {
        r[0]
        for r in ctx.db.execute(
            f"SELECT DISTINCT entity_key FROM matches WHERE watch=? AND entity_key IN ({marks})",
            [ctx.watch.name, *keys],
        )
    }
    missing = [k for k in keys if k not in have]
    if not missing:
        return
    marks = ",".join("?" * len(missing))
    texts: dict[str, list[str]] = {}
    for key, desc in ctx.db.execute(
        f"SELECT award_key, description FROM transactions WHERE award_key IN ({marks})", missing
    ):
        texts.setdefault(key, []).append(desc)
    for key in missing:
        row = existing[key]
        stored = Award(**{f: row.get(f) for f in Award.__slots__})  # type: ignore[attr-defined]
        matches = ctx.matcher.match(stored, texts.get(key, []))
        if matches:
            store.replace_matches(ctx.db, ctx.watch.name, key, matches, ctx.now)


def run_all(
    db: Database,
    config: Config,
    client: ApiClient,
    *,
    watch_names: list[str] | None = None,
    today: date | None = None,
    now: str | None = None,
    fetch_details: bool = True,
) -> list[RunResult]:
    """Every selected watch in turn; one failing watch never stops the others."""
    store.mark_interrupted_runs(db)
    results = []
    for name, watch in config.watches.items():
        if watch_names and name not in watch_names:
            continue
        if "usaspending" in watch.sources:
            results.append(run_watch(db, config, watch, client, today=today, now=now, fetch_details=fetch_details))
    return results
