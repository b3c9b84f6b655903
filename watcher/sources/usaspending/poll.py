"""One watch run: fetch -> normalize -> match -> diff -> store, with its errors captured in ``runs``.

A run is one SQLite transaction: a failure at any point (HTTP error, wrong shape, a
crash) leaves nothing of it behind, and the next run redoes it from the same state.
The ``runs`` row is created before that transaction, so a failed or killed run is
always on record, and marked ok inside it, together with the data it describes.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlite_utils import Database

from watcher import stopping, store
from watcher.config import Config, Watch
from watcher.diff import AWARD_FIELDS, FACT_FIELDS, TRANSACTION_FIELDS, TX_FACT_FIELDS, diff_award, diff_transaction
from watcher.errors import ImpossibleAmount, SourceError, WatcherError
from watcher.http import ApiClient, redact
from watcher.match import Matcher, action_label, build_matcher, signature
from watcher.models import NEW_TRANSACTION, Award, Match, Transaction
from watcher.sources import Raw, RunResult, record_result
from watcher.sources.usaspending import actions, subawards, vehicles
from watcher.sources.usaspending import api as usaspending
from watcher.sources.usaspending.agencies import check_agencies
from watcher.sources.usaspending.parse import (
    DETAIL_FIELDS,
    award_from_search,
    detail_fields,
    fingerprint,
    transaction_from_api,
)
from watcher.store import review
from watcher.values import utcnow

log = logging.getLogger(__name__)
SEARCH_ONLY_FIELDS = tuple(f for f in AWARD_FIELDS if f not in DETAIL_FIELDS)


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
    in_watch: set[str] = field(default_factory=set)  # awards this watch holds matches for
    has_sam: bool = False  # whether SAM.gov ever stored a contract action (then sources must be merged)
    from_sam: set[str] = field(default_factory=set)  # stored awards of this page that only SAM.gov has seen
    force: set[str] = field(default_factory=set)  # awards whose actions changed: read even if their row did not


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
    now = now or utcnow()
    run_id = store.start_run(db, watch.name, "usaspending", now)
    result = RunResult(watch.name, "usaspending", run_id)
    matcher = build_matcher(watch, config.resellers, review.confirmed(db, watch.name))
    ctx = _Ctx(db, client, watch, matcher, run_id, now, fetch_details, result)
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
                subawards.rejudge(db, watch.name, ctx.matcher, now)
            check_agencies(db, client, watch, now)
            ctx.in_watch = store.matched_keys(db, watch.name)
            ctx.has_sam = (
                db.execute("SELECT 1 FROM provenance WHERE source = 'sam_awards' LIMIT 1").fetchone() is not None
            )
            seen: set[str] = set()
            to_read, to_judge = _scan_actions(ctx, today)
            for query in usaspending.plan(watch, matcher.review_resellers()):
                if stopping.requested():
                    break
                body = usaspending.search_body(watch, query, today, page_size)
                pages_before, changes_before = result.pages, result.changes
                for rows, raw in usaspending.walk(client, body, f"{watch.name} {query.label}"):
                    result.pages += 1
                    _process_page(ctx, rows, raw, query.group, seen)
                    if stopping.requested():
                        break
                log.info(
                    "watch %s: %s: %d page(s), %d change(s)",
                    watch.name,
                    query.label,
                    result.pages - pages_before,
                    result.changes - changes_before,
                )
            if not stopping.requested():
                named = {k: (a.group, a.piid) for k, a in to_read.items() if k not in seen}
                judge = _more_to_read(ctx, named, seen, today)
                _read_by_piid(ctx, named, seen, page_size)
                _adopt(ctx, (to_judge | judge) - seen - ctx.in_watch)
                # Held awards no award walk can list (their vendor is named only in an action's text):
                # a new modification that names nobody moves only their row, so ask for them by PIID.
                window = (today - timedelta(days=watch.lookback_days), today + timedelta(days=1))
                _read_by_piid(ctx, _hidden(ctx, seen), seen, page_size, window)
                if fetch_details:  # like the transaction walk, not in the search-only pipeline of the benchmarks
                    subawards.scan(db, client, watch, ctx.matcher, today, page_size, now, run_id, result)
            store.index_awards_fts(db)
            result.records = len(seen)
            if stopping.requested():  # a graceful stop: the pages read are kept, and the run says it is partial
                result.status, result.error = "error", stopping.MESSAGE
            # Recorded inside the run's transaction: a kill after the commit cannot leave an
            # ok run looking interrupted.
            _finish(db, ctx, client.requests - before, started, now if simulated else None)
        return result
    except Exception as exc:
        message = str(exc) if isinstance(exc, WatcherError | httpx.HTTPError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            message = f"the database stayed locked by another writer: {exc}"
        elif isinstance(exc, sqlite3.Error):  # a full disk, a damaged file: in words (store/faults.py)
            message = store.explain(exc)
        result.status, result.error = "error", redact(message)
        result.changes, result.kinds, result.records = 0, {}, 0
        log.error("watch %s: usaspending failed: %s", watch.name, result.error)
        if not isinstance(exc, WatcherError | httpx.HTTPError | sqlite3.Error):
            log.debug("traceback", exc_info=True)
    _finish(db, ctx, client.requests - before, started, now if simulated else None)
    return result


def _finish(db: Database, ctx: _Ctx, requests: int, started: float, finished: str | None) -> None:
    ctx.result.requests = requests
    record_result(db, ctx.result, started, finished)


def _scan_actions(ctx: _Ctx, today: date) -> tuple[dict[str, actions.Action], set[str]]:
    """The transaction-level walk (actions.py): awards to read again, and stored ones to judge.

    Skipped without details (the search-only pipeline of the benchmarks): it compares actions
    with stored ones, and such a run stores none.
    """
    if not ctx.fetch_details:
        return {}, set()
    found, pages = actions.scan(ctx.client, ctx.watch, today, ctx.result.warnings)
    ctx.result.pages += pages
    stored = store.stored_actions(ctx.db, [a.award_key for a in found])
    to_read, to_judge = actions.awards_to_read(found, stored, ctx.in_watch, ctx.matcher)
    store.touch_awards(ctx.db, [k for k in stored if k not in to_read], ctx.now)  # listed, so seen today
    ctx.force = set(to_read)
    return to_read, to_judge


def _more_to_read(ctx: _Ctx, named: dict[str, tuple[str, str | None]], seen: set[str], today: date) -> set[str]:
    """Add to ``named`` the orders no walk listed: new or moved ones under the watch's contract vehicles
    (vehicles.py), and confirmed reseller orders it does not hold yet (store/review.py). Returns the
    stored orders that only need the watch's verdict."""
    judge: set[str] = set()
    if ctx.fetch_details:  # the search-only pipeline of the benchmarks reads the walks alone
        since = (today - timedelta(days=ctx.watch.lookback_days)).isoformat()
        orders, judge, pages = vehicles.orders_to_read(ctx.client, ctx.db, ctx.watch, ctx.in_watch, seen, since)
        ctx.result.pages += pages
        named.update({k: ("contracts", piid) for k, piid in orders.items() if k not in named})
    confirmed = review.unread_confirmed(ctx.db, ctx.watch.name)
    named.update({k: ("contracts", piid) for k, piid in confirmed.items() if k not in named and k not in seen})
    return judge


def _read_by_piid(
    ctx: _Ctx, wanted: Mapping[str, tuple[str, str | None]], seen: set[str], page_size: int, window: Any = None
) -> None:
    """The award rows of ``wanted`` (key -> group, PIID), by PIID, through the usual page path: awards only
    the transaction walk or a vehicle's list named, and held awards no walk can list (within ``window``)."""
    piids: dict[str, set[str]] = {}
    for group, piid in wanted.values():
        if piid:
            piids.setdefault(group, set()).add(piid)
    for group, named in sorted(piids.items()):
        ordered, step = sorted(named), usaspending.AWARD_IDS_PER_REQUEST
        for i in range(0, len(ordered), step):
            body = usaspending.award_ids_body(group, ordered[i : i + step], page_size, window)
            for rows, raw in usaspending.walk(ctx.client, body, f"{ctx.watch.name} {group}/by-id"):
                ctx.result.pages += 1
                # A PIID may name other agencies' awards too: only the wanted ones are read.
                _process_page(ctx, rows, raw, group, seen, only=set(wanted))


def _hidden(ctx: _Ctx, seen: set[str]) -> dict[str, tuple[str, str]]:
    """Held awards, not listed this poll, whose own row (recipient, description) does not match the watch."""
    if not ctx.fetch_details:
        return {}
    keys = [k for k in ctx.in_watch - seen if k.startswith(("CONT_AWD_", "CONT_IDV_"))]
    out = {}
    for key, row in store.get_awards(ctx.db, keys).items():
        if row.get("piid") and not ctx.matcher.match(Award.from_row(row), min_amount=False):
            out[key] = ("idvs" if key.startswith("CONT_IDV_") else "contracts", str(row["piid"]))
    return out


def _adopt(ctx: _Ctx, keys: set[str]) -> None:
    """Stored, unchanged awards that another watch holds and whose actions name this watch's vendors."""
    verdicts = {k: m for k, m in _judge_stored(ctx, sorted(keys)).items() if m}
    if verdicts:
        writes = store.PageWrites("usaspending")
        writes.watch_matches(ctx.watch.name).update(verdicts)
        store.save_page(ctx.db, writes, ctx.now, ctx.run_id)
        ctx.in_watch.update(verdicts)


def _process_page(
    ctx: _Ctx, rows: list[dict[str, Any]], raw: Raw, group: str, seen: set[str], only: set[str] | None = None
) -> None:
    # Cheap first pass on the raw rows: an award whose row is byte-for-byte what we stored
    # last time (same fingerprint) needs no normalizing, no request and no write.
    keyed: list[tuple[str, dict[str, Any], str, int]] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise SourceError(f"{raw.path}: a result row is {type(row).__name__}, not an object: {row!r:.100}")
        raw_key = row.get("generated_internal_id")
        key = raw_key.upper() if isinstance(raw_key, str) else ""
        if (key and key in seen) or (only is not None and key not in only):  # another walk's, or a repeat
            continue
        seen.add(key)
        keyed.append((key, row, fingerprint(row), index))
    if not keyed:
        return
    stored = store.get_stored(ctx.db, [k for k, _, _, _ in keyed])
    unchanged = [k for k, _, fp, _ in keyed if k in stored and stored[k][0] == fp and k not in ctx.force]
    today = ctx.now[:10]
    store.touch_awards(ctx.db, [k for k in unchanged if (stored[k][1] or "")[:10] < today], ctx.now)
    writes = store.PageWrites("usaspending")
    mine = writes.watch_matches(ctx.watch.name)
    # Unchanged awards stored by another watch still need this watch's matches (no HTTP).
    # Only awards that match get a row: one this watch's rules reject stays out of it.
    outsiders = [k for k in unchanged if k not in ctx.in_watch]
    if outsiders:
        mine.update(_judge_stored(ctx, outsiders))
    fresh = [item for item in keyed if item[0] not in stored or stored[item[0]][0] != item[2] or item[0] in ctx.force]
    new_keys = [k for k, _, _, _ in fresh if k not in stored]
    rejected = store.get_rejected(ctx.db, ctx.watch.name, new_keys) if new_keys else {}
    rejected.update(review.judged(ctx.db, ctx.watch.name, new_keys) if new_keys else {})  # queued or dismissed
    # A search hit we already turned down, and that has not changed since, costs no request either.
    fresh = [item for item in fresh if item[0] in ctx.force or rejected.get(item[0]) != item[2]]
    existing = store.get_awards(ctx.db, [k for k, _, _, _ in fresh if k in stored])
    if ctx.has_sam and existing:
        ctx.from_sam = set(existing) - store.seen_by(ctx.db, "usaspending", list(existing))
    for _, row, fp, index in fresh:
        if stopping.requested():  # the awards not processed are read again at the next poll
            break
        try:
            award = award_from_search(row, group, fp)
            _process_award(ctx, award, existing.get(award.award_key), writes, (raw, index))
        except ImpossibleAmount as exc:  # refused before any of its writes: the rest of the page goes on
            ctx.result.warnings.append(str(exc))
            log.warning("watch %s: %s", ctx.watch.name, exc)
    store.save_page(ctx.db, writes, ctx.now, ctx.run_id)
    ctx.in_watch.update(k for k, ms in mine.items() if ms)
    ctx.in_watch.difference_update(k for k, ms in mine.items() if not ms)
    if writes.changes:
        ctx.result.changes += len(writes.changes)
        for c in writes.changes:
            ctx.result.kinds[c.kind] = ctx.result.kinds.get(c.kind, 0) + 1


#: More per-award fetch failures than this in one run means the API itself is failing: stop the run.
MAX_ENRICH_FAILURES = 10


def _enrich(ctx: _Ctx, what: str, fetch: Callable[[], Any]) -> Any:
    """One per-award fetch; a failure is a warning (the award is retried next poll), not the run's end."""
    try:
        return fetch()
    except SourceError as exc:
        ctx.result.warnings.append(f"{what}: {redact(str(exc))}")
        log.warning("watch %s: %s failed, will retry next poll: %s", ctx.watch.name, what, exc)
        if len(ctx.result.warnings) > MAX_ENRICH_FAILURES:
            raise SourceError(f"{len(ctx.result.warnings)} award fetches failed in this run; last: {exc}") from None
        return None


def _process_award(
    ctx: _Ctx,
    award: Award,
    old: dict[str, Any] | None,
    writes: store.PageWrites,
    search_ref: tuple[Raw, int | None],
) -> None:
    """A new or changed award: enrich, match, diff; its rows and changes go into ``writes``.

    When its transactions or detail cannot be fetched, or the transactions do not add up to
    the award's total (a stale or cached answer), the award is stored from its search row
    with no fingerprint, so the next poll fetches it again instead of trusting it.
    """
    key = award.award_key
    txs: list[Transaction] = []
    tx_rows: list[tuple[dict[str, Any], Raw, int]] = []
    enriched = ctx.fetch_details
    if enriched:
        # Transactions first: a mention may be only in a modification's description.
        tx_rows = _enrich(ctx, f"transactions of {key}", lambda: usaspending.fetch_transactions(ctx.client, key))
        enriched = tx_rows is not None
        tx_rows = tx_rows or []
        parsed = (transaction_from_api(r, key) for r, _, _ in tx_rows)
        txs = list({t.transaction_key: t for t in parsed}.values())
    # Earliest action first (as _judge_stored reads them): evidence names the first action that says it.
    in_order = sorted(txs, key=lambda t: (t.action_date or "", t.modification_number or ""))
    matches = ctx.matcher.match(award, ((action_label(t.modification_number), t.description) for t in in_order))
    if not matches and old is None:
        if ctx.fetch_details and not enriched:
            return  # its modifications could not be read: judge it next poll
        if reseller := ctx.matcher.review_candidate(award):  # a reseller's order naming no product: for a person
            writes.review.setdefault(ctx.watch.name, []).append(review.Candidate(award, reseller))
            return
        # A search hit that is not about our vendors (e.g. "AWS" prefix-matching "AWSOME").
        writes.rejected.setdefault(ctx.watch.name, []).append((award.award_key, award.fingerprint))
        return
    refs = [search_ref]
    if enriched:
        fetched = _enrich(ctx, f"award {key}", lambda: usaspending.fetch_detail(ctx.client, key))
        enriched = fetched is not None
        if fetched is not None:
            detail, detail_raw = fetched
            refs.append((detail_raw, None))
            for name, value in detail_fields(detail).items():
                setattr(award, name, value)
            if matches and not subawards.follow_prime(ctx.db, ctx.client, detail, writes, ctx.now, ctx.result.warnings):
                award.fingerprint = None  # its subawards could not all be read: read it again next poll
    if enriched and award.category == "contract" and award.total_obligation is not None:
        actions = sum((t.obligation or Decimal(0) for t in txs), Decimal(0))
        if actions != award.total_obligation:
            log.info(
                "watch %s: %s: actions sum to %s, award says %s; will re-read next poll",
                ctx.watch.name,
                key,
                actions,
                award.total_obligation,
            )
            award.fingerprint = None
    if ctx.fetch_details and not enriched:
        award.fingerprint = None
    confirmed: set[str] = set()
    if old is not None and enriched and old.get("backfilled_at"):
        # Its actions came from a backfill with composed keys; the real list now replaces them. Those
        # whose key was right are compared on facts only: the backfill's rows lack some wording.
        confirmed = store.drop_backfilled(ctx.db, key, {t.transaction_key for t in txs})
    if old is not None and enriched and ctx.has_sam:
        ahead = store.sam_transaction_keys(ctx.db, key) - {t.transaction_key for t in txs}
        if ahead:
            # SAM.gov already reported actions USAspending does not have yet: its totals and dates are
            # behind ours, so they are not news (and are not stored) until it catches up.
            for f in FACT_FIELDS:
                setattr(award, f, _stored_value(old.get(f)))
            award.fingerprint = None
    writes.provenance.append((key, award.source_url, refs))
    writes.provenance += [(str(r["id"]).upper(), award.source_url, [(raw, i)]) for r, raw, i in tx_rows]
    previously_enriched = old is not None and old.get("enriched_at") is not None
    fields = AWARD_FIELDS if enriched and previously_enriched else SEARCH_ONLY_FIELDS
    if old is not None and key in ctx.from_sam:
        # First sight of an award SAM.gov reported before: its facts are compared; its wording
        # (agency names, description) is USAspending's from now on, silently.
        fields = tuple(f for f in FACT_FIELDS if old.get(f) is not None)
    change = diff_award(old, award, fields)
    if change:
        writes.changes.append(change)
    writes.awards.append((award, old, enriched))
    if txs:
        known = store.get_transactions(ctx.db, key) if old else {}
        for tx in txs:
            facts = TX_FACT_FIELDS if tx.transaction_key in confirmed else TRANSACTION_FIELDS
            tx_change = diff_transaction(known.get(tx.transaction_key), tx, facts)
            # An award's history arrives with it: only actions on a known award are news.
            if tx_change and not (tx_change.kind == NEW_TRANSACTION and not previously_enriched):
                writes.changes.append(tx_change)
        writes.transactions += txs
    writes.watch_matches(ctx.watch.name)[key] = matches


def _stored_value(value: Any) -> Any:
    """A value read back from SQLite in the Award's types (amounts are REAL there, Decimal here)."""
    return Decimal(repr(value)) if isinstance(value, float) else value


def _judge_stored(ctx: _Ctx, keys: list[str]) -> dict[str, list[Match]]:
    """Match stored awards (with their stored transactions' descriptions) without any request."""
    out: dict[str, list[Match]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        existing = store.get_awards(ctx.db, chunk)
        marks = ",".join("?" * len(chunk))
        texts: dict[str, list[tuple[str, str | None]]] = {}
        for key, mod, desc in ctx.db.execute(
            f"SELECT award_key, modification_number, description FROM transactions WHERE award_key IN ({marks})"
            " ORDER BY action_date, modification_number",
            chunk,
        ):
            texts.setdefault(key, []).append((action_label(mod), desc))
        for key, row in existing.items():
            award = Award.from_row(row)
            out[key] = ctx.matcher.match(award, texts.get(key, []))
    return out


def _rejudge(ctx: _Ctx, keys: list[str]) -> None:
    """Re-match every award this watch holds; those the new rules reject leave the watch."""
    verdicts = _judge_stored(ctx, keys)
    store.replace_matches(ctx.db, ctx.watch.name, verdicts, ctx.now)
    left = sum(1 for m in verdicts.values() if not m)
    if left:
        log.info("watch %s: the edited rules no longer match %d stored award(s)", ctx.watch.name, left)
