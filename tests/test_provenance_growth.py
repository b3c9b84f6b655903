"""Provenance does not grow without bound (issue 19, item 8).

A row whose content changes at every poll used to store its whole raw answer each time (a
15 MB padded row grew the database 16 MB a poll), and the public download carried every
copy. Now an answer is stored once per distinct content, each record keeps the latest
``settings.raw_versions_kept`` versions of what it was read from, answers no version refers
to any more are pruned, and the site's ``downloads/watcher.db`` keeps the latest only.
``watcher history --raw`` shows what is kept.
"""

from __future__ import annotations

import base64
import json
import random
import sqlite3
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import awards_from
from tests.test_poll_e2e import PAL, base_rows, day, edit
from watcher.cli import cli
from watcher.fakes.usaspending import UsaspendingReplay

PAD = 1_000_000  # random bytes a poll (1.33 MB as base64): zlib cannot shrink it


def padding(n: int) -> str:
    return f"PADDING-{n}-" + base64.b64encode(random.Random(n).randbytes(PAD)).decode()


def pad(replay: UsaspendingReplay, n: int, polls: int) -> None:
    """The award's search row changes in a part the watcher does not store (so no change, no diff, no
    full-text entry grows): only its raw answer differs, a large one."""
    naics = {k: v for k, v in replay.awards[PAL].row["NAICS"].items() if k != "padding"}
    edit(replay, PAL, {"NAICS": {**naics, "padding": padding(n)}, "Last Modified Date": day(polls - n)})


@pytest.fixture
def env(replay: UsaspendingReplay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    replay.set_awards(awards_from(base_rows()))
    config = write_config()
    db = tmp_path / "w.db"

    def run(*args: str) -> Result:
        result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *args])
        assert result.exit_code == 0, result.output
        return result

    return run, db, replay, config


def q(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def stored_bytes(db: Path) -> int:
    return q(db, "SELECT coalesce(sum(length(content)), 0) FROM responses")[0][0]


def file_bytes(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db.stat().st_size


def bodies(db: Path) -> list[bytes]:
    return [zlib.decompress(c) for (c,) in q(db, "SELECT content FROM responses")]


@pytest.mark.slow  # seven polls of megabyte pages and a full site build
def test_a_row_changing_every_poll_keeps_the_latest_versions_only(env, tmp_path: Path) -> None:
    run, db, replay, _ = env
    sizes, files = [], []
    polls = 7
    for n in range(polls):
        pad(replay, n, polls)
        run("poll")
        sizes.append(stored_bytes(db))
        files.append(file_bytes(db))
    one = sizes[0]  # the first poll: one version of everything
    print(f"\nstored raw bytes per poll: {sizes}\ndatabase file per poll: {files}")
    # Three versions kept (the default): the stored answers stop growing after the third poll.
    assert q(db, "SELECT count(*) FROM provenance_versions WHERE entity_key = ?", PAL) == [(3,)]
    # Three versions of PAL's page, and the first poll's page, which the other awards on it (unchanged
    # since) still point at: four pages, whatever the number of polls.
    assert sizes[-1] < 4 * one + 200_000
    assert sizes[-1] <= sizes[3] + 100_000
    # The file stops growing too: the pages freed by each pruning are reused by the next poll (the
    # file holds one version more than is kept: a poll writes its version before pruning the oldest).
    assert q(db, "SELECT count(*) FROM changes WHERE kind != 'new_award'") == [(0,)]  # nothing else grows
    assert max(files[4:]) - min(files[4:]) < PAD // 2
    kept = b"".join(bodies(db))
    assert padding(polls - 1).encode() in kept and padding(polls - 3).encode() in kept
    # The pages only its dropped versions referred to are gone (the first poll's pages stay: the other
    # awards on them, unchanged since, still point at them).
    assert not [n for n in range(1, polls - 3) if padding(n).encode() in kept]
    # `history --raw` shows the latest version and the earlier ones kept.
    raw = json.loads(run("history", PAL, "--raw").output)
    award = next(r for r in raw if r["entity_key"] == PAL)
    assert award["records"][0]["NAICS"]["padding"] == padding(polls - 1)
    assert [v["records"][0]["NAICS"]["padding"] for v in award["earlier"]] == [padding(polls - 2), padding(polls - 3)]
    # The public download keeps only the latest version.
    out = tmp_path / "site"
    run("site", "--out", str(out), "--full")
    download = out / "downloads" / "watcher.db"
    published = b"".join(bodies(download))
    assert padding(polls - 1).encode() in published
    assert not [n for n in range(1, polls - 1) if padding(n).encode() in published]
    assert q(download, "SELECT count(*) FROM provenance_versions WHERE entity_key = ?", PAL) == [(1,)]
    # Its latest page, and the first poll's two pages the other awards still point at; freed pages vacuumed.
    assert download.stat().st_size < 3.6 * PAD < files[-1] / 1.5
    with sqlite3.connect(download) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_an_answer_read_again_unchanged_is_stored_once(env) -> None:
    run, db, replay, _ = env
    run("poll")
    edit(replay, PAL, {"Award Amount": Decimal("90000000.00"), "Last Modified Date": day(1)})
    run("poll")  # the award changed; its actions no longer add up, so each poll reads it again
    before = q(db, "SELECT count(*), coalesce(sum(length(content)), 0) FROM responses")[0]
    run("poll")
    run("poll")
    assert q(db, "SELECT count(*), coalesce(sum(length(content)), 0) FROM responses")[0] == before
    assert q(db, "SELECT count(*) FROM provenance_versions WHERE entity_key = ?", PAL) == [(2,)]


def test_the_number_of_versions_kept_is_a_setting(env) -> None:
    run, db, replay, config = env
    config.write_text(config.read_text().replace("settings:\n", "settings:\n  raw_versions_kept: 1\n"))
    for n in range(3):
        edit(replay, PAL, {"Description": f"VERSION {n}", "Last Modified Date": day(3 - n)})
        run("poll")
    assert q(db, "SELECT count(*) FROM provenance_versions WHERE entity_key = ?", PAL) == [(1,)]
    raw = json.loads(run("history", PAL, "--raw").output)
    award = next(r for r in raw if r["entity_key"] == PAL)
    assert award["records"][0]["Description"] == "VERSION 2" and award["earlier"] == []
    # Every answer kept is one some record's kept version still refers to (pages are shared: an older
    # page stays while another award on it, unchanged, still points at it).
    assert q(db, "SELECT count(*) FROM responses WHERE id NOT IN (SELECT response_id FROM version_responses)") == [(0,)]


# ---------------------------------------------------------------- the store's rules, on an in-memory database


def _raw(text: str) -> Any:
    from watcher.sources import Raw

    return Raw("POST", "/api/v2/search/spending_by_award/", None, json.dumps({"results": [{"t": text}]}).encode())


def _save(db: Any, key: str, raw: Any, now: str) -> None:
    from watcher import store

    with store.write_transaction(db):
        store.save_provenance(db, "usaspending", [(key, None, [(raw, 0)])], now)


def _prune(db: Any, keep: int) -> tuple[int, int]:
    from watcher import store

    with store.write_transaction(db):
        return store.prune(db, keep)


def test_a_page_another_record_still_refers_to_is_kept(memory_db) -> None:
    shared = _raw("PAGE 0")
    from watcher import store

    with store.write_transaction(memory_db):  # two records read from one page
        store.save_provenance(memory_db, "usaspending", [("A", None, [(shared, 0)]), ("B", None, [(shared, 0)])], "t0")
    for n in range(1, 4):
        _save(memory_db, "A", _raw(f"PAGE {n}"), f"t{n}")
    assert _prune(memory_db, 2) == (2, 1)  # A's versions from PAGE 0 and PAGE 1 go; only PAGE 1's answer
    texts = [
        json.loads(b)["results"][0]["t"]
        for b in (zlib.decompress(c) for (c,) in memory_db.execute("SELECT content FROM responses ORDER BY id"))
    ]
    assert texts == ["PAGE 0", "PAGE 2", "PAGE 3"]  # B still points at PAGE 0
    assert store.read_raw(
        memory_db, memory_db.execute("SELECT raw_refs FROM provenance WHERE entity_key = 'B'").fetchone()[0]
    )


def test_an_answer_a_staged_backfill_action_refers_to_is_never_pruned(memory_db) -> None:
    _save(memory_db, "A", _raw("STAGED"), "t0")
    (rid,) = memory_db.execute("SELECT id FROM responses").fetchone()
    memory_db.execute(
        "INSERT INTO backfill_transactions (watch, award_key, mod, row_hash, ordinal, response_id, response_index)"
        " VALUES ('w', 'A', '0', 'h', 0, ?, 0)",
        [rid],
    )
    _save(memory_db, "A", _raw("NEW"), "t1")
    assert _prune(memory_db, 1) == (1, 0)
    assert memory_db.execute("SELECT count(*) FROM responses").fetchone() == (2,)


def test_the_current_version_is_kept_even_when_older_ones_were_seen_later(memory_db) -> None:
    first, second = _raw("FIRST"), _raw("SECOND")
    _save(memory_db, "A", first, "t1")
    _save(memory_db, "A", second, "t2")
    memory_db.execute("UPDATE provenance_versions SET last_seen_at = 't9' WHERE raw_refs LIKE '[[1,%'")
    assert _prune(memory_db, 1) == (1, 1)
    (refs,) = memory_db.execute("SELECT raw_refs FROM provenance WHERE entity_key = 'A'").fetchone()
    assert memory_db.execute("SELECT raw_refs FROM provenance_versions").fetchall() == [(refs,)]
    from watcher import store

    assert store.read_raw(memory_db, refs) == [{"t": "SECOND"}]


def test_records_that_leave_the_store_take_their_versions_with_them(memory_db) -> None:
    from watcher import store

    _save(memory_db, "CONT_TX_A", _raw("ONLY"), "t0")
    with store.write_transaction(memory_db):
        store.settle_provisional(memory_db, ["CONT_TX_A"], [])
    assert _prune(memory_db, 3) == (0, 1)
    for table in ("provenance", "provenance_versions", "version_responses", "responses"):
        assert memory_db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
