"""Subawards end to end through the CLI against the fake USAspending: vendors as sub-recipients, and
everyone working under a watched prime, each subaward stored once with its history."""

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
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.fakes.usaspending_subawards import ReplaySubaward

TODAY = date.today()
PAL = "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001"
OTHER = "CONT_AWD_70CDCR26FC0000077_7012_-NONE-_-NONE-"  # an ICE prime no watch holds


def day(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def report(report_id: int, prime: str, number: str, when: str, amount: str, name: str, **kw: Any) -> ReplaySubaward:
    kw.setdefault("description", "SUBCONTRACTED SOFTWARE ENGINEERING SUPPORT")
    return ReplaySubaward(
        report_id=report_id,
        prime_key=prime,
        prime_internal_id=200_000_000 + sum(map(ord, prime)),
        prime_piid=prime.split("_")[2],
        number=number,
        action_date=when,
        amount=Decimal(amount),
        name=name,
        prime_recipient="PALANTIR TECHNOLOGIES INC." if prime == PAL else "GENERAL CONTRACTOR INC",
        **kw,
    )


def prime_rows() -> list[dict[str, str]]:
    return [
        tx_row(
            "70CTD026FC0000012", PAL, "PALANTIR TECHNOLOGIES INC.", "86271599.30", day(10), desc="ERO CASE MANAGEMENT"
        )
    ]


@pytest.fixture
def env(replay: UsaspendingReplay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    replay.set_awards(awards_from(prime_rows()))
    config = write_config(page_size=2)
    db = tmp_path / "w.db"

    def run(*args: str) -> Result:
        result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *args])
        return result

    return run, db, replay


def q(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def list_requests(replay: UsaspendingReplay, since: int = 0) -> int:
    return sum(1 for _, path, _ in replay.requests[since:] if path == "/api/v2/subawards/")


def move_prime(replay: UsaspendingReplay, amount: str, when: str) -> None:
    """A new modification of the Palantir prime: its search row changes, so the poll reads its detail again."""
    mod = tx_row("70CTD026FC0000012", PAL, "PALANTIR TECHNOLOGIES INC.", amount, when, mod="P00001", desc="ADD FUNDS")
    replay.set_awards(awards_from([*prime_rows(), mod]))


def test_a_vendor_under_someone_elses_ice_prime_is_one_subaward_and_one_change_however_often_reported(env) -> None:
    run, db, replay = env
    twice = [
        report(9001, OTHER, "PLTR-2026-01", day(40), "250000.00", "PALANTIR USG, INC.", uei="ABCDEFGHJKL1"),
        report(9002, OTHER, "PLTR-2026-01", day(40), "250000.00", "PALANTIR USG, INC.", uei="ABCDEFGHJKL1"),
        report(9010, OTHER, "ACME-1", day(40), "9000.00", "ACME SUPPLY CO"),  # not a watched vendor
    ]
    replay.set_subawards(twice)
    first = run("poll")
    assert first.exit_code == 0, first.output
    rows = q(db, "SELECT subaward_key, prime_award_key, sub_recipient_name, sub_recipient_uei, amount, report_count"
                 " FROM subawards")  # fmt: skip
    assert len(rows) == 1
    key, prime, name, uei, amount, count = rows[0]
    assert (prime, name, uei, Decimal(repr(amount)), count) == (OTHER, "PALANTIR USG, INC.", "ABCDEFGHJKL1",
                                                                Decimal("250000.00"), 2)  # fmt: skip
    changes = q(db, "SELECT kind, entity_key, award_key, amount_delta FROM changes WHERE kind LIKE '%subaward%'")
    assert changes == [("new_subaward", key, OTHER, 250000.0)]
    (reason, evidence), *more = q(db, "SELECT vendor || ':' || reason, evidence FROM matches WHERE entity_key = ?", key)
    assert reason in ("palantir:recipient", "palantir:mention")
    assert "PLTR-2026-01" in evidence and "70CDCR26FC0000077" in evidence
    # unchanged: nothing to write, not even the answer again
    responses = q(db, "SELECT count(*) FROM responses")
    assert run("poll").exit_code == 0
    assert q(db, "SELECT count(*) FROM responses") == responses
    # filed a third time: still one subaward, and nothing new to say
    replay.set_subawards([*twice, report(9003, OTHER, "PLTR-2026-01", day(40), "250000.00", "PALANTIR USG, INC.")])
    assert run("poll").exit_code == 0
    assert q(db, "SELECT count(*), max(report_count) FROM subawards") == [(1, 3)]
    assert q(db, "SELECT count(*) FROM changes WHERE kind LIKE '%subaward%'") == [(1,)]


def test_a_held_primes_subawards_are_read_only_when_its_subaward_count_moves(env) -> None:
    run, db, replay = env
    replay.set_subawards(
        [
            report(7001, PAL, "SUB-001", day(30), "1200000.00", "ANALYTICS PARTNER LLC"),
            report(7002, PAL, "SUB-002", day(20), "300000.00", "DATA CLEANING CO"),
        ]
    )
    before = len(replay.requests)
    assert run("poll").exit_code == 0
    # a new prime: its subaward list is read once, and arrives as its history (no new_subaward each)
    assert list_requests(replay, before) == 1
    assert q(db, "SELECT count(*) FROM subawards WHERE prime_award_key = ?", PAL) == [(2,)]
    assert q(db, "SELECT subaward_count, total_subaward_amount FROM subaward_checks WHERE award_key = ?", PAL) == [
        (2, 1500000.0)
    ]
    assert q(db, "SELECT count(*) FROM changes WHERE kind LIKE '%subaward%'") == [(0,)]
    # unchanged re-poll: no subaward request at all
    before = len(replay.requests)
    assert run("poll").exit_code == 0
    assert list_requests(replay, before) == 0
    # the prime changes (a new modification: its detail is read again) but its subaward count does not: none either
    move_prime(replay, "1000.00", day(2))
    before = len(replay.requests)
    assert run("poll").exit_code == 0
    assert any(p.startswith("/api/v2/awards/") for _, p, _ in replay.requests[before:])
    assert list_requests(replay, before) == 0
    # a new subaward and a new modification: one list read, one new_subaward under the prime
    replay.set_subawards([*replay.subawards, report(7003, PAL, "SUB-003", day(1), "45000.00", "MAPPING SERVICES INC")])
    move_prime(replay, "2000.00", day(1))
    before = len(replay.requests)
    assert run("poll").exit_code == 0
    assert list_requests(replay, before) == 1
    new = q(db, "SELECT c.kind, c.award_key, s.sub_recipient_name FROM changes c JOIN subawards s ON s.subaward_key ="
                " c.entity_key WHERE c.kind LIKE '%subaward%'")  # fmt: skip
    assert new == [("new_subaward", PAL, "MAPPING SERVICES INC")]


def test_a_corrected_and_a_withdrawn_subaward_under_a_held_prime(env) -> None:
    run, db, replay = env
    keep = report(7001, PAL, "SUB-001", day(30), "1200000.00", "ANALYTICS PARTNER LLC")
    gone = report(7002, PAL, "SUB-002", day(20), "300000.00", "DATA CLEANING CO")
    replay.set_subawards([keep, gone])
    assert run("poll").exit_code == 0
    corrected = report(7001, PAL, "SUB-001", day(30), "1250000.00", "ANALYTICS PARTNER LLC")
    replay.set_subawards([corrected])
    move_prime(replay, "1000.00", day(1))
    result = run("poll")
    assert result.exit_code == 0, result.output
    changes = q(db, "SELECT kind, diff, amount_delta FROM changes WHERE kind LIKE '%subaward%' ORDER BY id")
    assert [(k, json.loads(d), delta) for k, d, delta in changes] == [
        ("subaward_changed", {"amount": ["1200000.00", "1250000.00"]}, 50000.0),
        ("subaward_deleted", {"amount": ["300000.00", None], "action_date": [day(20), None],
                              "description": ["SUBCONTRACTED SOFTWARE ENGINEERING SUPPORT", None],
                              "sub_recipient_name": ["DATA CLEANING CO", None], "subaward_number": ["SUB-002", None]},
         -300000.0),
    ]  # fmt: skip
    # the withdrawn one stays, marked; the history command lists both under the prime
    assert q(db, "SELECT count(*) FROM subawards WHERE deleted_at IS NOT NULL") == [(1,)]
    history = run("history", "70CTD026FC0000012")
    assert history.exit_code == 0, history.output
    text = history.output
    assert "subawards (2):" in text
    assert "ANALYTICS PARTNER LLC" in text and "$1,250,000.00" in text
    assert "DATA CLEANING CO" in text and "withdrawn" in text
    assert "detected subaward_changed" in text


def test_rows_tied_on_a_page_boundary_are_all_read(env) -> None:
    run, db, replay = env
    # page_size 2: SUB-A and SUB-B share date and prime; if the first page ends on one of them, the
    # real cursor skips the other. The walk reads such a boundary's group again, whole.
    replay.set_subawards(
        [
            report(9101, OTHER, "SUB-A", day(50), "1000.00", "PALANTIR USG, INC."),
            report(9102, OTHER, "SUB-B", day(50), "2000.00", "PALANTIR USG, INC."),
            report(9103, OTHER, "SUB-C", day(49), "3000.00", "PALANTIR USG, INC."),
            report(9104, OTHER, "SUB-D", day(50), "4000.00", "PALANTIR USG, INC."),
        ]
    )
    assert run("poll").exit_code == 0
    assert sorted(r[0] for r in q(db, "SELECT subaward_number FROM subawards")) == ["SUB-A", "SUB-B", "SUB-C", "SUB-D"]
    assert q(db, "SELECT count(*) FROM changes WHERE kind = 'new_subaward'") == [(4,)]


def test_edited_rules_rejudge_stored_sub_recipient_matches(env, write_config, tmp_path: Path) -> None:
    run, db, replay = env
    replay.set_subawards([report(9001, OTHER, "PLTR-1", day(40), "250000.00", "PALANTIR USG, INC.")])
    assert run("poll").exit_code == 0
    assert q(db, "SELECT count(*) FROM matches WHERE entity_key LIKE 'SUBAWD_%'") == [(1,)]
    # Palantir leaves the watch: its sub-recipient match goes with it (the subaward and its history stay)
    config = write_config(page_size=2).read_text().replace("[amazon, palantir, microsoft]", "[amazon, microsoft]")
    (tmp_path / "queries.yaml").write_text(config)
    assert run("poll").exit_code == 0
    assert q(db, "SELECT count(*) FROM matches WHERE entity_key LIKE 'SUBAWD_%'") == [(0,)]
    assert q(db, "SELECT count(*) FROM subawards") == [(1,)]


def test_a_subaward_list_that_fails_is_read_again_next_poll(env) -> None:
    from watcher.fakes.server import Fault

    run, db, replay = env
    replay.set_subawards([report(7001, PAL, "SUB-001", day(30), "1200000.00", "ANALYTICS PARTNER LLC")])
    replay.faults.append(Fault("/api/v2/subawards/", 1, 404, b'{"detail": "gone"}'))
    result = run("poll")
    assert result.exit_code == 0, result.output
    assert q(db, "SELECT count(*) FROM subawards") == [(0,)]
    assert "subawards of" in q(db, "SELECT warnings FROM runs ORDER BY id DESC LIMIT 1")[0][0]
    before = len(replay.requests)
    assert run("poll").exit_code == 0  # the prime was kept without a fingerprint: read again, subawards too
    assert list_requests(replay, before) == 1
    assert q(db, "SELECT count(*) FROM subawards") == [(1,)]


def test_check_live_tests_the_subaward_level(env) -> None:
    run, db, replay = env
    replay.set_subawards(
        [
            report(9001, OTHER, "PLTR-1", day(40), "250000.00", "PALANTIR USG, INC.", uei="ABCDEFGHJKL1"),
            report(9002, OTHER, "PLTR-2", day(41), "150000.00", "PALANTIR USG, INC.", uei="ABCDEFGHJKL1"),
            report(9003, OTHER, "PLTR-3", day(42), "50000.00", "PALANTIR USG, INC.", uei="ABCDEFGHJKL1"),
        ]
    )
    result = run("check", "--live")
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "subaward search" in x)
    assert line.startswith("ok    usaspending: the subaward search serves the fields asked, with a string cursor")
    assert "cursor '" in line  # answered as a string, as the real one does
