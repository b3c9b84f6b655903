"""Benchmark ``watcher site``: a full build for N awards and M changes, then incremental builds after 10 changes.

    .venv/bin/python bench/bench_site.py [--awards 100000] [--changes 500000]

The database is written directly (the schema the code creates; texts drawn from the real
ICE/CBP records in seeds/ice; three contract actions per award). Prints JSON and writes
bench/site_last_run.json; the figures go into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from watcher import store
from watcher.config import load_config
from watcher.fakes.recordings import history_files, read_rows
from watcher.site import build as site_mod
from watcher.store.migrations import AWARD_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
AGENCIES = [
    "U.S. Immigration and Customs Enforcement",
    "U.S. Customs and Border Protection",
    "Office of Procurement Operations",
]
RECIPIENTS = {
    "palantir": ["PALANTIR TECHNOLOGIES INC.", "PALANTIR USG, INC."],
    "microsoft": ["MICROSOFT CORPORATION", "DELL FEDERAL SYSTEMS L.P", "CARAHSOFT TECHNOLOGY CORP"],
    "amazon": ["AMAZON WEB SERVICES, INC.", "FOUR POINTS TECHNOLOGY, L.L.C.", "THUNDERCAT TECHNOLOGY, LLC"],
}


def make_db(path: Path, n_awards: int, n_changes: int, seed: int = 11, n_notices: int = 0) -> None:
    rng = random.Random(seed)
    descriptions = [
        r["Transaction Description"]
        for r in read_rows(history_files(ROOT / "watcher" / "seeds"))
        if r["Transaction Description"]
    ]
    db = store.open_db(path)
    conn: sqlite3.Connection = db.conn
    conn.execute("BEGIN")
    run = conn.execute(
        "INSERT INTO runs (started_at, finished_at, watch, source, status, requests, pages, records, changes)"
        " VALUES ('2026-08-22T12:00:00Z', '2026-08-22T12:05:00Z', 'dhs-big-tech', 'usaspending', 'ok', 1, 1, 1, 1)"
    ).lastrowid
    awards, txs, matches, changes = [], [], [], []
    keys = []
    for i in range(n_awards):
        vendor = rng.choice(list(RECIPIENTS))
        recipient = rng.choice(RECIPIENTS[vendor])
        agency = rng.choice(AGENCIES)
        piid = f"70CTD0{i:011d}"
        key = f"CONT_AWD_{piid}_7012_GS35F0086U_4730"
        keys.append(key)
        total = round(rng.uniform(1_000, 50_000_000), 2)
        row = dict.fromkeys(AWARD_COLUMNS)
        row.update(
            award_key=key, piid=piid, category="contract", award_type="DELIVERY ORDER", recipient_name=recipient,
            awarding_agency="Department of Homeland Security", awarding_subagency=agency,
            funding_agency="Department of Homeland Security", funding_subagency=agency,
            description=rng.choice(descriptions), total_obligation=total, start_date="2024-01-15",
            end_date="2027-01-14", last_modified_date="2026-08-01",
            source_url=f"https://www.usaspending.gov/award/{key}",
        )  # fmt: skip
        awards.append([row[c] for c in AWARD_COLUMNS] + ["2026-03-24T12:00:00Z", "2026-08-22T12:00:00Z"])
        for m in range(3):
            txs.append(
                (f"CONT_TX_{piid}_P{m:05d}", key, f"P{m:05d}", f"202{4 + m % 3}-0{1 + m}-15", round(total / 3, 2),
                 rng.choice(descriptions), "2026-03-24T12:00:00Z", "2026-08-22T12:00:00Z")
            )  # fmt: skip
        reason = "recipient" if recipient.startswith(("PALANTIR", "MICROSOFT", "AMAZON")) else "mention"
        matches.append(("dhs-big-tech", key, vendor, reason, f"{reason} {recipient}", "2026-03-24T12:00:00Z"))
        changes.append((run, "2026-03-24T12:00:00Z", "new_award", key, key, "{}", total, "usaspending"))
    for j in range(n_changes - n_awards):
        key = keys[rng.randrange(n_awards)]
        day = f"2026-{4 + j % 5:02d}-{1 + j % 28:02d}T12:00:00Z"
        if j % 2:
            old, new = round(rng.uniform(1, 9e6), 2), round(rng.uniform(1, 9e6), 2)
            diff = json.dumps({"total_obligation": [f"{old:.2f}", f"{new:.2f}"]})
            changes.append((run, day, "award_changed", key, key, diff, round(new - old, 2), "usaspending"))
        else:
            tx = f"CONT_TX_{key[9:26]}_P{j % 3:05d}"
            changes.append((run, day, "new_transaction", tx, key, "{}", 1000.0, "usaspending"))
    marks = ",".join("?" * (len(AWARD_COLUMNS) + 2))
    cols = ",".join([*AWARD_COLUMNS, "first_seen_at", "last_seen_at"])
    conn.executemany(f"INSERT INTO awards ({cols}) VALUES ({marks})", awards)
    conn.executemany(
        "INSERT INTO transactions (transaction_key, award_key, modification_number, action_date, obligation,"
        " description, first_seen_at, last_seen_at) VALUES (?,?,?,?,?,?,?,?)",
        txs,
    )
    conn.executemany("INSERT INTO matches VALUES (?,?,?,?,?,?)", matches)
    changes.sort(key=lambda c: c[1])
    conn.executemany(
        "INSERT INTO changes (run_id, detected_at, kind, entity_key, award_key, diff, amount_delta, source)"
        " VALUES (?,?,?,?,?,?,?,?)",
        changes,
    )
    notices(conn, keys, n_notices, rng)
    conn.execute("COMMIT")
    store.index_awards_fts(db)
    db.conn.close()


def notices(conn: sqlite3.Connection, keys: list[str], n: int, rng: random.Random) -> None:
    """SAM.gov notices at the watched offices, a quarter of them award notices linked to an award; each gets a page."""
    path = "HOMELAND SECURITY, DEPARTMENT OF.US IMMIGRATION AND CUSTOMS ENFORCEMENT.ICE-CONTRACTING"
    for i in range(n):
        nid = f"{i:032x}"
        vendor = rng.choice(list(RECIPIENTS))
        award = keys[rng.randrange(len(keys))] if i % 4 == 0 and keys else None
        conn.execute(
            "INSERT INTO notices (notice_id, type, title, solicitation_number, agency_path, agency_code, posted_date,"
            " award_number, award_amount, awardee_name, award_key, first_seen_at, last_seen_at)"
            " VALUES (?, ?, ?, ?, ?, '070.7012.70CDCT', '2026-08-01', ?, ?, ?, ?, ?, ?)",
            [nid, "Award Notice" if award else "Sources Sought", f"{vendor.upper()} SOFTWARE SUPPORT {i}",
             f"70CDCT26R{i:08d}", path, award and award[9:26], 1000.0 if award else None,
             RECIPIENTS[vendor][0] if award else None, award, "2026-08-01T12:00:00Z", "2026-08-01T12:00:00Z"],
        )  # fmt: skip
        conn.execute(
            "INSERT INTO matches VALUES ('dhs-big-tech', ?, ?, 'mention', 'mentions it', '2026-08-01T12:00:00Z')",
            [nid, vendor],
        )
        conn.execute(
            "INSERT INTO changes (run_id, detected_at, kind, entity_key, award_key, diff, amount_delta, source)"
            " VALUES (1, '2026-08-01T12:00:00Z', 'new_notice', ?, ?, '{}', NULL, 'sam_opportunities')",
            [nid, award],
        )


def touch(path: Path, n: int, round_: int) -> None:
    conn = sqlite3.connect(path)
    keys = [r[0] for r in conn.execute("SELECT award_key FROM awards ORDER BY random() LIMIT ?", [n])]
    with conn:
        for key in keys:
            conn.execute("UPDATE awards SET total_obligation = total_obligation + 1000 WHERE award_key = ?", [key])
            conn.execute(
                "INSERT INTO changes (run_id, detected_at, kind, entity_key, award_key, diff, amount_delta, source)"
                ' VALUES (1, ?, \'award_changed\', ?, ?, \'{"total_obligation": ["1.00", "1001.00"]}\', 1000,'
                " 'usaspending')",
                [f"2026-08-{23 + round_}T12:00:00Z", key, key],
            )
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--awards", type=int, default=100_000)
    ap.add_argument("--changes", type=int, default=500_000)
    ap.add_argument("--notices", type=int, default=2_000, help="SAM.gov notices (each gets a page)")
    args = ap.parse_args()
    config = load_config(ROOT / "queries.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        t = time.monotonic()
        make_db(path, args.awards, args.changes, n_notices=args.notices)
        generated = time.monotonic() - t
        db = store.open_db(path)
        out = Path(tmp) / "site"
        full = site_mod.build(db, config, out, now="2026-08-23T00:00:00Z", full=True)
        incremental = []
        for i in range(3):
            touch(path, 10, i)
            r = site_mod.build(db, config, out, now=f"2026-08-2{3 + i}T13:00:00Z")
            assert not r.full and len(r.touched) == 10
            incremental.append(r.seconds)
        size = sum(p.stat().st_size for p in out.resolve().rglob("*") if p.is_file())
        result = {
            "awards": args.awards,
            "changes": args.changes,
            "notices": args.notices,
            "generate_seconds": round(generated, 1),
            "full_build_seconds": round(full.seconds, 1),
            "full_build_files": full.files,
            "site_megabytes": round(size / 1e6),
            "incremental_10_changes_seconds": [round(s, 2) for s in incremental],
            "incremental_median_seconds": round(statistics.median(incremental), 2),
            "incremental_files": r.files,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    print(json.dumps(result, indent=2))
    (ROOT / "bench" / "site_last_run.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
