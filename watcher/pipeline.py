"""One watch run: fetch -> normalize -> match -> diff -> store, with its errors captured in ``runs``.

A run is one SQLite transaction: a failure at any point (HTTP error, wrong shape, a
crash) leaves nothing of it behind, and the next run redoes it from the same state.
The ``runs`` row itself is written outside that transaction, so a failed run is
always on record.
"""

from __future__ import annotations

import logging
import time
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
from .match import Matcher, build_matcher, signature
from .models import NEW_TRANSACTION, Award, Change, Match, Transaction
from .normalize import DETAIL_FIELDS, award_from_search, detail_fields, fingerprint, transaction_from_api
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
            rules = signature(watch, config.resellers)
            if store.rules_changed(db, watch.name, rules):
                # The vendor map or the watch was edited: past verdicts were made under other rules.
                store.set_rules(db, watch.name, rules, now)
                _rejudge(
                    ctx,
                    [r[0] for r in db.execute("SELECT DISTINCT entity_key FROM matches WHERE watch=?", [watch.name])],
                )
            seen: set[str] = set()
            for query in usaspending.plan(watch):
                body = usaspending.search_body(watch, query, today, page_size)
                pages_before, changes_before = result.pages, result.changes
                for rows, raw in usaspending.walk(client, body, f"{watch.name} {query.label}"):
                    result.pages += 1
                    _process_page(ctx, rows, raw, query.group, seen)
                log.info(
                    "watch %s: %s: %d page(s), %d change(s)",
                    watch.name,
                    query.label,
                    result.pages - pages_before,
                    result.changes - changes_before,
                )
            store.index_awards_fts(db)
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


@dataclass
class _PageWrites:
    """Everything a page produces, written with one statement per table at the end of the page."""

    awards: list[tuple[Award, dict[str, Any] | None]] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    matches: dict[str, list[Match]] = field(default_factory=dict)
    rejected: list[Award] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    # (entity_key, official url, [(response, index in its results or None)])
    provenance: list[tuple[str, str | None, list[tuple[usaspending.Raw, int | None]]]] = field(default_factory=list)


def _process_page(ctx: _Ctx, rows: list[dict[str, Any]], raw: usaspending.Raw, group: str, seen: set[str]) -> None:
    # Cheap first pass on the raw rows: an award whose row is byte-for-byte what we stored
    # last time (same fingerprint) needs no normalizing, no request and no write.
    keyed: list[tuple[str, dict[str, Any], str, int]] = []
    for index, row in enumerate(rows):
        raw_key = row.get("generated_internal_id")
        key = raw_key.upper() if isinstance(raw_key, str) else ""
        if key and key in seen:  # another walk's award, or a row repeated across pages
            continue
        seen.add(key)
        keyed.append((key, row, fingerprint(row), index))
    if not keyed:
        return
    stored = store.get_fingerprints(ctx.db, [k for k, _, _, _ in keyed])
    unchanged = [k for k, _, fp, _ in keyed if stored.get(k) == fp]
    store.touch_awards(ctx.db, unchanged, ctx.now)
    writes = _PageWrites()
    _ensure_matches(ctx, unchanged, writes)
    fresh = [item for item in keyed if stored.get(item[0]) != item[2]]
    new_keys = [k for k, _, _, _ in fresh if k not in stored]
    rejected = store.get_rejected(ctx.db, ctx.watch.name, new_keys) if new_keys else {}
    # A search hit we already turned down, and that has not changed since, costs no request either.
    fresh = [item for item in fresh if rejected.get(item[0]) != item[2]]
    existing = store.get_awards(ctx.db, [k for k, _, _, _ in fresh if k in stored])
    for _, row, fp, index in fresh:
        award = award_from_search(row, group, fp)
        _process_award(ctx, award, existing.get(award.award_key), writes, (raw, index))
    store.save_awards(ctx.db, writes.awards, ctx.now, enriched=ctx.fetch_details)
    store.save_transactions(ctx.db, writes.transactions, ctx.now)
    new_awards = frozenset(a.award_key for a, old in writes.awards if old is None)
    store.replace_matches(ctx.db, ctx.watch.name, writes.matches, ctx.now, new=new_awards)
    store.save_rejected(ctx.db, ctx.watch.name, [(a.award_key, a.fingerprint) for a in writes.rejected], ctx.now)
    store.save_provenance(ctx.db, "usaspending", writes.provenance, ctx.now)
    if writes.changes:
        store.save_changes(ctx.db, writes.changes, ctx.run_id, ctx.now)
        ctx.result.changes += len(writes.changes)
        for c in writes.changes:
            ctx.result.kinds[c.kind] = ctx.result.kinds.get(c.kind, 0) + 1


def _process_award(
    ctx: _Ctx,
    award: Award,
    old: dict[str, Any] | None,
    writes: _PageWrites,
    search_ref: tuple[usaspending.Raw, int | None],
) -> None:
    """A new or changed award: enrich, match, diff; its rows and changes go into ``writes``."""
    txs: list[Transaction] = []
    tx_rows: list[tuple[dict[str, Any], usaspending.Raw, int]] = []
    if ctx.fetch_details:
        # Transactions first: a mention may be only in a modification's description.
        tx_rows = usaspending.fetch_transactions(ctx.client, award.award_key)
        parsed = (transaction_from_api(r, award.award_key) for r, _, _ in tx_rows)
        txs = list({t.transaction_key: t for t in parsed}.values())
    matches = ctx.matcher.match(award, (t.description for t in txs))
    if not matches and old is None:
        # A search hit that is not about our vendors (e.g. "AWS" prefix-matching "AWSOME").
        writes.rejected.append(award)
        return
    refs = [search_ref]
    if ctx.fetch_details:
        detail, detail_raw = usaspending.fetch_detail(ctx.client, award.award_key)
        refs.append((detail_raw, None))
        for name, value in detail_fields(detail).items():
            setattr(award, name, value)
    writes.provenance.append((award.award_key, award.source_url, refs))
    writes.provenance += [(str(r["id"]).upper(), award.source_url, [(raw, i)]) for r, raw, i in tx_rows]
    previously_enriched = old is not None and old.get("enriched_at") is not None
    fields = AWARD_FIELDS if ctx.fetch_details and previously_enriched else SEARCH_ONLY_FIELDS
    change = diff_award(old, award, fields)
    if change:
        writes.changes.append(change)
    writes.awards.append((award, old))
    if txs:
        known = store.get_transactions(ctx.db, award.award_key) if old else {}
        for tx in txs:
            tx_change = diff_transaction(known.get(tx.transaction_key), tx)
            # An award's history arrives with it: only actions on a known award are news.
            if tx_change and not (tx_change.kind == NEW_TRANSACTION and not previously_enriched):
                writes.changes.append(tx_change)
        writes.transactions += txs
    writes.matches[award.award_key] = matches


def _ensure_matches(ctx: _Ctx, keys: list[str], writes: _PageWrites) -> None:
    """Unchanged awards stored by another watch still need this watch's matches (no HTTP).

    Only awards that match get a row: one this watch's rules reject stays out of it.
    """
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
    if missing:
        writes.matches.update(_judge_stored(ctx, missing))


def _judge_stored(ctx: _Ctx, keys: list[str]) -> dict[str, list[Match]]:
    """Match stored awards (with their stored transactions' descriptions) without any request."""
    out: dict[str, list[Match]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        existing = store.get_awards(ctx.db, chunk)
        marks = ",".join("?" * len(chunk))
        texts: dict[str, list[str]] = {}
        for key, desc in ctx.db.execute(
            f"SELECT award_key, description FROM transactions WHERE award_key IN ({marks})", chunk
        ):
            texts.setdefault(key, []).append(desc)
        for key, row in existing.items():
            award = Award(**{f: row.get(f) for f in Award.__slots__})  # type: ignore[attr-defined]
            out[key] = ctx.matcher.match(award, texts.get(key, []))
    return out


def _rejudge(ctx: _Ctx, keys: list[str]) -> None:
    """Re-match every award this watch holds; those the new rules reject leave the watch."""
    verdicts = _judge_stored(ctx, keys)
    store.replace_matches(ctx.db, ctx.watch.name, verdicts, ctx.now)
    left = sum(1 for m in verdicts.values() if not m)
    if left:
        log.info("watch %s: the edited rules no longer match %d stored award(s)", ctx.watch.name, left)


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
