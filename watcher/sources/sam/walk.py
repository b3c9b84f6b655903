"""One SAM.gov query's walk: which window and page it reads next, its pages fetched under the budget, its state saved.

A walk reads one query over one ``lastModifiedDate`` (Contract Awards) or posted-date
(Opportunities) window, page by page, each request counted before it is sent. It stops
at the end of the window, when the budget or SAM.gov stops it, or when the daemon stops.
Its progress lives in ``sam_walks``: a walk that ran out of budget resumes at its next
page the next day, over the same window; a finished walk moves its window on.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlite_utils import Database

from watcher import stopping
from watcher.config import Config
from watcher.errors import BudgetSpent, SamKeyError, SamQuotaError, SourceError
from watcher.http import redact
from watcher.sources import Raw
from watcher.sources.sam import awards as sam_awards
from watcher.sources.sam import opportunities as sam_opportunities
from watcher.sources.sam.awards import Query
from watcher.sources.sam.client import SamClient
from watcher.sources.sam.parse import award_page, notice_page
from watcher.values import parse_utc

log = logging.getLogger(__name__)
MAX_PAGES = 4000  # Contract Awards refuses offset x limit beyond 400,000 records


@dataclass
class Walk:
    """What one query fetched in this poll, and where its walk stands."""

    query: Query
    start: date
    end: date
    first_page: int
    next_page: int
    total: int | None = None
    pages_total: int | None = None
    pages: list[tuple[Raw, list[dict[str, Any]]]] = field(default_factory=list)
    requests: int = 0
    completed: bool = False
    error: str | None = None
    stop: str | None = None  # why no further SAM request may be sent in this poll
    catch_up: bool = False  # a window cut short by max_window_days: one slice of a longer catch-up


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text[:10]) if text else None


def due(row: dict[str, Any] | None, now: str, refresh_hours: float) -> bool:
    """A query is due unless it finished a walk less than ``refresh_hours`` ago (and has none in progress).

    A catch-up still under way (``done_at`` NULL after a window that ended before its day) is always due.
    """
    if row is None or row.get("next_page") or not row.get("done_at"):
        return True
    done = parse_utc(row["done_at"])
    return parse_utc(now) - done >= timedelta(hours=refresh_hours)


def next_window(row: dict[str, Any] | None, today: date, overlap: int, max_days: int) -> tuple[date, date, int]:
    """(start, end, first page) of the query's next walk: the unfinished one, or on from the last finished.

    No window is longer than ``max_days`` (Opportunities refuses more than 364, sam.md 1.4, and
    a shorter window keeps a walk small enough for one day's budget). A gap longer than that,
    after a lapsed key or a long outage, is read as consecutive windows, oldest first: each
    one finished moves ``done_through`` on, with ``done_at`` left NULL until a window reaches
    today, and the next starts where it ended (the overlap is re-read once, by the first), so
    no day of the gap is skipped. ``overlap`` is cut short only where it would leave the
    window no room to move on (``overlap >= max_days``).
    """
    if row and row.get("next_page") and row.get("window_from") and row.get("window_to"):
        return date.fromisoformat(row["window_from"]), date.fromisoformat(row["window_to"]), int(row["next_page"])
    done = _day((row or {}).get("done_through"))
    if done is None:  # never read completely: the last few days
        return max(today - timedelta(days=max(overlap, 1)), today - timedelta(days=max_days)), today, 0
    if not (row or {}).get("done_at"):  # the last window was one slice of a longer catch-up: on from its end
        start = done
    else:
        start = max(done - timedelta(days=overlap), done + timedelta(days=1 - max_days))
    return start, min(today, start + timedelta(days=max_days)), 0


def order(queries: list[Query], walks: dict[str, dict[str, Any]]) -> list[Query]:
    """Walks in progress first, then the ones read longest ago (never read: plan order)."""
    indexed = list(enumerate(queries))
    indexed.sort(
        key=lambda iq: (
            not (walks.get(iq[1].key) or {}).get("next_page"),
            (walks.get(iq[1].key) or {}).get("done_at") or "",
            iq[0],
        )
    )
    return [q for _, q in indexed]


def _remember(rows: list[dict[str, Any]], seen: set[str]) -> bool:
    """Add the page's records to ``seen``; whether any of them was new to this walk."""
    keys = {json.dumps(r, sort_keys=True, default=str) for r in rows}
    new = bool(keys - seen)
    seen |= keys
    return new


def fetch(client: SamClient, q: Query, row: dict[str, Any] | None, today: date, config: Config) -> Walk:
    """Walk one query from its next page until it ends, the budget ends, or SAM.gov refuses.

    The end is ``ceil(totalRecords / limit)`` pages when SAM.gov gives a count (never "an
    empty page": past the end Opportunities returns a stray record, docs/api/sam.md 1.5).
    SAM.gov sometimes sends ``totalRecords: null`` (sam.md 2.6); then the walk goes on
    while pages are full and ends on a short one, or on one that repeats records already
    read (the stray record again), so a null count never ends a walk after one page.
    """
    s = config.settings.sam
    # Deletions are not reported late: one day of overlap is enough (a catch-up window still reaches back).
    overlap = min(1, s.overlap_days) if q.kind == "deleted" else s.overlap_days
    start, end, page = next_window(row, today, overlap, s.max_window_days)
    notices = q.kind == "notices"
    path = sam_opportunities.SEARCH_PATH if notices else sam_awards.SEARCH_PATH
    limit = s.notice_page_size if notices else s.page_size
    params_of = sam_opportunities.page_params if notices else sam_awards.page_params
    walk = Walk(q, start, end, page, page, pages_total=(row or {}).get("pages") if page else None)
    # A slice of a catch-up is a window cut short of the day it was planned on; resumed on a later day,
    # it is known by the state save_walk left: read through some day, and not up to date (done_at NULL).
    resumed = row if page else None
    walk.catch_up = bool(resumed.get("done_through") and not resumed.get("done_at")) if resumed else end < today
    seen: set[str] = set()
    before = client.requests
    try:
        while page < MAX_PAGES:
            if stopping.requested():
                walk.stop = "the daemon is stopping"
                break
            if walk.pages_total is not None and page >= walk.pages_total:
                walk.completed = True  # by page count: past the end, Opportunities returns a stray record
                break
            params = params_of(q, start, end, page, limit)
            what = f"{q.label} page {page + 1}"
            payload, content = client.get(
                path, params, source=q.source, watch=q.watches[0], query=q.label, page=page, no_data_404=notices
            )
            rows, total = (notice_page if notices else award_page)(payload, what)
            if row and page and page == walk.first_page and total != row.get("total"):
                log.info(
                    "%s: %s records now (was %s); the overlap of the next window re-reads the edge",
                    what,
                    total,
                    row.get("total"),
                )
            walk.total, walk.pages_total = total, None if total is None else math.ceil(total / limit)
            new = _remember(rows, seen)
            if total is None and page > walk.first_page and not new:
                walk.completed = True  # nothing new: Opportunities' stray record past the end (sam.md 1.5)
                break
            walk.pages.append((Raw("GET", path, params, content), rows))
            page += 1
            walk.next_page = page
            if (not rows and not notices) or (total is None and len(rows) < limit):
                walk.completed = True  # no count to stop by (totalRecords null): a short page is the last
                break
    except BudgetSpent as exc:
        walk.stop = str(exc)
    except (SamKeyError, SamQuotaError) as exc:
        walk.stop = walk.error = redact(str(exc).split("\n")[0])
    except SourceError as exc:
        walk.error = redact(str(exc))
    finally:
        walk.requests = client.requests - before
    return walk


def walk_query(client: SamClient, q: Query, row: dict[str, Any] | None, today: date, config: Config) -> list[Walk]:
    """The query's walks in this poll: window after window, oldest first, until one reaches today or one stops.

    Usually one window; more when the query is catching up on a gap longer than
    ``max_window_days`` (see :func:`next_window`), as far as the budget goes.
    """
    walks = []
    while True:
        walk = fetch(client, q, row, today, config)
        walks.append(walk)
        if not walk.catch_up or not walk.completed or walk.error is not None or walk.stop is not None:
            return walks
        row = {"done_through": walk.end.isoformat(), "done_at": None, "next_page": 0}


def save_walk(db: Database, walk: Walk, now: str) -> None:
    """Record where the query's walk stands: its window and next page, or, once finished, how far it has read.

    ``done_at`` (when the query was last read up to date) is set only when a window that was
    not cut short finishes; a catch-up slice clears it once it has read a page, so the query
    stays due and, resumed another day, the slice is still known for one (see :func:`fetch`).
    """
    done = walk.completed and walk.error is None
    db.execute(
        "INSERT INTO sam_walks (source, query, watches, window_from, window_to, next_page, pages, total,"
        " done_through, done_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)"
        " ON CONFLICT(source, query) DO UPDATE SET watches=excluded.watches, window_from=excluded.window_from,"
        " window_to=excluded.window_to, next_page=excluded.next_page, pages=excluded.pages, total=excluded.total,"
        " updated_at=excluded.updated_at",
        [
            walk.query.source,
            walk.query.key,
            ",".join(walk.query.watches),
            walk.start.isoformat(),
            walk.end.isoformat(),
            0 if done else walk.next_page,
            walk.pages_total,
            walk.total,
            now,
        ],
    )
    if done:
        db.execute(
            "UPDATE sam_walks SET done_through=?, done_at=? WHERE source=? AND query=?",
            [walk.end.isoformat(), None if walk.catch_up else now, walk.query.source, walk.query.key],
        )
    elif walk.catch_up and walk.next_page:  # a slice to resume (one that read nothing is planned afresh)
        db.execute("UPDATE sam_walks SET done_at=NULL WHERE source=? AND query=?", [walk.query.source, walk.query.key])
