"""`watcher demo`: the offline pass over real ICE records reproduces the real Palantir timeline."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from watcher.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def changes_on(db: Path, day: str) -> set[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return set(
            conn.execute(
                "SELECT c.kind, c.entity_key FROM changes c JOIN runs r ON r.id = c.run_id WHERE r.started_at LIKE ?",
                [day + "%"],
            )
        )


def test_palantir_orders_appear_when_the_real_snapshots_first_showed_them(demo_db: Path) -> None:
    # docs/api/ice_data.md section 4.3: the first snapshot containing each Palantir action
    assert ("new_transaction", "CONT_TX_7012_4730_70CTD022FR0000170_P00015_GS35F0086U_0") in changes_on(
        demo_db, "2026-04-20"
    )
    assert ("new_award", "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001") in changes_on(demo_db, "2026-05-05")
    assert ("new_award", "CONT_AWD_70CTD026FC0000018_7012_70RTAC26A00000001_7001") in changes_on(demo_db, "2026-07-08")
    assert {
        ("new_transaction", "CONT_TX_7012_7001_70CTD026FC0000018_P00001_70RTAC26A00000001_0"),
        ("new_transaction", "CONT_TX_7012_7001_70CTD026FC0000012_P00001_70RTAC26A00000001_0"),
    } <= changes_on(demo_db, "2026-08-21")


def test_demo_shows_synthesized_subawards_under_held_primes(demo_db: Path) -> None:
    # watcher/fakes/demo_subawards.py: SYNTHESIZED reports (no real DHS subaward answer exists to replay)
    pal = "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001"
    four_points = "CONT_AWD_70CTD025FC0000024_7012_70CTD022A00000004_7012"
    with sqlite3.connect(demo_db) as conn:
        rows = conn.execute(
            "SELECT s.subaward_number, s.prime_award_key, s.report_count, r.started_at, c.kind FROM subawards s"
            " LEFT JOIN changes c ON c.entity_key = s.subaward_key LEFT JOIN runs r ON r.id = c.run_id"
            " ORDER BY s.subaward_number"
        ).fetchall()
        vendor = conn.execute("SELECT vendor, reason FROM matches WHERE entity_key LIKE 'SUBAWD_%'").fetchall()
    assert rows == [
        # reported twice (2026-07-08, 2026-08-20), found by the subaward search: one subaward, one change
        ("DEMO-4PT-0001", four_points, 2, "2026-07-08T12:00:00Z", "new_subaward"),
        # there when Palantir's order first appeared: its history, no change
        ("DEMO-PLTR-0001", pal, 1, None, None),
        # the day P00001 changed the order and its detail counted two subawards
        ("DEMO-PLTR-0002", pal, 1, "2026-08-21T12:00:00Z", "new_subaward"),
    ]
    assert vendor == [("amazon", "recipient")]


def test_demo_database_is_explorable(demo_db: Path) -> None:
    with sqlite3.connect(demo_db) as conn:
        assert conn.execute("SELECT count(*) FROM runs WHERE status != 'ok'").fetchone() == (0,)
        (awards,) = conn.execute("SELECT count(*) FROM awards").fetchone()
        assert awards > 100
        # reseller awards that mention AWS are matched to Amazon, with the reseller named in the evidence
        evidence = conn.execute(
            "SELECT evidence FROM matches WHERE entity_key = ? AND vendor = 'amazon'",
            ["CONT_AWD_70CTD025FC0000024_7012_70CTD022A00000004_7012"],
        ).fetchone()[0]
        assert "AMAZON WEB SERVICES" in evidence and "Four Points" in evidence
        hits = conn.execute(
            "SELECT award_key FROM awards_fts JOIN awards ON awards.rowid = awards_fts.rowid"
            " WHERE awards_fts MATCH 'palantir'"
        ).fetchall()
        assert len(hits) >= 5
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        seeds = conn.execute("SELECT count(*) FROM vendors").fetchone()[0]
        assert seeds >= 3


def test_demo_refuses_to_overwrite_an_explicit_database(tmp_path: Path) -> None:
    db = tmp_path / "mine.db"
    db.write_bytes(b"")
    result = CliRunner().invoke(cli, ["--config", str(ROOT / "queries.yaml"), "--db", str(db), "demo"])
    assert result.exit_code == 2 and "--replace" in result.output


def test_demo_writes_each_days_digest(demo_db: Path) -> None:
    import email
    import email.policy

    files = sorted((demo_db.parent / "demo-outbox").glob("*.eml"))
    assert [f.name[:8] for f in files] == [
        "20260324", "20260420", "20260505", "20260708", "20260820", "20260821", "20260822"
    ]  # fmt: skip
    july = email.message_from_bytes(files[3].read_bytes(), policy=email.policy.default)
    assert july["To"] == "campaigns@example.org"
    assert "PALANTIR TECHNOLOGIES INC.: new ICE BPA call 70CTD026FC0000018" in july.get_body(("plain",)).get_content()
    with sqlite3.connect(demo_db) as conn:
        assert conn.execute("SELECT count(*), min(status), max(status) FROM deliveries").fetchone() == (
            7, "written", "written"
        )  # fmt: skip


def test_demo_shows_vehicle_orders_in_digests_and_on_the_site(demo_db: Path) -> None:
    """Palantir's ERO order is an order under its own DHS BPA (seeds/vendors.yaml): the digest and the page say so."""
    import email
    import email.policy

    may = sorted((demo_db.parent / "demo-outbox").glob("20260505*.eml"))[0]
    text = email.message_from_bytes(may.read_bytes(), policy=email.policy.default).get_body(("plain",)).get_content()
    assert "an order under Palantir Technologies' own contract vehicle 70RTAC26A00000001" in " ".join(text.split())
    page = demo_db.parent / "demo-site" / "awards" / "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001.html"
    html = page.read_text()
    assert "an order under the vendor&#39;s own contract vehicle:" in html  # the reason in words, its code in a note
    assert "in the data: <code>matches.reason</code> = vehicle" in html
    with sqlite3.connect(demo_db) as conn:
        vehicles = conn.execute("SELECT count(DISTINCT entity_key) FROM matches WHERE reason = 'vehicle'").fetchone()[0]
    assert vehicles >= 5  # Palantir's BPA and GSA schedule orders, Microsoft's IDIQ orders


def test_demo_review_queue_holds_real_reseller_orders_that_name_no_product(demo_db: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(demo_db), "review", "list", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "pending order(s) in the review queue" in result.output
    assert "THUNDERCAT TECHNOLOGY" in result.output  # the biggest: 70B04C22F00000617, "SALESFORCE SOFTWARE LICENSES"
    with sqlite3.connect(demo_db) as conn:
        # Dell calls under DHS's Microsoft BPA that name no product, e.g. "SOFTWARE LICENSES"
        dell = conn.execute(
            "SELECT description FROM review WHERE reseller = 'dell' AND piid = '70CMSD22FC0000008'"
        ).fetchone()
        assert dell == ("SOFTWARE LICENSES",)
        # the queue is never part of its watch: no matches of its orders there, and no awards stored for them
        # unless another watch matches the same order (the second shipped watch matches reseller orders that
        # name its vendors' products, e.g. Thundercat's "SHADOWDRAGON SOCIALNET" licences)
        assert conn.execute(
            "SELECT count(*) FROM review r WHERE EXISTS"
            " (SELECT 1 FROM matches m WHERE m.watch = r.watch AND m.entity_key = r.entity_key)"
            " OR (r.entity_key IN (SELECT award_key FROM awards) AND NOT EXISTS"
            "     (SELECT 1 FROM matches m WHERE m.watch != r.watch AND m.entity_key = r.entity_key))"
        ).fetchone() == (0,)
