"""Benchmark the calendar ahead at scale: the coming_up view, ending_soon recording, and the Coming up page + feeds.

    .venv/bin/python bench/bench_coming_up.py [--awards 100000]

The database is bench_site's (100k watched awards, texts from the real ICE/CBP records), with
end, potential end and last order dates spread over the next four years. Prints JSON and writes
bench/coming_up_last_run.json; the figures go into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.bench_site import make_db
from watcher import store
from watcher.config import load_config
from watcher.site import coming_up as coming_page
from watcher.site.files import Writer
from watcher.site.pages import Site
from watcher.store.coming_up import record_ending_soon, upcoming
from watcher.templating import environment

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-08-22T12:00:00Z"


def spread_dates(db_path: Path, seed: int = 5) -> None:
    """Each award: an end date in the next four years; half with a later potential end; a tenth a last order date."""
    rng = random.Random(seed)
    db = store.open_db(db_path)
    today = date.fromisoformat(NOW[:10])
    rows = []
    for (key,) in db.execute("SELECT award_key FROM awards").fetchall():
        end = today + timedelta(days=rng.randrange(-365, 4 * 365))
        potential = end + timedelta(days=365 * rng.randrange(1, 4)) if rng.random() < 0.5 else end
        last_order = (end - timedelta(days=30)).isoformat() if rng.random() < 0.1 else None
        rows.append((end.isoformat(), potential.isoformat(), last_order, key))
    with db.conn:
        db.conn.execute("BEGIN")
        db.conn.executemany(
            "UPDATE awards SET end_date = ?, potential_end_date = ?, last_date_to_order = ? WHERE award_key = ?", rows
        )
    db.conn.close()


def timed(fn):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - started, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--awards", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.db"
        make_db(path, args.awards, args.awards)
        spread_dates(path)
        db = store.open_db(path)
        out: dict[str, object] = {"awards": args.awards, "now": NOW}
        (rows, _), out["view_rows_s"] = timed(lambda: (db.execute("SELECT count(*) FROM coming_up").fetchone(), 0))
        out["view_rows"] = rows[0]
        for days in (30, 90, 180):
            found, seconds = timed(lambda days=days: upcoming(db, NOW, days, ["dhs-big-tech"]))
            out[f"upcoming_{days}d"] = {"rows": len(found), "seconds": seconds}
        out["record_ending_soon"] = dict(
            zip(("added", "seconds"), timed(lambda: record_ending_soon(db, NOW)), strict=True)
        )
        out["record_ending_soon_again"] = dict(
            zip(("added", "seconds"), timed(lambda: record_ending_soon(db, NOW)), strict=True)
        )
        config = load_config(ROOT / "queries.yaml")
        site_dir = Path(tmp) / "site"
        site = Site(db, config, environment(config.templates_dir()), Writer(site_dir, atomic=True), NOW)
        _, out["page_and_feeds_s"] = timed(lambda: coming_page.write(site))
        out["files_kb"] = {p.name: p.stat().st_size // 1024 for p in sorted(site_dir.iterdir())}
    text = json.dumps(out, indent=2)
    print(text)
    (ROOT / "bench" / "coming_up_last_run.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
