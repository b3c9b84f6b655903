"""Soak test: `watcher daemon` for N seconds on a fast schedule against the replay API; memory, overlap, status.

    .venv/bin/python bench/soak_daemon.py [--seconds 600]

The replay server serves the real ICE/CBP captures (seeds/ice), moving to the next dated
capture every minute so polls keep finding changes; digests go to an outbox folder.
Prints JSON (and writes bench/soak_last_run.json): the daemon's RSS over time, job counts,
whether two runs ever overlapped, and what `watcher status` said at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from watcher.config import AgencySeeds
from watcher.fakes.recordings import agency_names, dataset, snapshots
from watcher.fakes.usaspending import UsaspendingReplay

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """\
settings:
  seeds_dir: {seeds}
  usaspending:
    min_interval_seconds: 0
  schedule:
    poll: "*/5 * * * * *"
    site: "*/7 * * * * *"
    site_full: "0 * * * * *"
    digest: "*/3 * * * * *"
    site_dir: {site}
  email:
    outbox: {outbox}
watches:
  dhs-big-tech:
    agencies: [ice, cbp, uscis, dhs_hq]
    vendors: [amazon, palantir, microsoft]
    lookback_days: 2200
subscribers:
  desk:
    email: desk@example.org
    cadence: instant
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=600)
    args = ap.parse_args()
    import yaml

    seeds = ROOT / "watcher" / "seeds"
    agencies = AgencySeeds.model_validate(yaml.safe_load((seeds / "agencies.yaml").read_text())).agencies
    snaps = snapshots(seeds)
    replay = UsaspendingReplay()
    replay.log_bodies = False
    replay.extra_agencies = agency_names(agencies.values())
    with tempfile.TemporaryDirectory() as tmp, replay as url:
        work = Path(tmp)
        config = work / "queries.yaml"
        config.write_text(CONFIG.format(seeds=seeds, site=work / "site", outbox=work / "outbox"))
        db = work / "w.db"
        replay.set_awards(dataset(seeds, snaps[0]))
        env = {**os.environ, "WATCHER_USASPENDING_URL": url}
        log = (work / "daemon.log").open("w")
        cmd = [sys.executable, "-m", "watcher", "-v", "--config", str(config), "--db", str(db), "daemon"]
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        samples = []
        started = time.monotonic()
        snap = itertools.cycle(snaps[1:])
        next_snap = 60.0
        while (elapsed := time.monotonic() - started) < args.seconds:
            samples.append((round(elapsed), round(rss_mb(proc.pid), 1)))
            if elapsed >= next_snap:
                replay.set_awards(dataset(seeds, next(snap)))
                next_snap += 60
            time.sleep(10)
        status = subprocess.run([*cmd[:-1], "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
        t = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        stop_seconds = time.monotonic() - t
        log.close()
        with sqlite3.connect(db) as conn:
            runs = conn.execute("SELECT started_at, finished_at, status FROM runs ORDER BY id").fetchall()
            changes = conn.execute("SELECT count(*) FROM changes").fetchone()[0]
            sent = conn.execute("SELECT count(*) FROM deliveries WHERE status IN ('sent', 'written')").fetchone()[0]
        text = (work / "daemon.log").read_text()
        rss = [m for _, m in samples]
        result = {
            "seconds": args.seconds,
            "rss_mb_first_minute": max(rss[:6]),
            "rss_mb_last_minute": max(rss[-6:]),
            "rss_mb_max": max(rss),
            "rss_samples": samples,
            "poll_runs": len(runs),
            "poll_runs_ok": sum(1 for r in runs if r[2] == "ok"),
            "overlapping_runs": sum(1 for a, b in itertools.pairwise(runs) if a[1] > b[0]),
            "changes": changes,
            "digests_written": sent,
            "site_builds": text.count("daemon: site done") + text.count("daemon: site_full done"),
            "job_failures": text.count(" failed: "),
            "sigterm_exit_code": code,
            "sigterm_seconds": round(stop_seconds, 2),
            "status_runs": json.loads(status.stdout)["runs"] if status.returncode == 0 else status.stderr,
            "status_next_runs": json.loads(status.stdout).get("next_runs") if status.returncode == 0 else None,
        }
    print(json.dumps({k: v for k, v in result.items() if k != "rss_samples"}, indent=2, default=str))
    (ROOT / "bench" / "soak_last_run.json").write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
