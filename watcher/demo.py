"""``watcher demo``: a full offline pass over real ICE/CBP records, through the production code.

It starts the replay server on 127.0.0.1, then replays the dated captures of the
FY2026 query in order (2026-03-24 ... 2026-08-22), polling once per capture with that
day as "today", and writes the digests each subscriber would have received that day
as .eml files. The database ends with real awards, their modification histories, the
changes a live watcher would have recorded over those five months, and the ledger of
the digests that told people about them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlite_utils import Database

from .config import Config
from .deliveries import run_digests
from .http import ApiClient
from .pipeline import RunResult, run_all
from .recordings import agency_names, dataset, snapshots
from .replay import UsaspendingReplay
from .schedule import parse_utc

log = logging.getLogger(__name__)
#: The recordings start in FY2021; a lookback this long lets the first replayed poll see them all.
DEMO_LOOKBACK_DAYS = 2200


def run_demo(
    db: Database, config: Config, seeds: Path, echo: Callable[[str], None] = print, outbox: Path | None = None
) -> list[RunResult]:
    """Poll each dated capture in turn; after each, write the digests due that day into ``outbox``."""
    # No recorded SAM.gov response for a DHS award exists (shared/api/sam.md 8): the demo replays USAspending only.
    watches = {
        name: w.model_copy(
            update={"lookback_days": max(w.lookback_days, DEMO_LOOKBACK_DAYS), "sources": ("usaspending",)}
        )
        for name, w in config.watches.items()
    }
    config = config.model_copy(update={"watches": watches})
    settings = config.settings.usaspending
    results: list[RunResult] = []
    replay = UsaspendingReplay()
    replay.log_bodies = False
    replay.extra_agencies = agency_names(config.agencies.values())
    with (
        replay as url,
        ApiClient(url, timeout=settings.timeout_seconds, attempts=settings.attempts, min_interval=0) as client,
    ):
        for snap in snapshots(seeds):
            replay.set_awards(dataset(seeds, snap))
            for r in run_all(db, config, client, today=snap.day, now=f"{snap.day}T12:00:00Z"):
                results.append(r)
                kinds = ", ".join(f"{n} {k}" for k, n in sorted(r.kinds.items())) or "no changes"
                status = "ok" if r.status == "ok" else f"ERROR: {r.error}"
                echo(f"{snap.day}  {r.watch}: {r.records} awards seen, {r.requests} requests, {kinds} [{status}]")
            if outbox is not None:
                for d in run_digests(db, config, now=parse_utc(f"{snap.day}T12:00:00Z"), outbox=outbox):
                    if d.status == "written":
                        echo(f"{snap.day}  digest for {d.subscriber}: {d.subject} -> {d.detail}")
    return results
