"""Run the replay USAspending server with N generated awards in its own process (for the benchmark).

Prints its URL on stdout, then serves until stdin closes.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import generate
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.sources.usaspending.parse import SEARCH_FIELDS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--awards", type=int, required=True)
    parser.add_argument("--today", default=date.today().isoformat())
    args = parser.parse_args()
    replay = UsaspendingReplay(generate(args.awards, date.fromisoformat(args.today)))
    replay.log_bodies = False
    replay.extra_agencies = {("Department of Homeland Security", "U.S. Immigration and Customs Enforcement", "7012")}
    # Encode the rows up front: the benchmark measures the watcher, not the fake server's JSON encoder.
    for group, fields in SEARCH_FIELDS.items():
        replay.prewarm(group, fields)
    url = replay.start()
    print(url, flush=True)
    for line in sys.stdin:  # commands from the benchmark
        if line.strip() == "count":
            print(len(replay.requests), flush=True)
    replay.stop()


if __name__ == "__main__":
    main()
