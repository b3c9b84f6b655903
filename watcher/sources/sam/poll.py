"""One SAM.gov poll: plan the day's requests within the budget, fetch them, then merge into the store.

Requests are the scarce thing (10 a day on a key without a role), so a poll works in two
phases. First it walks the queries that are due (in-progress walks first, then the ones
read longest ago), each request counted in ``sam_requests`` before it is sent, until the
budget, a 429 or a refused key stops it. Then it writes what it fetched, per source, in
one transaction, together with each walk's progress: a walk that ran out of budget
resumes at its next page the next day, over the same window, and a finished walk moves
its window on (re-reading ``overlap_days``; a gap longer than ``max_window_days`` is read
window by window, walk.py). A crash between the phases loses no data,
only requests: the walks did not move, so the next poll fetches the same pages again.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import date
from typing import Any

from sqlite_utils import Database

from watcher import store
from watcher.config import Config, Watch
from watcher.errors import SourceError
from watcher.http import redact
from watcher.models import Change, SourceName
from watcher.sources import Clients, PollRequest, Raw, RunResult, record_result
from watcher.sources.sam import awards as sam_awards
from watcher.sources.sam import opportunities as sam_opportunities
from watcher.sources.sam.awards import Query
from watcher.sources.sam.client import KEY_ENV, SamClient
from watcher.sources.sam.merge import Merger
from watcher.sources.sam.parse import Action, parse_action, parse_notice
from watcher.sources.sam.walk import Walk, due, order, save_walk, walk_query
from watcher.values import utcnow

log = logging.getLogger(__name__)
SOURCES = ("sam_awards", "sam_opportunities")


def run_sam(
    db: Database,
    config: Config,
    client: SamClient | None,
    *,
    watch_names: list[str] | None = None,
    today: date | None = None,
    now: str | None = None,
    only: str | None = None,
) -> list[RunResult]:
    """Poll both SAM.gov sources (or ``only`` one) for the selected watches; errors go to ``runs``, never raised."""
    started = time.monotonic()
    now = now or utcnow()
    today = today or date.fromisoformat(now[:10])
    selected = [w for n, w in config.watches.items() if not watch_names or n in watch_names]
    by_source = {src: [w for w in selected if src in w.sources and only in (None, src)] for src in SOURCES}
    results: dict[tuple[str, str], RunResult] = {}
    for src, ws in by_source.items():
        for w in ws:
            results[(w.name, src)] = RunResult(w.name, src, store.start_run(db, w.name, src, now))
    if not results:
        return []
    state = _State(db, config, now, results)
    if client is None or not client.key:
        log.warning("%s is not set: the SAM.gov sources are skipped (USAspending still runs)", KEY_ENV)
        return state.finish_all("skipped", f"{KEY_ENV} is not set: SAM.gov sources skipped", started)
    blocked = client.budget.blocked_until(now)
    if blocked:
        return state.finish_all("skipped", f"SAM.gov's daily quota is spent (HTTP 429) until {blocked}", started)
    queries = sam_opportunities.plan(by_source["sam_opportunities"], list(config.settings.sam.notice_types))
    queries += sam_awards.plan(by_source["sam_awards"], config.resellers)
    walks = store.rows_by_key(db, "sam_walks", "query", [q.key for q in queries])
    walks = {k: v for k, v in walks.items() if v["source"] in SOURCES}
    todo = [q for q in queries if due(walks.get(q.key), now, config.settings.sam.refresh_hours)]
    fetched: list[Walk] = []
    stop: str | None = None
    refused = False  # SAM.gov refused us (key, quota): every query not read is an error, not a deferral
    for q in order(todo, walks):
        if stop is not None:
            (state.fail if refused else state.defer)(q, stop)
            continue
        for walk in walk_query(client, q, walks.get(q.key), today, config):
            if walk.stop is not None:
                stop, refused = walk.stop, walk.error is not None
                if not walk.pages:  # nothing fetched: the query waits for the next budget
                    (state.fail if walk.error else state.defer)(q, stop)
                    continue
            fetched.append(walk)
    for q in queries:
        if q not in todo:
            state.note(q, f"{q.label}: up to date (read {walks[q.key]['done_at']})")
    for src in SOURCES:
        mine = [w for w in fetched if w.query.source == src]
        try:
            with store.write_transaction(db):
                if src == "sam_awards":
                    state.merge_awards(mine, by_source[src])
                else:
                    state.merge_notices(mine, by_source[src])
                for walk in mine:
                    save_walk(db, walk, now)
                state.finish_source(src, started)
        except Exception as exc:
            message = redact(str(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}")
            log.error("%s failed: %s", src, message)
            state.finish_source(src, started, error=message)
    return list(results.values())


class _State:
    """The runs rows of one SAM poll and the writes that fill them."""

    def __init__(self, db: Database, config: Config, now: str, results: dict[tuple[str, str], RunResult]) -> None:
        self.db, self.config, self.now, self.results = db, config, now, results
        self.deferred: dict[tuple[str, str], list[str]] = {}
        self.errors: dict[tuple[str, str], str] = {}
        self.merge = Merger(db, config, now)

    def _targets(self, q: Query) -> list[RunResult]:
        return [r for (w, s), r in self.results.items() if s == q.source and w in q.watches]

    def defer(self, q: Query, why: str) -> None:
        for r in self._targets(q):
            self.deferred.setdefault((r.watch, r.source), []).append(q.label)
            r.warnings.append(f"{q.label}: deferred ({why})")

    def fail(self, q: Query, why: str) -> None:
        for r in self._targets(q):
            self.errors[(r.watch, r.source)] = why

    def note(self, q: Query, text: str) -> None:
        for r in self._targets(q):
            r.warnings.append(text)

    def _account(self, walk: Walk) -> None:
        targets = self._targets(walk.query)
        if targets:
            targets[0].requests += walk.requests  # shared walks are paid once, by the first watch
            targets[0].pages += len(walk.pages)
        for r in targets:
            if walk.error:
                self.errors[(r.watch, r.source)] = walk.error
            elif not walk.completed:
                r.warnings.append(f"{walk.query.label}: stopped at page {walk.next_page + 1}, resumes next poll")

    def finish_all(self, status: str, error: str, started: float) -> list[RunResult]:
        for r in self.results.values():
            r.status, r.error = status, error
            self._finish(r, started)
        return list(self.results.values())

    def finish_source(self, source: str, started: float, error: str | None = None) -> None:
        for (w, s), r in self.results.items():
            if s != source:
                continue
            r.error = error or self.errors.get((w, s))
            if r.error:
                r.status, r.changes, r.kinds = "error", 0, {}
            elif (w, s) in self.deferred and not r.requests and not any("up to date" in x for x in r.warnings):
                r.status, r.error = "skipped", "; ".join(r.warnings)[:500]
            self._finish(r, started)

    def _finish(self, r: RunResult, started: float) -> None:
        record_result(self.db, r, started)

    def _record(self, source: str, changes: list[Change], per_watch: dict[str, set[str]]) -> None:
        """Store the changes under the run of the first watch they concern, and count them per watch."""
        runs = [(w, r) for (w, s), r in self.results.items() if s == source]
        by_run: dict[int, list[Change]] = {}
        for c in changes:
            owner = next((r for w, r in runs if {c.entity_key, c.award_key} & per_watch.get(w, set())), runs[0][1])
            by_run.setdefault(owner.run_id, []).append(c)
        for run_id, group in by_run.items():
            store.save_changes(self.db, group, run_id, self.now)
        for w, r in runs:
            keys = per_watch.get(w, set())
            mine = [c for c in changes if c.entity_key in keys or c.award_key in keys]
            r.changes, r.records = len(mine), len(keys)
            for c in mine:
                r.kinds[c.kind] = r.kinds.get(c.kind, 0) + 1

    # ------------------------------------------------------------ contract actions

    def merge_awards(self, walks: list[Walk], watches: list[Watch]) -> None:
        for walk in walks:
            self._account(walk)
        actions: dict[str, list[tuple[Action, Raw, int, tuple[str, ...]]]] = {}
        deletions: list[tuple[dict[str, Any], Raw, int]] = []
        for walk in walks:
            for raw, rows in walk.pages:
                for index, rec in enumerate(rows):
                    if walk.query.kind == "deleted":
                        deletions.append((rec, raw, index))
                        continue
                    try:
                        action = parse_action(rec, self.merge.names)
                    except SourceError as exc:
                        self._warn(walk.query, f"skipped a record: {exc}")
                        continue
                    group = actions.setdefault(action.id.award_key, [])
                    at = next((i for i, g in enumerate(group) if g[0].id == action.id), None)
                    if at is None:
                        group.append((action, raw, index, walk.query.watches))
                    else:  # the same action from another walk (contracting and funding): one action, both watches
                        a, r, i, ws = group[at]
                        group[at] = (a, r, i, tuple(dict.fromkeys((*ws, *walk.query.watches))))
        changes: list[Change] = []
        per_watch: dict[str, set[str]] = {}
        if actions:
            changes += self.merge.actions(actions, {w.name: w for w in watches}, per_watch)
        if deletions:
            changes += self.merge.deletions(deletions, per_watch)
        store.index_awards_fts(self.db)
        self._record("sam_awards", changes, per_watch)

    def _warn(self, q: Query, text: str) -> None:
        for r in self._targets(q):
            r.warnings.append(redact(text)[:300])

    def merge_notices(self, walks: list[Walk], watches: list[Watch]) -> None:
        for walk in walks:
            self._account(walk)
        parsed: dict[str, tuple[dict[str, Any], Raw, int]] = {}
        for walk in walks:
            for raw, rows in walk.pages:
                for index, rec in enumerate(rows):
                    try:
                        n = parse_notice(rec)
                    except SourceError as exc:
                        self._warn(walk.query, f"skipped a notice: {exc}")
                        continue
                    parsed.setdefault(n["notice_id"], (n, raw, index))
        changes: list[Change] = []
        per_watch: dict[str, set[str]] = {}
        if parsed:
            changes = self.merge.notices(parsed, watches, per_watch)
        self._record("sam_opportunities", changes, per_watch)


def request_plan(config: Config) -> list[str]:
    """For ``watcher check``: the SAM.gov queries a poll walks, and what the daily budget covers."""
    s = config.settings.sam
    watches = list(config.watches.values())
    opps = sam_opportunities.plan([w for w in watches if "sam_opportunities" in w.sources], list(s.notice_types))
    awards = sam_awards.plan([w for w in watches if "sam_awards" in w.sources], config.resellers)
    queries = opps + awards
    if not queries:
        return []
    lines = [
        f"  SAM.gov: {len(queries)} queries, each at least 1 request per walk (more when a window has more than"
        f" {s.page_size} actions or {s.notice_page_size} notices); budget {s.daily_budget} requests a day,"
        f" each query read at most every {s.refresh_hours:g} hours"
    ]
    lines += [f"    {q.source}: {q.label} (watches: {', '.join(q.watches)})" for q in queries]
    if len(queries) > s.daily_budget:
        days = math.ceil(len(queries) / s.daily_budget)
        lines.append(
            f"    the budget covers {s.daily_budget} of {len(queries)} queries a day: each is read every ~{days} days"
            " (windows stretch so nothing is skipped, only later)"
        )
    return lines


class SamSource:
    """SAM.gov (Contract Awards and Opportunities) as a :class:`~watcher.sources.Source`, planned across watches."""

    names: tuple[SourceName, ...] = (SourceName.SAM_AWARDS, SourceName.SAM_OPPORTUNITIES)

    def describe(self, config: Config) -> list[str]:
        return request_plan(config)

    def poll(self, db: Database, config: Config, clients: Clients, request: PollRequest) -> list[RunResult]:
        if request.only == SourceName.USASPENDING or not any(
            s in w.sources for w in config.watches.values() for s in self.names
        ):
            return []
        return run_sam(
            db,
            config,
            clients.sam,
            watch_names=request.watch_names,
            today=request.today,
            now=request.now,
            only=request.only,
        )


SOURCE = SamSource()
