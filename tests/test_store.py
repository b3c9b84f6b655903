"""store.save_page, the one write sequence of every source, on an in-memory database."""

from __future__ import annotations

import json
from decimal import Decimal

from watcher import store
from watcher.models import Award, Change, ChangeKind, Match, Transaction
from watcher.sources import Raw

KEY = "CONT_AWD_70CTD026FC0000012_7012_70CTD022D00000003_7012"


def _raw(body: dict) -> Raw:
    return Raw("POST", "/api/v2/search/spending_by_award/", {"page": 1}, json.dumps(body).encode())


def _page(total: str, matches: list[Match], run_changes: list[Change]) -> store.PageWrites:
    award = Award(KEY, piid="70CTD026FC0000012", recipient_name="PALANTIR USG, INC.", total_obligation=Decimal(total))
    tx = Transaction(f"CONT_TX_{KEY}_0", KEY, "0", "2026-05-01", obligation=Decimal(total))
    raw = _raw({"results": [{"generated_internal_id": KEY}]})
    return store.PageWrites(
        "usaspending",
        awards=[(award, None, True)],
        transactions=[tx, tx],  # one action reported twice in a page is one row
        matches={"w": {KEY: matches}},
        rejected={"w": [("CONT_AWD_OTHER", "fp1")]},
        provenance=[(KEY, "https://www.usaspending.gov/award/x", [(raw, 0)])],
        changes=run_changes,
    )


def test_save_page_writes_every_table_once_and_exactly(memory_db) -> None:
    db = memory_db
    run_id = store.start_run(db, "w", "usaspending", "2026-05-05T12:00:00Z")
    match = Match("palantir", "recipient", "recipient PALANTIR USG, INC.")
    change = Change(ChangeKind.NEW_AWARD, KEY, KEY, amount_delta=Decimal("2295859.20"))
    with store.write_transaction(db):
        store.save_page(db, _page("2295859.20", [match], [change]), "2026-05-05T12:00:00Z", run_id)
        store.index_awards_fts(db)  # every writer of awards does this before it commits
    assert db.execute("SELECT total_obligation, first_seen_at FROM awards").fetchall() == [
        (2295859.2, "2026-05-05T12:00:00Z")
    ]
    assert db.execute("SELECT count(*) FROM transactions").fetchone()[0] == 1
    assert db.execute("SELECT vendor, reason FROM matches WHERE watch = 'w'").fetchall() == [("palantir", "recipient")]
    assert db.execute("SELECT award_key, fingerprint FROM rejected").fetchall() == [("CONT_AWD_OTHER", "fp1")]
    assert db.execute("SELECT kind, run_id, amount_delta FROM changes").fetchall() == [("new_award", run_id, 2295859.2)]
    (refs,) = db.execute("SELECT raw_refs FROM provenance WHERE entity_key = ?", [KEY]).fetchone()
    assert store.read_raw(db, refs) == [{"generated_internal_id": KEY}]


def test_a_second_page_replaces_matches_keeps_first_sightings_and_records_no_changes_without_a_run(memory_db) -> None:
    db = memory_db
    first = Match("palantir", "recipient", "recipient PALANTIR USG, INC.")
    with store.write_transaction(db):
        store.save_page(db, _page("100.00", [first], []), "2026-05-05T12:00:00Z")
        store.index_awards_fts(db)
    stored = store.get_awards(db, [KEY])[KEY]
    page = _page("250.00", [first, Match("palantir", "mention", "description: PALANTIR")], [])
    page.awards = [(page.awards[0][0], stored, True)]
    with store.write_transaction(db):
        store.save_page(db, page, "2026-08-21T12:00:00Z")  # no run_id: a merge's changes are recorded by its caller
        store.index_awards_fts(db)
    assert db.execute("SELECT total_obligation, first_seen_at, last_seen_at FROM awards").fetchall() == [
        (250.0, "2026-05-05T12:00:00Z", "2026-08-21T12:00:00Z")
    ]
    matched = dict(db.execute("SELECT reason, matched_at FROM matches WHERE watch = 'w'").fetchall())
    assert matched == {"recipient": "2026-05-05T12:00:00Z", "mention": "2026-08-21T12:00:00Z"}
    assert db.execute("SELECT count(*) FROM changes").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM awards_fts WHERE awards_fts MATCH 'palantir'").fetchone()[0] == 1
    # An empty list takes the award out of the watch.
    out = _page("250.00", [], [])
    out.awards = []
    with store.write_transaction(db):
        store.save_page(db, out, "2026-08-22T12:00:00Z")
    assert db.execute("SELECT count(*) FROM matches WHERE watch = 'w'").fetchone()[0] == 0
