"""What ``watcher status`` reports: the last run of every watch and source, errors, and table sizes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from watcher.ops.health import STOPPED_LIKE
from watcher.values import UNSAFE_TEXT


def report(db: Database, db_path: str | Path) -> dict[str, Any]:
    last_runs = list(
        db.query(
            """
            SELECT r.* FROM runs r
            JOIN (SELECT watch, source, max(id) AS id FROM runs GROUP BY watch, source) m ON m.id = r.id
            ORDER BY r.watch, r.source
            """
        )
    )
    for run in last_runs:
        ok = db.execute(
            "SELECT max(finished_at) FROM runs WHERE watch=? AND source=? AND status='ok'",
            [run["watch"], run["source"]],
        ).fetchone()[0]
        run["last_success_at"] = ok
        run["consecutive_failures"] = db.execute(
            "SELECT count(*) FROM runs WHERE watch=? AND source=? AND status='error' AND id > "
            "coalesce((SELECT max(id) FROM runs WHERE watch=? AND source=? AND status='ok'), 0)"
            " AND coalesce(error, '') NOT LIKE ?",
            [run["watch"], run["source"], run["watch"], run["source"], STOPPED_LIKE],
        ).fetchone()[0]
    counts = {t: db.table(t).count for t in ("awards", "transactions", "changes", "matches", "runs")}
    kinds = {r["kind"]: r["n"] for r in db.query("SELECT kind, count(*) AS n FROM changes GROUP BY kind ORDER BY kind")}
    size = sum(os.path.getsize(p) for p in (f"{db_path}", f"{db_path}-wal") if Path(p).exists())
    digests = list(
        db.query(
            """
            SELECT s.subscriber, s.email,
                   (SELECT max(sent_at) FROM deliveries d WHERE d.subscriber = s.subscriber
                    AND d.status IN ('sent', 'written')) AS last_sent_at,
                   (SELECT count(*) FROM deliveries d WHERE d.subscriber = s.subscriber AND d.status = 'pending')
                    AS pending,
                   (SELECT error FROM deliveries d WHERE d.subscriber = s.subscriber AND d.error IS NOT NULL
                    AND d.id = (SELECT max(id) FROM deliveries e WHERE e.subscriber = s.subscriber)) AS last_error
            FROM subscribers s ORDER BY s.subscriber
            """
        )
    )
    return {
        "database": str(db_path),
        "size_bytes": size,
        "tables": counts,
        "changes_by_kind": kinds,
        "runs": last_runs,
        "digests": digests,
        "health": list(db.query("SELECT * FROM health WHERE state != 'ok' ORDER BY watch, source")),
        "review": dict(db.execute("SELECT status, count(*) FROM review GROUP BY status ORDER BY status").fetchall()),
    }


def render(data: dict[str, Any]) -> str:
    lines = [f"database: {data['database']} ({data['size_bytes'] / 1e6:.1f} MB)"]
    t = data["tables"]
    lines.append(
        f"  {t['awards']} awards, {t['transactions']} transactions, {t['changes']} changes, {t['matches']} matches"
    )
    if data["changes_by_kind"]:
        lines.append("  changes: " + ", ".join(f"{k} {n}" for k, n in data["changes_by_kind"].items()))
    if data.get("review", {}).get("pending"):
        lines.append(f"  review queue: {data['review']['pending']} reseller orders waiting (watcher review list)")
    if not data["runs"]:
        lines.append("no runs yet: run `watcher poll`")
    for r in data["runs"]:
        lines.append(
            f"{r['watch']} / {r['source']}: last run {r['started_at']} {r['status'].upper()}"
            f" ({r['requests']} requests, {r['records']} records, {r['changes']} changes)"
        )
        lines.append(f"    last success: {r['last_success_at'] or 'never'}")
        if r.get("warnings"):
            lines.append(f"    warnings (retried next poll): {r['warnings'].replace(chr(10), '; ')}")
        if r["status"] == "skipped":
            lines.append(f"    skipped: {r['error']}")
        elif r["status"] != "ok":
            lines.append(f"    error: {r['error']}")
            lines.append(f"    consecutive failures: {r['consecutive_failures']}")
    sam = data.get("sam")
    if sam:
        line = f"SAM.gov budget {sam['day']}: {sam['used']} of {sam['budget']} requests used, {sam['left']} left"
        line += f" (resets {sam['resets_at']})"
        lines.append(line)
        if not sam["key_set"]:
            lines.append("    SAM_API_KEY is not set: the SAM.gov sources are skipped")
        if sam["blocked_until"]:
            lines.append(f"    SAM.gov refused more requests (HTTP 429): next access {sam['blocked_until']}")
        if sam["key_error"]:
            e = sam["key_error"]
            lines.append(f"    key invalid or expired: HTTP {e['status']} at {e['at']} ({e['error']})")
        if sam["key_expires"] and sam["key_expires"]["warn"]:
            k = sam["key_expires"]
            lines.append(f"    the SAM.gov key expires {k['date']} ({k['days_left']} days): renew it at sam.gov")
        for w in sam["walks"]:
            state = f"read through {w['done_through']}" if w["done_through"] else "never read completely"
            if w["next_page"]:
                state += f"; walk {w['window_from']}..{w['window_to']} stopped at page {w['next_page'] + 1}"
                state += f" of {w['pages']} (budget), resumes next poll"
            lines.append(f"    {w['source']} {w['query']}: {state}")
    if data.get("next_runs"):
        lines.append("daemon schedule, next runs: " + ", ".join(f"{k} {v}" for k, v in data["next_runs"].items()))
    for h in data.get("health", []):
        lines.append(f"ALERT {h['watch']} / {h['source']}: {h['state']} since {h['since']} ({h['detail']})")
    for d in data.get("digests", []):
        line = f"digest {d['subscriber']} <{d['email']}>: last sent {d['last_sent_at'] or 'never'}"
        if d["pending"]:
            line += f", {d['pending']} waiting to be resent"
        if d["last_error"]:
            line += f"; last attempt failed: {d['last_error']}"
        lines.append(line)
    # Errors and warnings quote API answers: no escape sequence or direction override reaches the terminal.
    return "\n".join(UNSAFE_TEXT.sub("", line) for line in lines)
