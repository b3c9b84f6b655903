"""`watcher backfill`: bulk history equal to what polling stores, resumable after kill -9, quiet in digests."""

from __future__ import annotations

import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SEEDS
from watcher.fakes.recordings import agency_names, build_awards, history_files, read_rows, snapshots
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.sources.usaspending.history import slice_days, slices

SINCE, UNTIL = "2020-10-01", "2026-08-22"
WATCHES = 2  # the shipped queries.yaml's watches: a backfill runs one after the other
CONTENT = {
    "awards": "SELECT award_key, piid, recipient_name, total_obligation, description, fingerprint FROM awards",
    "transactions": "SELECT transaction_key, award_key, modification_number, action_date, obligation, description"
    " FROM transactions",
    # an award's matches: a backfill reads no subawards (the demo's sub-recipient matches are a poll's)
    "matches": "SELECT watch, entity_key, vendor, reason, evidence FROM matches WHERE entity_key NOT LIKE 'SUBAWD_%'",
}


def _rewritten_awards() -> set[str]:
    """Awards with an action whose description differs between the captures (a later correction)."""
    texts: dict[tuple[str, str], set[str]] = {}
    for r in read_rows([*history_files(SEEDS), *(s.path for s in snapshots(SEEDS))]):
        texts.setdefault((r["Generated Award ID"], r["Modification"]), set()).add(r["Transaction Description"])
    return {key for (key, _), seen in texts.items() if len(seen) > 1}


def content(db: Path, table: str, columns: str | None = None) -> set[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return set(conn.execute(columns or CONTENT[table]))


@pytest.fixture(scope="module")
def server() -> Any:
    from watcher.config import load_config

    config = load_config(ROOT / "queries.yaml")
    assert len(config.watches) == WATCHES
    awards = build_awards(read_rows([*history_files(SEEDS), snapshots(SEEDS)[-1].path]))
    replay = UsaspendingReplay(awards)
    replay.extra_agencies = agency_names(config.agencies.values())
    replay.url = replay.start()  # type: ignore[attr-defined]
    yield replay
    replay.stop()


def backfill(server: Any, db: Path, *extra: str, wait: bool = True) -> Any:
    config = db.parent / "queries.yaml"
    if not config.exists():  # the shipped config, without its pacing (the fake API needs none)
        text = (ROOT / "queries.yaml").read_text().replace("min_interval_seconds: 0.5", "min_interval_seconds: 0")
        config.write_text(text.replace("settings:\n", f"settings:\n  seeds_dir: {SEEDS}\n", 1))
    env = {**os.environ, "WATCHER_USASPENDING_URL": server.url}
    args = [sys.executable, "-m", "watcher", "--config", str(config), "--db", str(db), "backfill", "--since", SINCE]
    args += ["--until", UNTIL, *extra]
    if not wait:
        return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def clean(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("clean") / "w.db"
    # The endpoint has no tie-breaker: the fake repeats the last row of each page at the top of the next.
    original = server.transaction_search

    def repeating(body: dict[str, Any]) -> dict[str, Any]:
        out = original(body)
        if body.get("page", 1) > 1:
            prev = original({**body, "page": body["page"] - 1})
            out["results"] = [prev["results"][-1], *out["results"]]
        return out

    server.transaction_search = repeating
    try:
        result = backfill(server, db)
    finally:
        server.transaction_search = original
    assert result.returncode == 0, result.stdout + result.stderr
    assert "backfill transactions:" in result.stderr  # progress as log lines when not on a terminal
    return db


def test_slices_cover_the_window_exactly() -> None:
    from datetime import date, timedelta

    cut = slices(date(2024, 1, 1), date(2024, 3, 15), 31)
    assert cut[0][0] == date(2024, 1, 1) and cut[-1][1] == date(2024, 3, 15)
    assert all(b[0] == a[1] + timedelta(days=1) for a, b in itertools.pairwise(cut))
    assert slice_days(365, 1_000) == 365 and slice_days(365, 50_000) == 36 and slice_days(10, 10**9) == 1


def test_backfill_stores_what_polling_stores_with_a_fraction_of_the_requests(
    server: Any, clean: Path, demo_db: Path
) -> None:
    # demo_db was built by polling the same captures, one /api/v2/transactions/ and detail call per award.
    # An action whose description the captures rewrote (2 of them) was matched by polling under its earlier
    # text ("MAGNET AXIOM", the dhs-surveillance-data watch): a backfill sees only the last text.
    rewritten = _rewritten_awards()
    assert len(rewritten) <= 2
    for table in ("awards", "transactions", "matches"):
        cols = CONTENT[table].replace(", fingerprint", "")
        key = 0 if table == "awards" else 1

        def kept(rows: set[tuple[Any, ...]], key: int = key) -> set[tuple[Any, ...]]:
            return {r for r in rows if r[key] not in rewritten}

        assert kept(content(clean, table, cols)) == kept(content(demo_db, table, cols)), table
    with sqlite3.connect(clean) as conn:
        assert conn.execute("SELECT count(*) FROM changes").fetchone() == (0,)  # history is not news
        assert conn.execute("SELECT count(*) FROM awards WHERE backfilled_at IS NULL").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM backfill_transactions").fetchone() == (0,)  # staging emptied
        (awards,) = conn.execute("SELECT count(*) FROM awards").fetchone()
        (requests,) = conn.execute(
            "SELECT count(*) FROM responses WHERE path LIKE '%spending_by_transaction%'"
        ).fetchone()
    # 162 for dhs-big-tech and 56 more for dhs-surveillance-data (the second shipped watch)
    assert awards == 218 and requests < awards / 5  # vs. 2 requests per award when polled


@pytest.mark.slow
def test_a_backfill_killed_anywhere_resumes_to_the_same_database(server: Any, clean: Path, tmp_path: Path) -> None:
    rng = random.Random(1122)  # the seed of the kill times
    resumed = cut_short = 0
    server.delay = 0.12  # some seconds in all: the kill lands in sizing, staging, awards or history completion
    try:
        # Kill times are fractions of an uninterrupted run's length, which grows with the shipped watches.
        (tmp_path / "timing").mkdir()
        started = time.monotonic()
        assert backfill(server, tmp_path / "timing" / "w.db").returncode == 0
        whole = time.monotonic() - started
        for trial in range(3):
            db = tmp_path / f"t{trial}" / "w.db"
            db.parent.mkdir()
            proc = backfill(server, db, wait=False)
            time.sleep(rng.uniform(0.2, 0.8) * whole)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait() == -signal.SIGKILL
            with sqlite3.connect(db) as conn:  # on a loaded machine a late kill may find every watch done
                (finished,) = conn.execute("SELECT count(*) FROM backfills WHERE finished_at IS NOT NULL").fetchone()
            cut_short += finished < WATCHES
            again = backfill(server, db)
            assert again.returncode == 0, again.stdout + again.stderr
            resumed += "done before" in again.stdout
            for table in CONTENT:
                assert content(db, table) == content(clean, table), (trial, table)
            with sqlite3.connect(db) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                assert conn.execute("SELECT count(*) FROM changes").fetchone() == (0,)
        assert cut_short  # at least one kill landed before the backfills (one per shipped watch) had finished
        assert resumed  # at least one rerun started from the slices written before the kill
    finally:
        server.delay = 0.0


def test_a_poll_after_the_backfill_reports_nothing_old_and_real_ids_replace_composed_ones(
    server: Any, clean: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from watcher.cli import cli

    db = tmp_path / "w.db"
    src, dst = sqlite3.connect(clean), sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    key = "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001"
    award = server.awards[key]
    saved = [dict(t) for t in award.transactions], dict(award.row)
    try:
        for t in award.transactions:  # the real ids carry transaction number 1 (as DoD's do): not composable
            t["id"] = t["id"][:-1] + "1"
        award.row["Description"] = "AMENDED: " + str(award.row["Description"])  # the award changed: it is re-read
        server.set_awards(list(server.awards.values()))
        os.environ["WATCHER_USASPENDING_URL"] = server.url
        config = clean.parent / "queries.yaml"
        from datetime import date

        lookback = (date.today() - date(2026, 7, 1)).days
        config.write_text(config.read_text().replace("lookback_days: 30", f"lookback_days: {lookback}"))
        result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), "poll", "--source", "usaspending"])
        assert result.exit_code == 0, result.output
    finally:
        award.transactions[:] = saved[0]
        award.row.clear()
        award.row.update(saved[1])
        server.set_awards(list(server.awards.values()))
        config.write_text(config.read_text().replace(f"lookback_days: {lookback}", "lookback_days: 30"))
        os.environ.pop("WATCHER_USASPENDING_URL", None)
    with sqlite3.connect(db) as conn:
        kinds = conn.execute("SELECT kind, entity_key FROM changes").fetchall()
        keys = [k for (k,) in conn.execute("SELECT transaction_key FROM transactions WHERE award_key = ?", [key])]
    assert kinds == [("award_changed", key)]  # the description; no old action reported as new
    assert keys and all(k.endswith("_1") for k in keys)  # composed ids replaced by the real ones, no duplicates
