"""Benchmark ``watcher backfill``: requests and time for N awards, against one request per award when polled.

    .venv/bin/python bench/bench_backfill.py [--awards 100000]

The fake USAspending (in this process; it answers from caches) serves N generated ICE awards
(bench/generate.py: real descriptions from seeds/ice, half bought from the vendors, half
through resellers with a product mention, 1-3 actions each). A backfill of the month they fall
in is run against it; a poll of the same awards would send one ``/api/v2/transactions/`` and
one detail request per award, plus the search pages. Prints JSON and writes
bench/backfill_last_run.json; the figures go into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from bench.bench_ingest import CONFIG  # the same watch: ICE, awarding, the three vendors, contracts
    from bench.generate import generate
    from watcher.config import load_config
    from watcher.fakes.recordings import agency_names
    from watcher.fakes.usaspending import UsaspendingReplay
    from watcher.http import ApiClient
    from watcher.sources.usaspending.backfill import run_backfill
    from watcher.store import open_db

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--awards", type=int, default=100_000)
    args = parser.parse_args()
    today = date(2026, 8, 22)
    awards = generate(args.awards, today)
    actions = sum(len(a.transactions) for a in awards)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "queries.yaml"
        cfg.write_text(CONFIG.format(seeds=ROOT / "watcher" / "seeds"))
        config = load_config(cfg)
        replay = UsaspendingReplay(awards)
        replay.log_bodies = False
        replay.extra_agencies = agency_names(config.agencies.values())
        with replay as url, ApiClient(url, min_interval=0) as client:
            db = open_db(Path(tmp) / "w.db")
            started = time.monotonic()
            (result,) = run_backfill(db, config, client, today - timedelta(days=30), today, now=f"{today}T12:00:00Z")
            seconds = time.monotonic() - started
        by_path = Counter(path for _, path, _ in replay.requests)
        conn = sqlite3.connect(Path(tmp) / "w.db")
        stored_awards, stored_txs = conn.execute(
            "SELECT (SELECT count(*) FROM awards), (SELECT count(*) FROM transactions)"
        ).fetchone()
    search_pages = by_path["/api/v2/search/spending_by_award/"]
    out = {
        "awards_served": args.awards,
        "actions_served": actions,
        "backfill": {
            "requests": result.requests,
            "by_endpoint": dict(by_path),
            "seconds": round(seconds, 1),
            "awards_stored": stored_awards,
            "actions_stored": stored_txs,
            "errors": result.errors,
        },
        "polling_the_same_awards": {
            "requests": search_pages + 2 * stored_awards,
            "how": "the same search pages, plus /api/v2/transactions/ and the award detail per award",
        },
    }
    text = json.dumps(out, indent=2)
    print(text)
    (ROOT / "bench" / "backfill_last_run.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
