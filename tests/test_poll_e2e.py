"""End to end through the CLI against the replay server: the foundation's acceptance cases."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import awards_from, tx_row
from watcher.cli import cli
from watcher.fakes.server import Fault
from watcher.fakes.usaspending import UsaspendingReplay

TODAY = date.today()


def day(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


PAL = "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001"
FOUR = "CONT_AWD_70CTD025FC0000024_7012_70CTD022A00000004_7012"
MSFT = "CONT_AWD_70CTD021FR0000033_7012_HSHQDC15D00017_7001"
NOISE = "CONT_AWD_70CDCR26P00000009_7012_-NONE-_-NONE-"


def base_rows() -> list[dict[str, str]]:
    return [
        tx_row(
            "70CTD026FC0000012",
            PAL,
            "PALANTIR TECHNOLOGIES INC.",
            "86271599.30",
            day(10),
            desc="ERO CASE MANAGEMENT SYSTEM",
        ),
        tx_row(
            "70CTD025FC0000024",
            FOUR,
            "FOUR POINTS TECHNOLOGY, L.L.C.",
            "24105505.29",
            day(8),
            desc="ICE CLOUD INFRASTRUCTURE HOSTING SUPPORT FOR THE AMAZON WEB SERVICES ENVIRONMENT",
        ),
        tx_row("70CTD021FR0000033", MSFT, "MICROSOFT CORPORATION", "1000000.00", day(6), desc="PREMIER SUPPORT"),
        # a phrase-prefix over-match of "AWS": the search returns it, the matcher must not keep it
        tx_row("70CDCR26P00000009", NOISE, "ACME SUPPLY CO", "500.00", day(5), desc="AWSOME BRAND SHELVING"),
    ]


@pytest.fixture
def env(replay: UsaspendingReplay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    replay.set_awards(awards_from(base_rows()))
    config = write_config(page_size=2)
    db = tmp_path / "w.db"

    def poll(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), "poll", *args])

    return poll, db, replay


def q(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def edit(replay: UsaspendingReplay, key: str, fields: dict[str, Any]) -> None:
    """Change an award's search row as the API will serve it from now on."""
    replay.awards[key].row.update(fields)
    replay.set_awards(list(replay.awards.values()))


def search_requests(replay: UsaspendingReplay) -> int:
    return sum(1 for _, path, _ in replay.requests if "spending_by_award" in path)


def test_first_poll_stores_every_award_once_and_why(env) -> None:
    poll, db, replay = env
    result = poll()
    assert result.exit_code == 0, result.output
    assert sorted(r[0] for r in q(db, "SELECT award_key FROM awards")) == sorted([PAL, FOUR, MSFT])
    reasons = set(q(db, "SELECT entity_key, vendor || ':' || reason FROM matches"))
    # PAL and MSFT are orders under Palantir's and Microsoft's own vehicles (seeds/vendors.yaml): two reasons each
    assert reasons == {
        (PAL, "palantir:recipient"),
        (PAL, "palantir:vehicle"),
        (FOUR, "amazon:mention"),
        (MSFT, "microsoft:recipient"),
        (MSFT, "microsoft:vehicle"),
    }
    kinds = q(db, "SELECT kind, count(*) FROM changes GROUP BY kind")
    assert kinds == [("new_award", 3)]
    amount = q(db, "SELECT total_obligation FROM awards WHERE award_key=?", PAL)[0][0]
    assert Decimal(repr(amount)) == Decimal("86271599.30")
    assert q(db, "SELECT count(*) FROM transactions") == [(3,)]
    run = q(db, "SELECT status, requests, pages, records, changes FROM runs")[0]
    # page_size 2: recipient walk 2 pages (PAL, MSFT, and FOUR: the known resellers are searched as recipients
    # too, for the review queue), keyword walk 2 pages (PAL, FOUR, MSFT, NOISE);
    # 3 awards x (transactions + detail), NOISE's transactions, read to be sure it mentions no vendor,
    # one check that USAspending knows the agency name (then trusted for a week), and the
    # transaction-level walks (recipient and keyword, one page each) that find nothing the award walks missed,
    # the subaward-level walks (recipient and keyword, one page each: no subawards; the primes' details
    # say subaward_count 0, so no subaward list is read), and one list of orders per vehicle of the
    # watch's vendors (5), whose orders the walks had listed already
    assert run == ("ok", 4 + 3 * 2 + 1 + 1 + 2 + 2 + 5, 4 + 2 + 2 + 5, 4, 3)
    assert q(db, "SELECT award_key FROM rejected") == [(NOISE,)]


def test_unchanged_repoll_records_nothing_and_fetches_only_pages(env) -> None:
    poll, db, replay = env
    poll()
    before = len(replay.requests)
    result = poll()
    assert result.exit_code == 0
    assert "no changes" in result.output
    assert q(db, "SELECT count(*) FROM changes") == [(3,)]
    new_requests = replay.requests[before:]
    # searches and the vehicles' lists of orders only: no detail or per-award transaction fetches
    assert all(p.startswith(("/api/v2/search/", "/api/v2/idvs/awards/")) for _, p, _ in new_requests)
    status, requests, pages = q(db, "SELECT status, requests, pages FROM runs ORDER BY id DESC LIMIT 1")[0]
    assert requests == pages == len(new_requests)


def test_changed_amount_is_one_award_changed(env) -> None:
    poll, db, replay = env
    poll()
    edit(replay, PAL, {"Award Amount": Decimal("90000000.00"), "Last Modified Date": day(1)})
    assert poll().exit_code == 0
    rows = q(db, "SELECT kind, entity_key, diff, amount_delta FROM changes WHERE kind != 'new_award'")
    assert len(rows) == 1
    kind, key, diff, delta = rows[0]
    assert (kind, key) == ("award_changed", PAL)
    assert json.loads(diff) == {"total_obligation": ["86271599.30", "90000000.00"]}
    assert delta == pytest.approx(3728400.70)
    # its actions no longer add up to the total, so the next poll reads it again: still one change
    assert poll().exit_code == 0
    assert q(db, "SELECT count(*) FROM changes WHERE kind != 'new_award'") == [(1,)]


def test_new_modification_is_one_new_transaction(env) -> None:
    poll, db, replay = env
    poll()
    rows = [
        *base_rows(),
        tx_row(
            "70CTD026FC0000012",
            PAL,
            "PALANTIR TECHNOLOGIES INC.",
            "0.0",
            day(2),
            mod="P00001",
            desc="ADMINISTRATIVE MODIFICATION",
        ),
    ]
    replay.set_awards(awards_from(rows))
    assert poll().exit_code == 0
    rows = q(db, "SELECT kind, entity_key, award_key FROM changes WHERE kind != 'new_award'")
    assert rows == [("new_transaction", "CONT_TX_7012_7001_70CTD026FC0000012_P00001_70RTAC26A00000001_0", PAL)]


def test_late_reported_modification_is_caught(env) -> None:
    """Action dated 45 days ago (before the 30-day window) but modified yesterday: still caught."""
    poll, db, replay = env
    poll()
    rows = [
        *base_rows(),
        tx_row(
            "70CTD021FR0000033",
            MSFT,
            "MICROSOFT CORPORATION",
            "250000.00",
            day(45),
            mod="P00002",
            desc="OPTION PERIOD 2",
        ),
    ]
    awards = awards_from(rows)
    for a in awards:
        if a.key == MSFT:
            a.row["Last Modified Date"] = day(1)
    replay.set_awards(awards)
    poll()
    kinds = q(db, "SELECT kind, entity_key FROM changes WHERE kind != 'new_award' ORDER BY id")
    assert kinds == [
        ("award_changed", MSFT),
        ("new_transaction", "CONT_TX_7012_7001_70CTD021FR0000033_P00002_HSHQDC15D00017_0"),
    ]


def test_last_modified_date_alone_is_not_a_change_and_dropouts_are_not_deleted(env) -> None:
    poll, db, replay = env
    poll()
    awards = [a for a in replay.awards.values() if a.key != FOUR]  # FOUR drops out of the search
    for a in awards:
        if a.key == PAL:
            a.row["Last Modified Date"] = day(0)
    replay.set_awards(awards)
    assert poll().exit_code == 0
    assert q(db, "SELECT count(*) FROM changes WHERE kind != 'new_award'") == [(0,)]
    assert q(db, "SELECT count(*) FROM awards") == [(3,)]
    assert q(db, "SELECT last_modified_date FROM awards WHERE award_key=?", PAL) == [(day(0),)]


def test_row_repeated_across_pages_is_stored_once(env) -> None:
    poll, db, replay = env
    first_page: dict[str, Any] = {}

    def repeat(body: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
        if "last_record_unique_id" not in body:
            first_page["row"] = out["results"][-1]
        elif first_page:
            out["results"].insert(0, first_page["row"])
        return out

    replay.on_search = repeat
    assert poll().exit_code == 0
    assert q(db, "SELECT count(*), count(DISTINCT award_key) FROM awards") == [(3, 3)]
    assert q(db, "SELECT count(*) FROM changes") == [(3,)]


def test_500_mid_walk_stores_nothing_and_other_watches_run(env, write_config) -> None:
    poll, db, replay = env
    extra = (
        "  cbp-and-ice-msft:\n    agencies: [ice, cbp]\n    agency_roles: [awarding]\n"
        "    vendors: [microsoft]\n    award_types: [contracts]\n"
    )
    write_config(page_size=2, extra=extra)
    replay.faults.append(
        Fault(
            "/api/v2/search/spending_by_award/",
            nth=2,
            status=500,
            body=b"<h1>Server Error (500)</h1>",
            content_type="text/html",
            times=2,
        )
    )
    result = poll()
    assert result.exit_code == 1
    assert "ice-vendors / usaspending: FAILED" in result.output and "HTTP 500" in result.output
    runs = q(db, "SELECT watch, status, error FROM runs ORDER BY id")
    assert runs[0][:2] == ("ice-vendors", "error") and "HTTP 500" in runs[0][2]
    assert runs[1][:2] == ("cbp-and-ice-msft", "ok")
    # only the second watch's award is stored: nothing partial from the failed walk
    assert q(db, "SELECT award_key FROM awards") == [(MSFT,)]
    assert q(db, "SELECT count(*) FROM matches WHERE watch='ice-vendors'") == [(0,)]
    # the next poll completes the first watch without duplicating anything
    assert poll().exit_code == 0
    assert q(db, "SELECT count(*), count(DISTINCT entity_key) FROM changes") == [(3, 3)]
    assert dict(q(db, "SELECT entity_key, count(DISTINCT watch) FROM matches GROUP BY entity_key"))[MSFT] == 2


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda out: {**out, "messages": ["The following filters from the request were not used: {'agency'}"]},
            "ignored part of the query",
        ),
        (lambda out: {"detail": "oops"}, "no results list"),
        (lambda out: {**out, "results": [{"Award ID": "X"}]}, "lacks requested fields"),
        (lambda out: {**out, "results": [{**r, "Award Amount": "lots"} for r in out["results"]]}, "expected an amount"),
    ],
    ids=["not-used", "wrong-shape", "missing-fields", "bad-amount"],
)
def test_wrong_shape_or_ignored_filter_is_a_clear_error(env, mutate, message: str) -> None:
    poll, db, replay = env
    replay.on_search = lambda body, out: mutate(out)
    result = poll()
    assert result.exit_code == 1 and message in result.output
    assert q(db, "SELECT status FROM runs") == [("error",)]
    assert q(db, "SELECT count(*) FROM awards") == [(0,)]


def test_html_page_with_status_200(env) -> None:
    poll, db, replay = env
    replay.faults.append(
        Fault("/api/v2/search/", nth=1, status=200, body=b"<html>Down for maintenance</html>", content_type="text/html")
    )
    result = poll()
    assert result.exit_code == 1 and "not JSON" in result.output


def test_unreachable_api(write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHER_USASPENDING_URL", "http://127.0.0.1:9")
    db = tmp_path / "w.db"
    result = CliRunner().invoke(cli, ["--config", str(write_config()), "--db", str(db), "poll"])
    assert result.exit_code == 1 and "connection failed" in result.output
    assert q(db, "SELECT status FROM runs") == [("error",)]


def test_interrupted_run_leaves_nothing_and_rerun_matches_clean_run(env, tmp_path: Path) -> None:
    """A crash mid-run (an interrupt after one award was written) rolls back; the rerun equals a clean run."""
    poll, db, replay = env
    pages = {"n": 0}

    from watcher.config import load_config
    from watcher.http import ApiClient
    from watcher.sources.registry import run_all
    from watcher.sources.usaspending import api as usaspending
    from watcher.store import open_db

    real_fetch = usaspending.fetch_detail

    def crash_on_second(client: Any, key: str) -> dict[str, Any]:
        pages["n"] += 1
        if pages["n"] == 2:  # after one award was written inside the run's transaction
            raise KeyboardInterrupt
        return real_fetch(client, key)

    config = load_config(tmp_path / "queries.yaml")
    database = open_db(db)
    with pytest.MonkeyPatch.context() as mp, ApiClient(replay.url, min_interval=0) as client:  # type: ignore[attr-defined]
        mp.setattr(usaspending, "fetch_detail", crash_on_second)
        with pytest.raises(KeyboardInterrupt):
            run_all(database, config, client)
    database.conn.close()
    assert q(db, "SELECT count(*) FROM awards") == [(0,)]
    assert q(db, "SELECT status FROM runs") == [("running",)]
    assert poll().exit_code == 0
    assert q(db, "SELECT status FROM runs ORDER BY id") == [("error",), ("ok",)]  # the killed run is on record
    assert q(db, "PRAGMA integrity_check") == [("ok",)]
    assert sorted(q(db, "SELECT kind, entity_key FROM changes")) == sorted(
        [("new_award", PAL), ("new_award", FOUR), ("new_award", MSFT)]
    )


def test_full_text_index_follows_new_and_changed_awards(env) -> None:
    poll, db, replay = env
    poll()
    edit(replay, MSFT, {"Description": "MICROSOFT AZURE GOVERNMENT TENANT", "Last Modified Date": day(1)})
    poll()

    def search(term: str) -> list[str]:
        return [
            r[0]
            for r in q(
                db,
                "SELECT a.award_key FROM awards_fts JOIN awards a ON a.rowid = awards_fts.rowid"
                " WHERE awards_fts MATCH ?",
                term,
            )
        ]

    assert search("tenant") == [MSFT]
    assert search("premier") == []  # the old description left the index
    assert search("palantir") == [PAL]
    with sqlite3.connect(db) as conn:  # raises if the index and the table disagree
        conn.execute("INSERT INTO awards_fts(awards_fts, rank) VALUES ('integrity-check', 1)")


def test_edited_rules_rejudge_stored_awards_and_past_rejections(env, write_config) -> None:
    poll, db, replay = env
    poll()
    assert q(db, "SELECT award_key FROM rejected") == [(NOISE,)]
    # the watch now also follows the word SHELVING and no longer follows Microsoft
    config = write_config(page_size=2)
    text = config.read_text().replace("vendors: [amazon, palantir, microsoft]", "vendors: [amazon, palantir]")
    config.write_text(text.replace("    lookback_days: 30\n", "    lookback_days: 30\n    keywords: [SHELVING]\n", 1))
    assert poll().exit_code == 0
    matched = set(q(db, "SELECT entity_key, vendor || ':' || reason FROM matches"))
    assert matched == {
        (PAL, "palantir:recipient"),
        (PAL, "palantir:vehicle"),
        (FOUR, "amazon:mention"),
        (NOISE, ":keyword"),
    }
    assert q(db, "SELECT count(*) FROM rejected") == [(0,)]
    assert ("new_award", NOISE) in q(db, "SELECT kind, entity_key FROM changes")
    assert q(db, "SELECT count(*) FROM awards WHERE award_key = ?", MSFT) == [(1,)]  # kept: history is never deleted


def test_stale_transactions_are_read_again_and_no_modification_is_lost(env) -> None:
    """The search row moved but /transactions/ still answers the old list (cache, lag): re-read next poll."""
    poll, db, replay = env
    poll()
    edit(replay, PAL, {"Award Amount": Decimal("86371599.30"), "Last Modified Date": day(1)})
    award = replay.awards[PAL]
    assert poll().exit_code == 0
    assert q(db, "SELECT fingerprint FROM awards WHERE award_key = ?", PAL) == [(None,)]  # not trusted yet
    award.transactions.append(
        {
            **award.transactions[0],
            "id": "CONT_TX_7012_7001_70CTD026FC0000012_P00001_70RTAC26A00000001_0",
            "modification_number": "P00001",
            "federal_action_obligation": Decimal("100000.00"),
            "action_date": day(1),
        }
    )
    replay.set_awards(list(replay.awards.values()))
    assert poll().exit_code == 0
    rows = q(db, "SELECT kind, entity_key FROM changes WHERE kind != 'new_award' ORDER BY id")
    assert rows == [
        ("award_changed", PAL),
        ("new_transaction", "CONT_TX_7012_7001_70CTD026FC0000012_P00001_70RTAC26A00000001_0"),
    ]
    assert q(db, "SELECT fingerprint IS NOT NULL FROM awards WHERE award_key = ?", PAL) == [(1,)]


def test_one_award_that_cannot_be_fetched_does_not_stop_the_watch(env) -> None:
    poll, db, replay = env
    replay.faults.append(Fault(f"/api/v2/awards/{MSFT}/", nth=1, status=404, body=b'{"detail":"No Award found"}'))
    result = poll()
    assert result.exit_code == 0, result.output
    status, warnings = q(db, "SELECT status, warnings FROM runs")[0]
    assert status == "ok" and f"award {MSFT}" in warnings and "404" in warnings
    assert q(db, "SELECT award_key, enriched_at IS NULL FROM awards ORDER BY 1") == sorted(
        [(PAL, 0), (FOUR, 0), (MSFT, 1)]
    )
    assert poll().exit_code == 0  # the API answers again: the award is completed, nothing duplicated
    assert q(db, "SELECT enriched_at IS NULL FROM awards WHERE award_key = ?", MSFT) == [(0,)]
    assert q(db, "SELECT kind, count(*) FROM changes GROUP BY kind") == [("new_award", 3)]


def test_an_agency_name_usaspending_does_not_know_stops_the_watch(env, write_config) -> None:
    """Exact names only: a near miss would silently return nothing, so it is an error that names it."""
    poll, db, replay = env
    config = write_config(page_size=2)
    config.write_text(
        config.read_text().replace(
            "agencies: [ice]", "agencies: [{name: U.S. Immigration & Customs Enforcement, tier: subtier}]"
        )
    )
    result = poll()
    assert result.exit_code == 1
    assert "knows no subtier agency named exactly 'U.S. Immigration & Customs Enforcement'" in result.output
    assert not any("spending_by_award" in p for _, p, _ in replay.requests)  # nothing searched with a bad name


def test_agency_names_are_checked_once_a_week(env) -> None:
    poll, db, replay = env
    poll()
    poll()
    checks = [p for _, p, _ in replay.requests if "autocomplete" in p]
    assert len(checks) == 1
    assert q(db, "SELECT name, tier FROM agency_checks") == [("U.S. Immigration and Customs Enforcement", "subtier")]


def test_last_seen_is_refreshed_once_a_day_and_writes_nothing_otherwise(env, tmp_path: Path) -> None:
    from watcher.config import load_config
    from watcher.http import ApiClient
    from watcher.sources.registry import run_all
    from watcher.store import open_db

    _, db_path, replay = env
    config = load_config(tmp_path / "queries.yaml")
    db = open_db(db_path)
    with ApiClient(replay.url, min_interval=0) as client:  # type: ignore[attr-defined]
        run_all(db, config, client, now="2026-11-20T08:00:00Z")
        run_all(db, config, client, now="2026-11-20T20:00:00Z")  # same day: nothing to write
        assert q(db_path, "SELECT DISTINCT last_seen_at FROM awards") == [("2026-11-20T08:00:00Z",)]
        run_all(db, config, client, now="2026-11-21T08:00:00Z")  # a new day: seen again
    assert q(db_path, "SELECT DISTINCT last_seen_at FROM awards") == [("2026-11-21T08:00:00Z",)]
    assert q(db_path, "SELECT DISTINCT last_seen_at FROM provenance WHERE entity_key LIKE 'CONT_AWD_%'") == [
        ("2026-11-21T08:00:00Z",)
    ]
    assert q(db_path, "SELECT DISTINCT first_seen_at FROM awards") == [("2026-11-20T08:00:00Z",)]
    assert q(db_path, "SELECT count(*) FROM changes") == [(3,)]
