"""Backfill: a watch's history since a date, in checkpointed date slices, with modifications fetched in bulk.

A poll reads each new award's actions with one ``/api/v2/transactions/`` call per award;
for a history of 100k awards that is 100k requests. A backfill instead pages
``spending_by_transaction`` over the watch's own filters in narrow action-date slices
(100 actions a page, deduplicated: that endpoint has no tie-breaker, so a row can repeat
across pages) and then walks ``spending_by_award`` over last-modified slices. It is sized
first with the count endpoints, so progress has a total.

Each slice is written in one transaction together with its checkpoint
(``backfill_slices``), so a killed backfill resumes at the first slice it had not
finished and ends with the database an uninterrupted one would have. Backfilled history
is history, not news: it writes no ``changes`` (digests and feeds stay quiet), marks its
rows ``backfilled_at``, and never touches an award a poll already stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from sqlite_utils import Database

from watcher import stopping, store
from watcher.config import Config, Watch
from watcher.errors import ImpossibleAmount, SourceError
from watcher.http import ApiClient, parse_json
from watcher.match import action_label, build_matcher
from watcher.models import Award, Match
from watcher.sources import Raw
from watcher.sources.usaspending import api as usaspending
from watcher.sources.usaspending import history
from watcher.sources.usaspending.history import BackfillResult
from watcher.sources.usaspending.parse import award_from_search, fingerprint
from watcher.values import utcnow

log = logging.getLogger(__name__)

TX_PATH = "/api/v2/search/spending_by_transaction/"
AWARD_COUNT_PATH = "/api/v2/search/spending_by_award_count/"
TX_COUNT_PATH = "/api/v2/search/spending_by_transaction_count/"
#: progress(phase, records done, records expected)
Progress = Callable[[str, int, int], None]


class _Backfill:
    def __init__(
        self,
        db: Database,
        config: Config,
        client: ApiClient,
        watch: Watch,
        result: BackfillResult,
        progress: Progress | None,
        now: str,
    ) -> None:
        self.db, self.config, self.client, self.watch, self.r = db, config, client, watch, result
        self.progress = progress or (lambda phase, done, total: None)
        self.now = now
        self.matcher = build_matcher(watch, config.resellers)
        self.done: set[tuple[str, str, str, str]] = set()
        for k, q, f, t, warning in db.execute(
            "SELECT kind, query, slice_from, slice_to, warning FROM backfill_slices WHERE watch = ? AND since = ?"
            " ORDER BY rowid",
            [watch.name, result.since.isoformat()],
        ):
            self.done.add((k, q, f, t))
            if warning:  # written by an earlier, interrupted run: still true of this backfill
                result.warnings.append(warning)

    # ------------------------------------------------------------ sizing
    def size(self) -> dict[str, int]:
        """Count each walk's records over the whole window; returns the slice length (days) for each walk."""
        w, r = self.watch, self.r
        span = (r.until - r.since).days + 1
        plan: dict[str, int] = {}
        for kind, queries, path, date_type in (
            ("awards", usaspending.plan(w), AWARD_COUNT_PATH, "last_modified_date"),
            ("transactions", history.tx_queries(w), TX_COUNT_PATH, "action_date"),
        ):
            for q in queries:
                body = {"filters": history.filters(w, q, r.since, r.until, date_type)}
                counts = self.client.request_json("POST", path, json_body=body).get("results") or {}
                groups = w.award_types if q.group == "all" else (q.group,)
                n = sum(int(counts.get(g, 0) or 0) for g in groups)
                if kind == "awards":
                    r.expected_awards += n
                else:
                    r.expected_transactions += n
                plan[f"{kind} {q.label}"] = history.slice_days(span, n)
        return plan

    # ------------------------------------------------------------ phase 1: actions, staged
    def transactions(self, plan: dict[str, int]) -> None:
        for q in history.tx_queries(self.watch):
            todo = history.slices(self.r.since, self.r.until, plan.get(f"transactions {q.label}", history.SLICE_DAYS))
            while todo:
                self._stop_check()
                start, end = todo.pop(0)
                key = ("transactions", q.label, start.isoformat(), end.isoformat())
                if key in self.done:
                    self.r.slices_skipped += 1
                    continue
                label = f"{q.label} {start}..{end}"
                pages, full = self._tx_pages(history.filters(self.watch, q, start, end, "action_date"), label)
                if full and start < end:  # over the endpoint's window: split the slice
                    half = start + (end - start) // 2
                    todo[:0] = [(start, half), (half + timedelta(days=1), end)]
                    continue
                with store.write_transaction(self.db):
                    self._stage(pages)
                    self._checkpoint(key, sum(len(rows) for _, rows in pages), self._truncated(label) if full else None)

    def _truncated(self, label: str) -> str:
        """A one-day slice (or PIID batch) still full at the last page: keep what was read, and say what was not."""
        warning = history.truncation_warning(label)
        self.r.warnings.append(warning)
        log.warning("backfill %s: %s", self.watch.name, warning)
        return warning

    def _tx_pages(self, filters: dict[str, Any], label: str) -> tuple[list[tuple[Raw, list]], bool]:
        """The walk's pages, up to the last one the endpoint can serve; and whether rows remained past it."""
        pages: list[tuple[Raw, list]] = []
        for page in range(1, history.last_page() + 1):
            body = {
                "filters": filters,
                "fields": history.TX_FIELDS,
                "sort": "Action Date",
                "order": "desc",
                "limit": history.PAGE,
                "page": page,
            }
            content = self.client.request_json("POST", TX_PATH, json_body=body, parse=False)
            what = f"spending_by_transaction {label} page {page}"
            payload = parse_json(content, what)
            if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
                raise SourceError(f"{what}: response has no results list")
            for message in payload.get("messages") or []:  # keyword_search "not used" is always there: ignore it
                if "not used" in str(message) and "keyword_search" not in str(message):
                    raise SourceError(f"{what}: the API ignored part of the query: {message}")
            pages.append((Raw("POST", TX_PATH, body, content), payload["results"]))
            self.r.transactions += len(payload["results"])
            self.progress("transactions", self.r.transactions, self.r.expected_transactions)
            if not (payload.get("page_metadata") or {}).get("hasNext"):
                return pages, False
        return pages, True  # the next page would be a 503 (issue #3218): never ask for it

    def _stage(self, pages: list[tuple[Raw, list[dict]]]) -> None:
        ids = store.save_responses(self.db, "usaspending", [raw for raw, _ in pages], self.now)
        rows = history.staged_rows(
            self.watch.name, [(ids[id(raw)], results) for raw, results in pages], self.r.warnings
        )
        # The endpoint has no tie-breaker: the same row can come twice; one copy is kept (history.staged_rows).
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO backfill_transactions (watch, award_key, mod, row_hash, ordinal, action_date,"
            " action_type, obligation, description, response_id, response_index) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    @staticmethod
    def _stop_check() -> None:
        """Between slices: the last one is written, the next waits for the rerun."""
        if stopping.requested():
            raise SourceError("stopped on request; run the same command again to resume")

    def _checkpoint(self, key: tuple[str, str, str, str], rows: int, warning: str | None = None) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO backfill_slices (watch, since, kind, query, slice_from, slice_to, records, done_at,"
            " warning) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [self.watch.name, self.r.since.isoformat(), *key, rows, self.now, warning],
        )
        self.done.add(key)
        self.r.slices += 1

    # ------------------------------------------------------------ phase 2: awards
    def awards(self, plan: dict[str, int]) -> None:
        for q in usaspending.plan(self.watch):
            for start, end in history.slices(
                self.r.since, self.r.until, plan.get(f"awards {q.label}", history.SLICE_DAYS)
            ):
                self._stop_check()
                key = ("awards", q.label, start.isoformat(), end.isoformat())
                if key in self.done:
                    self.r.slices_skipped += 1
                    continue
                body = usaspending.search_body(self.watch, q, end, history.PAGE)
                body["filters"] = history.filters(self.watch, q, start, end, "last_modified_date")
                pages = list(self._walk(body, q, start, end))
                with store.write_transaction(self.db):
                    for raw, rows in pages:
                        self._store_awards(rows, raw, q.group)
                    store.index_awards_fts(self.db)
                    self._checkpoint(key, rows=sum(len(rows) for _, rows in pages))

    def _walk(self, body: dict[str, Any], q: usaspending.Query, start: date, end: date) -> Iterator[tuple[Raw, list]]:
        for rows, raw in usaspending.walk(self.client, body, f"{self.watch.name} {q.label} {start}..{end}"):
            yield raw, rows

    def named(self) -> None:
        """Awards whose staged actions name the watch's vendors but that no award walk returned.

        The award index holds only an award's base description (docs/api/usaspending.md trap
        20): a reseller's order whose vendor is named only in a modification is listed by the
        transaction walks, never by the award walks, so its award row is read by PIID.
        """
        texts: dict[str, list[str]] = {}
        for key, desc in self.db.execute(
            "SELECT s.award_key, s.description FROM backfill_transactions s WHERE s.watch = ?"
            " AND NOT EXISTS (SELECT 1 FROM awards a WHERE a.award_key = s.award_key)"
            " AND NOT EXISTS (SELECT 1 FROM rejected r WHERE r.watch = s.watch AND r.award_key = s.award_key)"
            " ORDER BY s.award_key",
            [self.watch.name],
        ):
            texts.setdefault(key, []).append(desc)
        wanted = {k: p for k, d in texts.items() if (p := history.named_piid(self.matcher, k, d))}
        for group, piids in history.by_group(wanted).items():
            for i in range(0, len(piids), history.PAGE):
                self._stop_check()
                batch = piids[i : i + history.PAGE]
                ident = hashlib.sha1(json.dumps([group, batch]).encode(), usedforsecurity=False).hexdigest()[:16]
                key = ("named", ident, self.r.since.isoformat(), self.r.until.isoformat())
                if key in self.done:
                    continue
                body = usaspending.award_ids_body(group, batch, history.PAGE)
                pages = [(raw, rows) for rows, raw in usaspending.walk(self.client, body, f"{self.watch.name} by PIID")]
                with store.write_transaction(self.db):
                    for raw, rows in pages:  # other agencies' awards may share a PIID: only the staged ones
                        self._store_awards(rows, raw, group, only=set(wanted))
                    store.index_awards_fts(self.db)
                    self._checkpoint(key, rows=sum(len(rows) for _, rows in pages))

    def _store_awards(self, rows: list[dict[str, Any]], raw: Raw, group: str, only: set[str] | None = None) -> None:
        keys = [str(r.get("generated_internal_id") or "").upper() for r in rows]
        stored = store.get_stored(self.db, keys)
        staged: dict[str, list[tuple]] = {}
        for chunk in range(0, len(keys), 500):
            part = keys[chunk : chunk + 500]
            for row in self.db.execute(
                "SELECT award_key, mod, row_hash, action_date, action_type, obligation, description, response_id,"
                " response_index, ordinal FROM backfill_transactions WHERE watch = ?"
                f" AND award_key IN ({','.join('?' * len(part))})",
                [self.watch.name, *part],
            ):
                staged.setdefault(row[0], []).append(row)
        kept: list[tuple[Award, dict[str, Any] | None, bool | None]] = []
        matches: dict[str, list[Match]] = {}
        rejected: list[tuple[str, str | None]] = []
        provenance: list[store.Provenance] = []
        for index, (key, row) in enumerate(zip(keys, rows, strict=True)):
            if not key or key in stored or key in matches or (only is not None and key not in only):
                continue  # a poll's award (or one stored by an earlier slice) is never overwritten with history
            try:
                award = award_from_search(row, group, fingerprint(row))
            except ImpossibleAmount as exc:  # that award only; the rest of the page is stored
                self.r.warnings.append(str(exc))
                continue
            # Earliest action first, each named, as a poll judges them: the same evidence either way.
            acts = sorted(staged.get(key, []), key=lambda s: (s[3] or "", s[1] or ""))
            found = self.matcher.match(award, [(action_label(s[1]), s[6]) for s in acts])
            self.r.awards += 1
            if not found:
                rejected.append((key, award.fingerprint))
                continue
            kept.append((award, None, False))
            matches[key] = found
            provenance.append((key, award.source_url, [(raw, index)]))
        # One statement per table for the page (per award, the page's response was stored again each time).
        self.r.rejected += len(rejected)
        page = store.PageWrites(
            "usaspending",
            awards=kept,
            matches={self.watch.name: matches},
            rejected={self.watch.name: rejected},
            provenance=provenance,
            new=set(matches),
        )
        store.save_page(self.db, page, self.now)
        self.db.conn.executemany(
            "UPDATE awards SET backfilled_at = ? WHERE award_key = ?", [(self.now, a.award_key) for a, _, _ in kept]
        )
        self.progress("awards", self.r.awards, self.r.expected_awards)

    # ------------------------------------------------------------ phase 3: complete the histories
    def _incomplete(self) -> list[tuple[str, str]]:
        """(award_key, PIID) of kept awards whose staged actions may be incomplete.

        A keyword walk returns only the actions whose own text names the product, so an award
        kept for a mention (a reseller's) gets one more walk by PIID; so does one whose staged
        actions do not add up to its total, and an IDV (its total is its orders', not its own).
        """
        return self.db.execute(
            "SELECT a.award_key, a.piid FROM awards a LEFT JOIN backfill_transactions s"
            " ON s.watch = ? AND s.award_key = a.award_key"
            " WHERE a.backfilled_at IS NOT NULL AND a.award_key IN (SELECT entity_key FROM matches WHERE watch = ?)"
            " AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.award_key = a.award_key)"
            " GROUP BY a.award_key HAVING a.category = 'idv' OR count(s.row_hash) = 0"
            # Found by a mention: only the actions naming the product came back (a $0 one changes no sum).
            " OR NOT EXISTS (SELECT 1 FROM matches m WHERE m.watch = ? AND m.entity_key = a.award_key"
            " AND m.reason IN ('uei', 'recipient', 'parent'))"
            " OR abs(coalesce(a.total_obligation, 0) - coalesce(sum(s.obligation), 0)) > 0.005"
            " ORDER BY a.award_key",
            [self.watch.name, self.watch.name, self.watch.name],
        ).fetchall()

    def complete(self) -> None:
        todo = self._incomplete()
        for i in range(0, len(todo), history.PAGE):
            self._stop_check()
            batch = todo[i : i + history.PAGE]
            piids = sorted({p.upper() for _, p in batch if p})
            ident = hashlib.sha1(json.dumps(piids).encode(), usedforsecurity=False).hexdigest()[:16]
            key = ("complete", ident, self.r.since.isoformat(), self.r.until.isoformat())
            if key in self.done or not piids:
                continue
            wanted = {k for k, _ in batch}
            label = f"histories {i // history.PAGE + 1}"
            pages, full = self._tx_pages(history.piid_filters(self.watch, piids, self.r.since, self.r.until), label)
            # Other awards share these PIIDs (task order 0001 under many IDVs): keep only ours.
            pages = [
                (raw, [r if str(r.get("generated_internal_id") or "").upper() in wanted else None for r in rows])
                for raw, rows in pages
            ]
            with store.write_transaction(self.db):
                self._stage(pages)
                self._checkpoint(
                    key, sum(1 for _, rows in pages for r in rows if r), self._truncated(label) if full else None
                )

    # ------------------------------------------------------------ phase 4: the actions, keyed
    def store_transactions(self) -> None:
        while True:
            self._stop_check()
            keys = [
                k
                for (k,) in self.db.execute(
                    "SELECT a.award_key FROM awards a WHERE a.backfilled_at IS NOT NULL"
                    " AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.award_key = a.award_key)"
                    " AND EXISTS (SELECT 1 FROM backfill_transactions s"
                    " WHERE s.watch = ? AND s.award_key = a.award_key)"
                    " ORDER BY a.award_key LIMIT 500",
                    [self.watch.name],
                )
            ]
            if not keys:
                return
            awards = store.get_awards(self.db, keys)
            with store.write_transaction(self.db):
                for key in keys:
                    staged = self.db.execute(
                        "SELECT award_key, mod, row_hash, action_date, action_type, obligation, description,"
                        " response_id, response_index, ordinal FROM backfill_transactions WHERE watch = ?"
                        " AND award_key = ?",
                        [self.watch.name, key],
                    ).fetchall()
                    a = awards[key]
                    txs, refs = history.compose(Award(award_key=key, category=a.get("category")), staged)
                    store.save_transactions(self.db, txs, self.now)
                    self.db.conn.executemany(
                        "UPDATE transactions SET backfilled_at = ? WHERE transaction_key = ?",
                        [(self.now, t.transaction_key) for t in txs],
                    )
                    rows = [(k, a.get("source_url"), json.dumps([ref])) for k, ref in refs]
                    store.add_provenance(self.db, "usaspending", rows, self.now)
                store.refresh_attributions(self.db, self.watch.name, keys)  # the actions arrived after the matches


def run_backfill(
    db: Database,
    config: Config,
    client: ApiClient,
    since: date,
    until: date | None = None,
    *,
    watch_names: list[str] | None = None,
    progress: Progress | None = None,
    now: str | None = None,
) -> list[BackfillResult]:
    """Backfill each selected watch; a failing watch is reported and the others still run.

    Re-running with the same ``since`` resumes: the slices already written are skipped, and
    the window's end is the one the first run chose.
    """
    now = now or utcnow()
    results = []
    for name, watch in config.watches.items():
        if (watch_names and name not in watch_names) or "usaspending" not in watch.sources:
            continue
        row = db.execute(
            "SELECT until, finished_at, plan FROM backfills WHERE watch = ? AND since = ?", [name, since.isoformat()]
        ).fetchone()
        resuming = row is not None and row[1] is None and row[2] is not None
        end = date.fromisoformat(row[0]) if resuming else (until or date.fromisoformat(now[:10]))
        if not resuming:  # a new backfill (or the same one again after it finished): from the start
            with store.write_transaction(db):
                db.execute("DELETE FROM backfill_slices WHERE watch = ? AND since = ?", [name, since.isoformat()])
                db.execute(
                    "INSERT OR REPLACE INTO backfills (watch, since, until, started_at) VALUES (?, ?, ?, ?)",
                    [name, since.isoformat(), end.isoformat(), now],
                )
        result = BackfillResult(name, since, end)
        job = _Backfill(db, config, client, watch, result, progress, now)
        before = client.requests
        try:
            sized = job.size()  # sized again on a resume too: the totals drive the progress bar
            plan = json.loads(row[2]) if resuming else sized  # a resumed backfill keeps its slices
            if not resuming:
                db.execute(
                    "UPDATE backfills SET plan = ? WHERE watch = ? AND since = ?",
                    [json.dumps(plan), name, since.isoformat()],
                )
            job.transactions(plan)
            job.awards(plan)
            job.named()
            job.complete()
            job.store_transactions()
            with store.write_transaction(db):  # the staged answers no version keeps are pruned
                ids = db.execute("SELECT DISTINCT response_id FROM backfill_transactions WHERE watch = ?", [name])
                store.release_responses(db, [r[0] for r in ids])
                db.execute("DELETE FROM backfill_transactions WHERE watch = ?", [name])
                store.prune(db, config.settings.raw_versions_kept)
                db.execute(
                    "UPDATE backfills SET finished_at = ?, error = NULL WHERE watch = ? AND since = ?",
                    [now, name, since.isoformat()],
                )
        except (SourceError, OSError) as exc:
            result.errors.append(str(exc))
            db.execute(
                "UPDATE backfills SET error = ? WHERE watch = ? AND since = ?",
                [str(exc)[:500], name, since.isoformat()],
            )
            log.error("backfill %s: %s (run it again to resume)", name, exc)
        result.requests = client.requests - before
        results.append(result)
    return results
