"""Sources: the public APIs the watcher reads, behind one small protocol.

Each source family (``usaspending``, ``sam``) turns API pages into normalized records,
matches and diffs them against the store, and saves each page through
``store.save_page``. What differs between them stays in their own package: USAspending
is walked per watch; SAM.gov is planned across watches against its daily request budget.
``registry.SOURCES`` lists them; ``registry.run_all`` polls them all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from sqlite_utils import Database

from watcher import store

if TYPE_CHECKING:
    from watcher.config import Config
    from watcher.http import ApiClient
    from watcher.models import SourceName


@dataclass(frozen=True, eq=False)
class Raw:
    """One API response exactly as received, kept as the provenance of what it contained."""

    method: str
    path: str
    request: dict[str, Any] | None
    content: bytes


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
    warnings: list[str] = field(default_factory=list)


def record_result(db: Database, r: RunResult, started: float, finished: str | None = None) -> None:
    """Write a run's outcome into its ``runs`` row (``started``: its time.monotonic() start)."""
    store.finish_run(
        db,
        r.run_id,
        r.status,
        requests=r.requests,
        pages=r.pages,
        records=r.records,
        changes=r.changes,
        error=r.error,
        warnings="\n".join(r.warnings) or None,
        duration=round(time.monotonic() - started, 3),
        finished=finished,
    )


@dataclass(frozen=True)
class PollRequest:
    """What one poll asks of every source: which watches, which source, and (for replays) what day it is."""

    watch_names: list[str] | None = None
    only: str | None = None  # one source name, or every source
    today: date | None = None  # sets lookback windows; default: the clock
    now: str | None = None  # the recorded timestamps; default: the clock
    fetch_details: bool = True  # USAspending: fetch each new or changed award's detail and transactions


@dataclass
class Clients:
    """The HTTP clients a poll uses; ``sam`` is None when no SAM.gov key is set (its sources are then skipped)."""

    usaspending: ApiClient
    sam: Any = None  # sources.sam.client.SamClient


class Source(Protocol):
    """One source family: the source names it serves, what it will ask (no network), and one poll."""

    @property
    def names(self) -> tuple[SourceName, ...]:
        """The ``sources:`` values (and ``runs.source`` names) this family serves."""
        ...

    def describe(self, config: Config) -> list[str]:
        """Lines for ``watcher check``: the requests a poll makes, without making any."""
        ...

    def poll(self, db: Database, config: Config, clients: Clients, request: PollRequest) -> list[RunResult]:
        """Poll every selected watch; a failure is recorded in ``runs`` and returned, never raised."""
        ...
