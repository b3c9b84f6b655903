"""Replay a month of SAM.gov polling under a daily request budget: what a 10-request key covers.

    .venv/bin/python bench/bench_sam_budget.py [--days 30] [--budget 10]

The fake SAM.gov server (watcher.sam_replay) serves every FY2026 ICE contract action in
seeds/ice (all rows, not only the vendors) plus the CBP vendor subset, in SAM.gov's shape,
each appearing on the day after it was signed. The shipped queries.yaml polls once a day at
06:00 UTC with its SAM.gov sources only. Reported: requests per day, queries deferred by the
budget, how many days after SAM.gov had it each watched contract action was stored, and
whether the budgeted run ends with the same actions as a run with an unlimited budget.
Prints JSON and writes bench/sam_budget_last_run.json; the figures go into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from datetime import date, timedelta
from pathlib import Path

from watcher.config import load_config
from watcher.fakes.recordings import build_awards, ice_dir, read_rows
from watcher.fakes.sam import SamReplay
from watcher.fakes.sam_recordings import all_actions
from watcher.sources.registry import run_all
from watcher.sources.sam.client import SamClient
from watcher.sources.sam.parse import parse_action
from watcher.store import open_db

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key-0000000000000000"


def simulate(days: list[date], budget: int, actions: list[dict], workdir: Path) -> dict:
    config = load_config(ROOT / "queries.yaml")
    sam_settings = config.settings.sam.model_copy(update={"daily_budget": budget, "min_interval_seconds": 0})
    watches = {
        n: w.model_copy(update={"sources": ("sam_awards", "sam_opportunities")}) for n, w in config.watches.items()
    }
    config = config.model_copy(
        update={"settings": config.settings.model_copy(update={"sam": sam_settings}), "watches": watches}
    )
    server = SamReplay(keys=[KEY], daily_quota=budget)
    os.environ["WATCHER_SAM_URL"] = server.start()
    db = open_db(workdir / f"budget{budget}.db")
    per_day, deferred = [], []
    try:
        for day in days:
            server.today = lambda day=day: day
            live = [a for a in actions if a["awardDetails"]["transactionData"]["lastModifiedDate"][:10] <= str(day)]
            server.set_data(actions=live)
            now = f"{day}T06:00:00Z"
            with SamClient(config, db, key=KEY, clock=lambda now=now: now) as sam:
                results = run_all(db, config, None, sam=sam, today=day, now=now)  # type: ignore[arg-type]
            per_day.append(server.used(day))
            deferred.append(sum(w.count("deferred") for r in results for w in r.warnings))
        first_seen = {
            k: s[:10]
            for k, s in db.execute("SELECT entity_key, first_seen_at FROM provenance WHERE source='sam_awards'")
        }
        modified = {(act := parse_action(a)).id.transaction_key: act.last_modified for a in actions}
        delays = [
            (date.fromisoformat(first_seen[k]) - date.fromisoformat(modified[k])).days
            for k in first_seen
            if k in modified and modified[k] and modified[k] >= str(days[0])
        ]
        stored = {k for (k,) in db.execute("SELECT transaction_key FROM transactions")}
        return {
            "requests_per_day": per_day,
            "max_requests_in_a_day": max(per_day),
            "http_429": sum(1 for r in server.requests if r.status == 429),
            "queries_deferred_per_day": deferred,
            "watched_actions_stored": len(stored),
            "delay_days": {
                "median": statistics.median(delays) if delays else None,
                "max": max(delays) if delays else None,
                "share_same_day": round(sum(1 for d in delays if d == 0) / len(delays), 3) if delays else None,
            },
            "stored": stored,
        }
    finally:
        server.stop()
        db.conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--budget", type=int, default=10)
    args = parser.parse_args()
    base = ice_dir(ROOT / "watcher" / "seeds")
    rows = read_rows(
        [
            base / "snapshots_fy2026" / "FY2026__ICE_all_rows__commit15b1aa27__2026-08-22.csv",
            base / "CBP_ICE_FY2026_Contract_Obligations__vendor_subset__commit15b1aa27.csv",
        ]
    )
    actions = all_actions(build_awards(rows))
    last = date(2026, 8, 21)
    days = [last - timedelta(days=args.days - 1 - i) for i in range(args.days)]
    window = [a for a in actions if str(days[0]) <= a["awardDetails"]["transactionData"]["lastModifiedDate"][:10]]
    with tempfile.TemporaryDirectory() as tmp:
        budgeted = simulate(days, args.budget, actions, Path(tmp))
        unlimited = simulate(days, 1000, actions, Path(tmp))
    out = {
        "days": f"{days[0]}..{days[-1]}",
        "actions_served_in_period": len(window),
        "budget": args.budget,
        "budgeted": {k: v for k, v in budgeted.items() if k != "stored"},
        "unlimited": {k: v for k, v in unlimited.items() if k != "stored"},
        "same_actions_as_unlimited": budgeted["stored"] == unlimited["stored"],
        "missing_vs_unlimited": len(unlimited["stored"] - budgeted["stored"]),
    }
    text = json.dumps(out, indent=2)
    print(text)
    (ROOT / "bench" / "sam_budget_last_run.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
