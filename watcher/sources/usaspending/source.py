"""USAspending as a :class:`~watcher.sources.Source`: what it says it will do, and one run per watch.

The per-watch run is :func:`watcher.sources.usaspending.poll.run_watch`; this is the
registry's view of it (``watcher check`` prints ``describe``, polls call ``poll``).
"""

from __future__ import annotations

from sqlite_utils import Database

from watcher import stopping
from watcher.config import Config
from watcher.models import SourceName
from watcher.sources import Clients, PollRequest, RunResult
from watcher.sources.usaspending import api as usaspending
from watcher.sources.usaspending import subawards, vehicles
from watcher.sources.usaspending.poll import run_watch


class UsaspendingSource:
    """USAspending as a :class:`~watcher.sources.Source`: one run per watch, each watch walked in turn."""

    names: tuple[SourceName, ...] = (SourceName.USASPENDING,)

    def describe(self, config: Config) -> list[str]:
        return [
            f"  {w.name}: usaspending: {len(usaspending.plan(w))} search walks per poll"
            f", {len(usaspending.transaction_plan(w))} of the transaction index, {subawards.describe(w)},"
            f" {len(vehicles.vehicle_ids(w))} contract vehicles' order lists, lookback {w.lookback_days} days"
            for w in config.watches.values()
            if SourceName.USASPENDING in w.sources
        ]

    def poll(self, db: Database, config: Config, clients: Clients, request: PollRequest) -> list[RunResult]:
        if request.only not in (None, SourceName.USASPENDING):
            return []
        results = []
        for name, watch in config.watches.items():
            if request.watch_names and name not in request.watch_names:
                continue
            if stopping.requested():
                break
            if SourceName.USASPENDING in watch.sources:
                results.append(
                    run_watch(
                        db,
                        config,
                        watch,
                        clients.usaspending,
                        today=request.today,
                        now=request.now,
                        fetch_details=request.fetch_details,
                    )
                )
        return results


SOURCE = UsaspendingSource()
