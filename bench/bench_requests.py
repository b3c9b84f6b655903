"""Benchmark: requests per poll of the shipped queries.yaml (USAspending), on the real ICE/CBP captures.

    .venv/bin/python bench/bench_requests.py                   # this tree
    PYTHONPATH=/path/to/old/tree .venv/bin/python bench/bench_requests.py   # another commit, to compare

It replays the seven dated captures of watcher/seeds/ice (what USAspending served on each
day) to the shipped watch, with its own 30-day lookback, one poll per captured day, and
prints each poll's requests and pages as JSON: the first poll of an empty database, then
each day's. Only the USAspending source is polled (no recorded SAM.gov data exists).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

if "PYTHONPATH" not in os.environ:  # this tree, unless another is named
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watcher import jobs
from watcher.config import load_config
from watcher.fakes.recordings import agency_names, dataset, snapshots
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.http import ApiClient
from watcher.sources.registry import run_all


def main() -> None:
    import watcher

    root = Path(watcher.__file__).resolve().parent
    config = load_config(root.parent / "queries.yaml")
    seeds = root / "seeds"
    replay = UsaspendingReplay()
    replay.extra_agencies = agency_names(config.agencies.values())
    polls = []
    with tempfile.TemporaryDirectory() as tmp, replay as url, ApiClient(url, min_interval=0) as client:
        db = jobs.open_db(config, Path(tmp) / "w.db")
        for snap in snapshots(seeds):
            replay.set_awards(dataset(seeds, snap))
            if hasattr(replay, "set_subawards"):  # the demo's synthesized subaward reports (none in older trees)
                from watcher.fakes.demo_subawards import subawards_on

                replay.set_subawards(subawards_on(snap.day, list(replay.awards.values())))
            before = len(replay.requests)
            (result,) = run_all(db, config, client, today=snap.day, now=f"{snap.day}T12:00:00Z", sources="usaspending")
            paths: dict[str, int] = {}
            for _, path, _ in replay.requests[before:]:
                key = path.split("/api/v2/", 1)[-1].split("/CONT_", 1)[0]
                paths[key] = paths.get(key, 0) + 1
            polls.append(
                {
                    "day": snap.day.isoformat(),
                    "status": result.status,
                    "requests": result.requests,
                    "pages": result.pages,
                    "changes": result.changes,
                    "by_endpoint": dict(sorted(paths.items())),
                }
            )
    print(json.dumps({"code": str(root.parent), "polls": polls}, indent=2))


if __name__ == "__main__":
    main()
