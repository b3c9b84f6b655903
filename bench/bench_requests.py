"""Benchmark: requests per poll of the shipped queries.yaml (USAspending), on the real ICE/CBP captures.

    .venv/bin/python bench/bench_requests.py                   # this tree, every shipped watch
    .venv/bin/python bench/bench_requests.py --watch dhs-big-tech           # one watch only
    .venv/bin/python bench/bench_requests.py --watch dhs-big-tech --with-ueis   # its vendors given UEIs
    PYTHONPATH=/path/to/old/tree .venv/bin/python bench/bench_requests.py   # another commit, to compare

``--with-ueis`` gives each vendor of the polled watches two made-up UEIs (as `watcher vendors add`
would): they join the names in the same recipient walks, so they should cost no extra walk.

It replays the seven dated captures of watcher/seeds/ice (what USAspending served on each
day) to the shipped watch, with its own 30-day lookback, one poll per captured day, and
prints each poll's requests and pages as JSON: the first poll of an empty database, then
each day's. Only the USAspending source is polled (no recorded SAM.gov data exists).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

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

    parser = argparse.ArgumentParser()
    parser.add_argument("--watch", action="append", help="only this shipped watch (repeatable)")
    parser.add_argument("--with-ueis", action="store_true", help="give every vendor two made-up UEIs")
    args = parser.parse_args()
    root = Path(watcher.__file__).resolve().parent
    config = load_config(root.parent / "queries.yaml")
    watches = {k: w for k, w in config.watches.items() if not args.watch or k in args.watch}
    if args.with_ueis:
        from watcher.config import Evidenced

        def with_ueis(key: str, v: Any) -> Any:
            made = [Evidenced(uei=f"BENCH{key[:5].upper():X<5}{n:02d}", evidence="bench") for n in (1, 2)]
            return v.model_copy(update={"ueis": [*v.ueis, *made]})

        watches = {
            k: w.model_copy(update={"vendors": {vk: with_ueis(vk, v) for vk, v in w.vendors.items()}})
            for k, w in watches.items()
        }
    config = config.model_copy(update={"watches": watches})
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
            results = run_all(db, config, client, today=snap.day, now=f"{snap.day}T12:00:00Z", sources="usaspending")
            paths: dict[str, int] = {}
            for _, path, _ in replay.requests[before:]:
                key = path.split("/api/v2/", 1)[-1].split("/CONT_", 1)[0]
                paths[key] = paths.get(key, 0) + 1
            polls.append(
                {
                    "day": snap.day.isoformat(),
                    "status": ",".join(sorted({r.status for r in results})),
                    "requests": sum(r.requests for r in results),
                    "pages": sum(r.pages for r in results),
                    "changes": sum(r.changes for r in results),
                    "by_watch": {r.watch: {"requests": r.requests, "pages": r.pages} for r in results},
                    "by_endpoint": dict(sorted(paths.items())),
                }
            )
    print(json.dumps({"code": str(root.parent), "polls": polls}, indent=2))


if __name__ == "__main__":
    main()
