"""Benchmark: ingest of 10k and 100k awards through the replay server, an unchanged re-poll,
peak memory, requests per poll, and the plain-sqlite3 ``executemany`` limit for comparison.

    .venv/bin/python bench/bench_ingest.py            # 10k and 100k, 3 runs each (median), JSON on stdout
    .venv/bin/python bench/bench_ingest.py --sizes 10000 --repeat 1

The fake API runs in its own process (bench/server.py), so the memory figure is the
watcher's alone. Transactions and award details are fetched per new or changed award in
normal polls; the ingest figures here are for the search pipeline alone
(``fetch_details=False``), and the per-award enrichment cost is measured separately.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIG = """\
settings:
  seeds_dir: {seeds}
  usaspending: {{page_size: 100, min_interval_seconds: 0}}
watches:
  bench:
    agencies: [ice]
    agency_roles: [awarding]
    vendors: [amazon, palantir, microsoft]
    award_types: [contracts]
    lookback_days: 30
"""


def worker(url: str, workdir: Path, enrich: bool) -> dict[str, object]:
    from watcher.config import load_config
    from watcher.http import ApiClient
    from watcher.sources.registry import run_all
    from watcher.store import open_db
    from watcher.store.migrations import AWARD_COLUMNS

    cfg_path = workdir / "queries.yaml"
    cfg_path.write_text(CONFIG.format(seeds=ROOT / "watcher" / "seeds"))
    config = load_config(cfg_path)
    db = open_db(workdir / "bench.db")
    out: dict[str, object] = {}
    with ApiClient(url, min_interval=0, timeout=120) as client:
        t0 = time.perf_counter()
        (first,) = run_all(db, config, client, fetch_details=enrich)
        t1 = time.perf_counter()
        assert first.status == "ok", first.error
        awards = db.table("awards").count
        out["ingest"] = {
            "awards": awards,
            "pages": first.pages,
            "requests": first.requests,
            "seconds": round(t1 - t0, 2),
            "awards_per_second": round(awards / (t1 - t0)),
            "changes": first.changes,
        }
        if enrich:
            return out
        before = db.conn.total_changes
        t2 = time.perf_counter()
        (second,) = run_all(db, config, client, fetch_details=enrich)
        t3 = time.perf_counter()
        written = db.conn.total_changes - before
        out["repoll"] = {
            "seconds": round(t3 - t2, 2),
            "pages": second.pages,
            "requests": second.requests,
            "changes": second.changes,
            "rows_written": written,
            "speedup": round((t1 - t0) / (t3 - t2), 2),
        }
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    # The limit: the same award rows inserted with plain sqlite3 executemany into a fresh table.
    rows = [tuple(r) for r in db.execute(f"SELECT {', '.join(AWARD_COLUMNS)} FROM awards")]
    base = sqlite3.connect(workdir / "baseline.db")
    base.execute("PRAGMA journal_mode=WAL")
    base.execute(f"CREATE TABLE awards ({', '.join(AWARD_COLUMNS)}, PRIMARY KEY (award_key))")
    t4 = time.perf_counter()
    with base:
        base.executemany(f"INSERT INTO awards VALUES ({', '.join('?' * len(AWARD_COLUMNS))})", rows)
    t5 = time.perf_counter()
    rate = len(rows) / (t5 - t4)
    out["executemany"] = {"rows": len(rows), "seconds": round(t5 - t4, 3), "rows_per_second": round(rate)}
    out["ratio_to_executemany"] = round(int(out["ingest"]["awards_per_second"]) / rate, 4)  # type: ignore[index]
    return out


def run_size(n: int, enrich: bool = False) -> dict[str, object]:
    # One core each (this machine has two): the fake API never competes with the watcher for CPU,
    # which makes the figures repeatable.
    pin = hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "server.py"), "--awards", str(n), "--today", date.today().isoformat()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, {1})) if pin else None,
    )
    try:
        url = server.stdout.readline().strip()  # type: ignore[union-attr]
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the fake server did not start (exit {server.poll()})")
        with tempfile.TemporaryDirectory() as tmp:
            args = [sys.executable, __file__, "--worker", url, "--workdir", tmp] + (["--enrich"] if enrich else [])
            result = subprocess.run(
                args,
                capture_output=True,
                text=True,
                check=True,
                preexec_fn=(lambda: os.sched_setaffinity(0, {0})) if pin else None,
            )
            data = json.loads(result.stdout)
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=30)
    data["generated_awards"] = n
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--enrich-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the median is reported")
    parser.add_argument("--worker")
    parser.add_argument("--workdir")
    parser.add_argument("--enrich", action="store_true")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.workdir), args.enrich)))
        return
    report: dict[str, object] = {"sizes": []}
    for n in args.sizes.split(","):
        runs = sorted((run_size(int(n)) for _ in range(args.repeat)), key=lambda r: r["ingest"]["awards_per_second"])
        median = runs[len(runs) // 2]
        median["all_runs_awards_per_second"] = [r["ingest"]["awards_per_second"] for r in runs]
        median["all_runs_repoll_speedup"] = [r["repoll"]["speedup"] for r in runs]
        median["all_runs_peak_rss_mb"] = [r["peak_rss_mb"] for r in runs]
        report["sizes"].append(median)  # type: ignore[attr-defined]
    if args.enrich_size:
        report["enrichment"] = run_size(args.enrich_size, enrich=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
