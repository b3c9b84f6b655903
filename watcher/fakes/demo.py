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
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlite_utils import Database

from watcher import jobs
from watcher.config import Config, default_seeds_dir
from watcher.digest.deliveries import run_digests
from watcher.errors import ConfigError
from watcher.fakes.demo_dates import DATES, with_dates
from watcher.fakes.demo_subawards import subawards_on
from watcher.fakes.recordings import agency_names, dataset, snapshots
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.http import ApiClient
from watcher.ops.lock import writer_lock
from watcher.site import build as site_build
from watcher.sources import RunResult
from watcher.sources.registry import run_all
from watcher.values import parse_utc

log = logging.getLogger(__name__)
#: The recordings start in FY2021; a lookback this long lets the first replayed poll see them all.
DEMO_LOOKBACK_DAYS = 2200
#: The site is built as of the last replayed day, so its "data as of" lines match the recordings.
DEMO_NOW = "2026-08-22T12:00:00Z"


@dataclass
class DemoReport:
    """What the demo made: a run per replayed day and watch, the database, the outbox and the site."""

    results: list[RunResult]
    db: Database
    db_path: Path
    outbox: Path
    site_dir: Path
    site: site_build.BuildResult

    @property
    def failed(self) -> bool:
        return any(r.status != "ok" for r in self.results)

    def epilogue(self, status: str) -> str:
        """What the command prints at the end: the site, the status report, and how to explore it all."""
        db_path = self.db_path
        return (
            f"\nsite: {self.site.files} files in {self.site_dir} ({self.site.seconds:.1f} s)\n\n{status}\n"
            f'\nExplore it:  sqlite3 {db_path} "SELECT kind, entity_key, diff FROM changes ORDER BY id DESC LIMIT 10"'
            f"\n             watcher --db {db_path} status"
            f"\n             ls {self.outbox}   (the digests, as .eml files; open one in a mail client)"
            f"\n             python3 -m http.server --directory {self.site_dir} 8000   (the site: http://127.0.0.1:8000/)"
        )


def demo(config: Config, db_path: Path, echo: Callable[[str], None] = print, *, replace: bool = True) -> DemoReport:
    """The whole demo into a fresh ``db_path``: replayed polls, the day's digests in ``demo-outbox``, ``demo-site``.

    An existing database there is replaced only with ``replace`` (``--replace``, or the default
    ./demo.db); otherwise it is an error, never overwritten. The outbox's old digests are removed.
    """
    if db_path.exists():
        if not replace:
            raise ConfigError(f"{db_path} exists; the demo writes a fresh database (pass --replace to overwrite it)")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    outbox = db_path.parent / "demo-outbox"
    for old in outbox.glob("*.eml"):  # the previous demo's digests
        old.unlink()
    seeds = Path(config.settings.seeds_dir) if config.settings.seeds_dir else default_seeds_dir()
    if not (seeds / "ice").exists():
        seeds = default_seeds_dir()
    with writer_lock(db_path):
        db = jobs.open_db(config, db_path)
        results = run_demo(db, config, seeds, echo=echo, outbox=outbox)
    site_dir = db_path.parent / "demo-site"
    if site_dir.exists() and not site_dir.is_symlink():
        raise ConfigError(f"{site_dir} exists and was not made by watcher; remove it to let the demo build its site")
    built = site_build.build(db, config, site_dir, now=DEMO_NOW, full=True)
    return DemoReport(results, db, db_path, outbox, site_dir, built)


def run_demo(
    db: Database,
    config: Config,
    seeds: Path,
    echo: Callable[[str], None] = print,
    outbox: Path | None = None,
    days: Collection[date] | None = None,
) -> list[RunResult]:
    """Poll each dated capture in turn; after each, write the digests due that day into ``outbox``.

    ``days``: replay only the captures of these days (tests replay a day, send digests, replay the next).
    """
    # No recorded SAM.gov response for a DHS award exists (docs/api/sam.md 8): the demo replays USAspending only.
    watches = {
        name: w.model_copy(
            update={"lookback_days": max(w.lookback_days, DEMO_LOOKBACK_DAYS), "sources": ("usaspending",)}
        )
        for name, w in config.watches.items()
    }
    # The digests show the calendar ahead ("Coming up in the next 90 days") unless the config says otherwise.
    subscribers = {
        name: s if s.lookahead_days else s.model_copy(update={"lookahead_days": 90})
        for name, s in config.subscribers.items()
    }
    config = config.model_copy(update={"watches": watches, "subscribers": subscribers})
    settings = config.settings.usaspending
    results: list[RunResult] = []
    echo(
        f"note: the recordings carry no end dates; {len(DATES)} awards get SYNTHESIZED ones"
        " (watcher/fakes/demo_dates.py)"
    )
    replay = UsaspendingReplay()
    replay.log_bodies = False
    replay.extra_agencies = agency_names(config.agencies.values())
    with (
        replay as url,
        ApiClient(url, timeout=settings.timeout_seconds, attempts=settings.attempts, min_interval=0) as client,
    ):
        for snap in [s for s in snapshots(seeds) if days is None or s.day in days]:
            replay.set_awards(with_dates(dataset(seeds, snap)))  # SYNTHESIZED end dates: see demo_dates
            replay.set_subawards(subawards_on(snap.day, list(replay.awards.values())))  # SYNTHESIZED: see the module
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
