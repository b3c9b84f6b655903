"""Every source the watcher polls, in the order a poll runs them, and the poll across all of them."""

from __future__ import annotations

from datetime import date

from sqlite_utils import Database

from watcher import stopping, store
from watcher.config import Config
from watcher.http import ApiClient
from watcher.sources import Clients, PollRequest, RunResult, Source
from watcher.sources.sam import poll as sam_poll
from watcher.sources.usaspending import source as usaspending_source

#: Source families by name; USAspending first, so SAM.gov's merge sees this poll's USAspending records.
SOURCES: dict[str, Source] = {"usaspending": usaspending_source.SOURCE, "sam": sam_poll.SOURCE}


def describe(config: Config) -> list[str]:
    """What a poll will ask each source, for ``watcher check`` (no network)."""
    return [line for source in SOURCES.values() for line in source.describe(config)]


def poll(db: Database, config: Config, clients: Clients, request: PollRequest) -> list[RunResult]:
    """Every selected watch on every source; one failing watch or source never stops the others."""
    store.mark_interrupted_runs(db)
    results: list[RunResult] = []
    for source in SOURCES.values():
        if stopping.requested():
            break
        results += source.poll(db, config, clients, request)
    with store.write_transaction(db):  # each record keeps its latest raw versions; older answers go
        store.prune(db, config.settings.raw_versions_kept)
    return results


def run_all(
    db: Database,
    config: Config,
    client: ApiClient,
    *,
    watch_names: list[str] | None = None,
    today: date | None = None,
    now: str | None = None,
    fetch_details: bool = True,
    sam: object = None,
    sources: str | None = None,
) -> list[RunResult]:
    """:func:`poll` with keyword arguments (the demo, the tests and the benches replay days through it)."""
    request = PollRequest(watch_names=watch_names, only=sources, today=today, now=now, fetch_details=fetch_details)
    return poll(db, config, Clients(client, sam), request)
