"""A SAM.gov answer that echoes the API key (issue 19, item 5): redacted before it is stored or published.

The fake SAM.gov server in ``echo_key`` mode puts the request's URL, key included, in
``links[].href`` of its 200 answers and of every record (Opportunities' links do give the
request URL). The key is given to the client directly, not through the environment, so
only the client knows it. Stored responses are compressed: a text search of the database
file would miss the key, so the test decompresses every stored answer, in the database
and in the site's public download.
"""

from __future__ import annotations

import sqlite3
import zlib
from datetime import date
from pathlib import Path

from tests import test_sam
from tests.conftest import awards_from
from tests.test_sam import DAY, KEY, NEW_AWARD, NOTICES, rows_before
from watcher.fakes.sam_recordings import all_actions
from watcher.site.build import build
from watcher.store import open_db

world = test_sam.world  # the fixture: both fake APIs, a config, a database


def _leaks(db_file: Path) -> list[str]:
    """Where the key is in the database file: raw bytes anywhere, or inside a decompressed response."""
    found = [f"{db_file.name}: file bytes"] if KEY.encode() in db_file.read_bytes() else []
    conn = sqlite3.connect(db_file)
    try:
        for rid, source, content in conn.execute("SELECT id, source, content FROM responses"):
            if KEY.encode() in zlib.decompress(content):
                found.append(f"{db_file.name}: responses.id {rid} ({source})")
    finally:
        conn.close()
    return found


def test_a_sam_answer_echoing_the_key_is_stored_and_published_without_it(world, tmp_path: Path) -> None:
    w = world(sources="usaspending, sam_awards, sam_opportunities")
    w.us.set_awards(awards_from(rows_before()))
    # SAM.gov knows one award USAspending does not yet have: it is stored from SAM.gov's answer.
    w.sam.set_data(actions=all_actions(awards_from([*rows_before(), NEW_AWARD]), lag_days=0), notices=NOTICES)
    w.sam.echo_key = True
    results = w.poll(DAY)
    assert {r.source: r.status for r in results} == {
        "usaspending": "ok",
        "sam_awards": "ok",
        "sam_opportunities": "ok",
    }
    kept = {s for (s,) in w.q("SELECT DISTINCT source FROM responses WHERE source LIKE 'sam%'")}
    assert kept == {"sam_awards", "sam_opportunities"}  # both kept answers, which the fake filled with the key
    assert _leaks(w.path) == []
    echoed = [c for (c,) in w.q("SELECT content FROM responses WHERE source LIKE 'sam%'")]
    assert all(b"api_key=REDACTED" in zlib.decompress(c) for c in echoed)  # the link is kept, the key is not
    db = open_db(w.path)
    try:
        out = tmp_path / "site"
        build(db, w.config, out, now=f"{date.today()}T12:00:00Z", search=False)
    finally:
        db.conn.close()
    download = out / "downloads" / "watcher.db"
    assert download.is_file()
    assert _leaks(download) == []
    assert not [str(p) for p in out.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]


def test_an_answer_stored_with_the_key_before_this_fix_is_published_without_it(
    world,
    tmp_path: Path,
    monkeypatch,
) -> None:
    w = world(sources="usaspending")
    w.us.set_awards(awards_from(rows_before()))
    w.poll(DAY)
    # A database written before SAM.gov answers were redacted on receipt: one answer still holds the key.
    body = (
        b'{"totalRecords": 0, "links": [{"rel": "self", "href": "https://api.sam.gov/x?api_key='
        + KEY.encode()
        + b'"}]}'
    )
    with sqlite3.connect(w.path) as conn:
        conn.execute(
            "INSERT INTO responses (source, method, path, request, received_at, content) VALUES"
            " ('sam_opportunities', 'GET', '/opportunities/v2/search', NULL, '2026-08-01T00:00:00Z', ?)",
            [zlib.compress(body)],
        )
    monkeypatch.setenv("SAM_API_KEY", KEY)  # the daemon's environment holds the key
    db = open_db(w.path)
    try:
        build(db, w.config, tmp_path / "site", now=f"{date.today()}T12:00:00Z", search=False)
    finally:
        db.conn.close()
    assert _leaks(tmp_path / "site" / "downloads" / "watcher.db") == []
    assert _leaks(w.path) != []  # the live database is the operator's; the published copy is clean
