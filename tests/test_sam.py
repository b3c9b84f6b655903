"""SAM.gov end to end: samples parse, the two sources merge with USAspending, the budget holds.

The fake SAM.gov server (watcher.sam_replay) enforces the real API's rules; the contract
actions it serves are the same real ICE rows the USAspending replay serves, in SAM's shape
(watcher.sam_recordings), so both sources describe the same awards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SEEDS, awards_from, tx_row
from watcher.config import Config, load_config
from watcher.errors import SourceError
from watcher.fakes.recordings import agency_names
from watcher.fakes.sam import DeletedAction, SamReplay
from watcher.fakes.sam_recordings import all_actions
from watcher.fakes.server import Fault
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.http import ApiClient
from watcher.sources import RunResult
from watcher.sources.registry import run_all
from watcher.sources.sam.client import SamClient
from watcher.sources.sam.parse import award_page, deleted_keys, notice_page, parse_action, parse_notice
from watcher.store import open_db

SAMPLES = Path(__file__).parent / "fixtures" / "sam"
KEY = "SAMKEY-marker-7f3a9c41d2e8b6a0"
DAY = date(2026, 8, 20)
PAL = "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001"
FOUR = "CONT_AWD_70CTD025FC0000024_7012_70CTD022A00000004_7012"
NOISE = "CONT_AWD_70CDCR26P00000009_7012_-NONE-_-NONE-"


# ---------------------------------------------------------------- samples


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("sam_contract_awards_*.json")), ids=lambda p: p.name[20:60])
def test_every_contract_awards_sample_parses(path: Path) -> None:
    data = json.loads(path.read_text(), parse_float=Decimal)
    if "presignedUrl" in data:  # the extract-mode token answer is not a search page: a clear error
        with pytest.raises(SourceError, match="no awardSummary"):
            award_page(data, path.name)
        return
    rows, total = award_page(data, path.name)
    assert rows and total >= len(rows)
    for rec in rows:
        if "coreData" in rec or "awardDetails" in rec:
            action = parse_action(rec)
            assert action.id.award_key.startswith(("CONT_AWD_", "CONT_IDV_"))
            assert action.transaction.transaction_key.startswith("CONT_TX_")
            assert action.transaction.obligation is None or isinstance(action.transaction.obligation, Decimal)
        else:
            assert all(k.startswith("CONT_TX_") for k in deleted_keys(rec))


def test_contract_award_record_maps_to_usaspending_identity_and_exact_amounts() -> None:
    data = json.loads(
        (SAMPLES / "sam_contract_awards_v1__gsa-doc__ex1_dod_base_contracts_full_record.json").read_text()
    )
    (rec,), total = award_page(data, "ex1")
    assert total == 5691511  # counts arrive as strings
    a = parse_action(rec)
    assert a.award.award_key == "CONT_AWD_SPE3SU25F97V0_9700_SPE30023DSA78_9700"
    assert a.transaction.transaction_key == "CONT_TX_9700_9700_SPE3SU25F97V0_0_SPE30023DSA78_0"
    assert a.award.total_obligation == Decimal("202.39") and a.signed == "2025-02-20"
    assert a.last_modified == "2025-06-11" and a.award.start_date == "2025-02-20"  # three date formats
    assert a.award.recipient_uei == "HKK3H54PK7C3" and a.contracting == ("9700", "97AS")
    neg = json.loads((SAMPLES / "sam_contract_awards_v1__gsa-doc__ex2_purchase_orders_naics_or.json").read_text())
    b = parse_action(award_page(neg, "ex2")[0][0])
    assert b.transaction.obligation == Decimal("-7183.74") and b.transaction.action_type == "C"
    assert b.award.start_date is None  # a modification's start date is not the award's


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("sam_opportunities_*.json")), ids=lambda p: p.name[18:60])
def test_every_opportunities_sample_parses(path: Path) -> None:
    data = json.loads(path.read_text(), parse_float=Decimal)
    if "opportunitiesData" not in data:  # GSA's example 2 is one bare record
        data = {"totalRecords": 1, "opportunitiesData": [data]}
    rows, total = notice_page(data, path.name)
    assert rows and total >= len(rows)
    for rec in rows:
        n = parse_notice(rec)
        assert n["notice_id"] and n["source_url"].startswith("https://sam.gov/opp/")
        assert n["solicitation_number"] is None or n["solicitation_number"] == n["solicitation_number"].strip()
        assert "null" not in {n["title"], n["agency_path"]}


def test_award_notice_amount_is_exact_and_literal_nulls_are_none() -> None:
    data = json.loads(
        (SAMPLES / "sam_opportunities_v2__proposal-ai__search_2026-01-01_2026-02-02_limit10.json").read_text()
    )
    notices = [parse_notice(r) for r in data["opportunitiesData"]]
    award = next(n for n in notices if n["type"] == "Award Notice")
    assert award["award_amount"] == Decimal("5000000.00") and award["awardee_uei"] == "LPZ2UE7MLNL5"
    assert award["award_number"] == "36F79726D0065" and award["agency_code"] == "036.3600.36F797"
    doc = json.loads((SAMPLES / "sam_opportunities_v2__gsa-doc__example2_single_record_v2_fh_fields.json").read_text())
    n = parse_notice(doc)  # an award notice with no awardee at all, and "null" as a string in places
    assert n["award_amount"] == Decimal("350567.00") and n["awardee_name"] is None and n["awardee_uei"] is None
    assert n["source_url"] == "https://sam.gov/opp/ff826a59eac743c4a1a07ff5e0cf3e3a/view"  # not uiLink's "null"
    assert n["agency_code"] == "047.4732.47QTCA" and n["response_deadline"] is None


# ---------------------------------------------------------------- the fake SAM.gov world

CONFIG = """\
settings:
  seeds_dir: {seeds}
  usaspending: {{min_interval_seconds: 0}}
  sam: {{min_interval_seconds: 0, daily_budget: {budget}, page_size: {page_size}, notice_page_size: {notice_page}}}
watches:
  ice:
    agencies: [ice]
    agency_roles: [{roles}]
    vendors: [amazon, palantir, microsoft]
    award_types: [contracts]
    lookback_days: 30
    sources: [{sources}]
"""


@dataclass
class World:
    """Both fake APIs, a config and a database; ``poll(day)`` runs one poll on that simulated day."""

    us: UsaspendingReplay
    sam: SamReplay
    config: Config
    path: Path

    def poll(self, day: date, hour: int = 12, key: str | None = KEY) -> list[RunResult]:
        self.sam.today = lambda: day
        now = f"{day}T{hour:02d}:00:00Z"
        db = open_db(self.path)  # a fresh connection each time: the budget must live in the database
        try:
            with (
                ApiClient(self.us.url, min_interval=0) as us,
                SamClient(  # type: ignore[attr-defined]
                    self.config, db, key=key, clock=lambda: now
                ) as sam,
            ):
                return run_all(db, self.config, us, sam=sam, today=day, now=now)
        finally:
            db.conn.close()

    def q(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        db = open_db(self.path)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.conn.close()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    servers: list[Any] = []

    def make(
        budget: int = 10, page_size: int = 100, notice_page: int = 1000, sources: str = "", roles: str = "awarding"
    ) -> World:
        sources = sources or "usaspending, sam_awards, sam_opportunities"
        path = tmp_path / "queries.yaml"
        text = CONFIG.format(
            seeds=SEEDS, budget=budget, page_size=page_size, notice_page=notice_page, sources=sources, roles=roles
        )
        path.write_text(text)
        config = load_config(path)
        us = UsaspendingReplay()
        us.extra_agencies = agency_names(config.agencies.values())
        us.url = us.start()  # type: ignore[attr-defined]
        sam = SamReplay(keys=[KEY], daily_quota=10_000)
        monkeypatch.setenv("WATCHER_SAM_URL", sam.start())
        servers.extend([us, sam])
        return World(us, sam, config, tmp_path / "w.db")

    yield make
    for s in servers:
        s.stop()


def d(n: int) -> str:
    return (DAY - timedelta(days=n)).isoformat()


def rows_before() -> list[dict[str, str]]:
    return [
        tx_row(
            "70CTD026FC0000012", PAL, "PALANTIR TECHNOLOGIES INC.", "86271599.30", d(20), desc="ERO CASE MANAGEMENT"
        ),
        tx_row(
            "70CTD025FC0000024",
            FOUR,
            "FOUR POINTS TECHNOLOGY, L.L.C.",
            "24105505.29",
            d(15),
            desc="ICE CLOUD HOSTING FOR THE AMAZON WEB SERVICES ENVIRONMENT",
        ),
        tx_row("70CDCR26P00000009", NOISE, "ACME SUPPLY CO", "500.00", d(2), desc="SHELVING"),
    ]


NEW_MOD = tx_row(
    "70CTD026FC0000012", PAL, "PALANTIR TECHNOLOGIES INC.", "5694902.00", d(1), mod="P00001", desc="OPTION"
)
NEW_AWARD_KEY = "CONT_AWD_70CTD026FC0000099_7012_-NONE-_-NONE-"
NEW_AWARD = tx_row("70CTD026FC0000099", NEW_AWARD_KEY, "MICROSOFT CORPORATION", "1200000.00", d(1), desc="AZURE")


def kinds(w: World, source: str) -> list[tuple[str, str]]:
    return [(k, e) for k, e in w.q("SELECT kind, entity_key FROM changes WHERE source = ? ORDER BY id", source)]


def test_sam_reports_first_and_usaspending_catching_up_reports_nothing_again(world) -> None:
    w = world(roles="awarding, funding")  # the contracting and funding walks both return each action
    before = awards_from(rows_before())
    after = awards_from([*rows_before(), NEW_MOD, NEW_AWARD])
    w.us.set_awards(before)
    w.poll(DAY - timedelta(days=1))  # day 1: both sources agree
    assert kinds(w, "sam_awards") == []  # the same actions SAM.gov serves were already stored
    sam_actions = all_actions(after)
    for a in sam_actions:  # the sources spell things differently (docs/api/sam.md 5): SAM.gov's own wording
        if a["contractId"]["piid"] == "70CTD026FC0000099":
            a["awardDetails"]["awardeeData"]["awardeeHeader"]["awardeeName"] = "Microsoft Corp"
    w.sam.set_data(actions=sam_actions)  # SAM.gov learns of a new modification and a new award
    results = w.poll(DAY)
    sam_changes = kinds(w, "sam_awards")
    assert ("new_award", NEW_AWARD_KEY) in sam_changes
    assert ("award_changed", PAL) in sam_changes
    assert [k for k, e in sam_changes if e.endswith("_P00001_70RTAC26A00000001_0")] == ["new_transaction"]
    assert w.q("SELECT total_obligation FROM awards WHERE award_key = ?", PAL) == [(91966501.30,)]
    assert not [r for r in results if r.status != "ok"]
    # The noise award (not about our vendors) was not stored from SAM.gov either.
    assert w.q("SELECT count(*) FROM awards WHERE award_key = ?", NOISE) == [(0,)]
    # USAspending catches up the next day: nothing SAM.gov reported is reported again.
    w.us.set_awards(after)
    w.poll(DAY + timedelta(days=1), hour=1)
    late = w.q(
        "SELECT kind, entity_key, diff FROM changes WHERE source = 'usaspending' AND detected_at >= ?", f"{DAY}T23"
    )
    assert not [c for c in late if c[1] in (PAL, NEW_AWARD_KEY) or "P00001" in c[1]], late
    # One record per thing: same keys as a database fed by USAspending alone, both sources in provenance.
    assert w.q("SELECT count(*) FROM awards") == [(3,)]
    assert w.q("SELECT count(*) FROM transactions WHERE award_key = ?", PAL) == [(2,)]
    assert sorted(r[0] for r in w.q("SELECT source FROM provenance WHERE entity_key = ?", NEW_AWARD_KEY)) == [
        "sam_awards",
        "usaspending",
    ]
    # USAspending's wording replaced SAM.gov's silently; agency codes were named as USAspending names them.
    assert w.q("SELECT recipient_name, awarding_subagency FROM awards WHERE award_key = ?", NEW_AWARD_KEY) == [
        ("MICROSOFT CORPORATION", "U.S. Immigration and Customs Enforcement")
    ]


def test_usaspending_lagging_behind_sam_does_not_undo_its_news(world) -> None:
    w = world()
    before, after = awards_from(rows_before()), awards_from([*rows_before(), NEW_MOD])
    w.us.set_awards(before)
    w.sam.set_data(actions=all_actions(after))
    w.poll(DAY)
    # USAspending's row for the award changes (a new end date) while it still lacks the modification.
    w.us.awards[PAL].row["End Date"] = "2027-01-01"
    w.us.set_awards(list(w.us.awards.values()))
    w.poll(DAY, hour=13)
    assert w.q("SELECT total_obligation FROM awards WHERE award_key = ?", PAL) == [(91966501.30,)]
    reversed_totals = [
        c for c in w.q("SELECT diff FROM changes WHERE entity_key = ?", PAL) if "total_obligation" in c[0]
    ]
    assert len(reversed_totals) == 1  # SAM.gov's increase, never an "increase" back down


def test_deleted_action_becomes_a_deleted_change(world) -> None:
    w = world()
    after = awards_from([*rows_before(), NEW_MOD])
    w.us.set_awards(after)
    w.poll(DAY - timedelta(days=1))
    (mod_key,) = [k for (k,) in w.q("SELECT transaction_key FROM transactions WHERE modification_number = 'P00001'")]
    deleted = next(a for a in all_actions(after) if a["contractId"]["modificationNumber"] == "P00001")
    w.sam.set_data(deleted=[DeletedAction(DAY, {"contractId": deleted["contractId"]})])
    w.poll(DAY)
    (row,) = w.q("SELECT kind, award_key, amount_delta, diff FROM changes WHERE entity_key = ?", mod_key)
    assert row[:3] == ("deleted", PAL, -5694902.0) and json.loads(row[3])["obligation"] == ["5694902.00", None]
    assert w.q("SELECT count(*) FROM transactions WHERE transaction_key = ?", mod_key) == [(0,)]


def _notice(nid: str, ntype: str, title: str, code: str, path: str, posted: str, **award: Any) -> dict[str, Any]:
    """A notice in the shape of the recorded 2026 sample, placed at a DHS office (no DHS sample exists)."""
    rec: dict[str, Any] = {
        "noticeId": nid,
        "title": title,
        "solicitationNumber": " 70CDCT26R00000001 ",
        "fullParentPathName": path,
        "fullParentPathCode": code,
        "postedDate": posted,
        "type": ntype,
        "baseType": ntype,
        "active": "Yes",
        "award": None,
        "description": "null",
        "uiLink": "null",
        "responseDeadLine": "2026-09-02T16:00:00-04:00",
    }
    if award:
        rec["award"] = {
            "date": posted,
            "number": award["number"],
            "amount": award["amount"],
            "awardee": award["awardee"],
        }
    return rec


ICE_PATH = "HOMELAND SECURITY, DEPARTMENT OF.US IMMIGRATION AND CUSTOMS ENFORCEMENT.ICE-CONTRACTING"
NOTICES = [
    _notice(
        "a" * 32,
        "Award Notice",
        "ERO CASE MANAGEMENT",
        "070.7012.70CDCT",
        ICE_PATH,
        d(0),
        number="70CTD026-FC0000012",
        amount="86,271,599.30",
        awardee={"name": "PALANTIR TECHNOLOGIES INC."},
    ),
    _notice("b" * 32, "Sources Sought", "AMAZON WEB SERVICES GOVCLOUD SUPPORT", "070.7012.70CDCT", ICE_PATH, d(1)),
    _notice("c" * 32, "Solicitation", "JANITORIAL SERVICES", "070.7012.70CDCT", ICE_PATH, d(1)),
    _notice("d" * 32, "Solicitation", "PALANTIR LICENSES", "036.3600.36F797", "VETERANS AFFAIRS, DEPARTMENT OF", d(1)),
]


def test_notices_for_watched_agencies_are_kept_linked_and_paged_by_count(world) -> None:
    w = world(notice_page=2, sources="usaspending, sam_opportunities")
    w.us.set_awards(awards_from(rows_before()))
    w.sam.set_data(notices=NOTICES)
    w.poll(DAY)
    got = dict(w.q("SELECT notice_id, award_key FROM notices"))
    assert got == {"a" * 32: PAL, "b" * 32: None}  # janitorial (no vendor) and the VA notice are not kept
    assert sorted(k for k, _ in kinds(w, "sam_opportunities")) == ["new_notice", "new_notice"]
    reasons = dict(w.q("SELECT entity_key, reason FROM matches WHERE entity_key IN (?, ?)", "a" * 32, "b" * 32))
    assert reasons["b" * 32] == "mention"
    # 4 notices at 2 a page: exactly pages 0 and 1; a page past the end would return a stray record.
    offsets = [r.params["offset"] for r in w.sam.requests if "opportunities" in r.path]
    assert offsets == [["0"], ["1"]]
    assert w.q("SELECT solicitation_number FROM notices WHERE notice_id = ?", "b" * 32) == [("70CDCT26R00000001",)]
    changed = [dict(n) for n in NOTICES]
    changed[1]["type"] = "Solicitation"
    w.sam.set_data(notices=changed)
    w.poll(DAY + timedelta(days=1))
    (diff,) = [json.loads(x) for k, e, x in w.q("SELECT kind, entity_key, diff FROM changes") if k == "notice_changed"]
    assert diff == {"type": ["Sources Sought", "Solicitation"]}


def test_the_budget_holds_across_polls_and_restarts_and_resumes_where_it_stopped(world) -> None:
    w = world(budget=3, page_size=2, sources="usaspending, sam_awards")
    rows = [
        tx_row(
            f"70CTD026FC00001{i:02d}",
            f"CONT_AWD_70CTD026FC00001{i:02d}_7012_-NONE-_-NONE-",
            "PALANTIR TECHNOLOGIES INC.",
            f"{1000 + i}.00",
            d(1),
            desc="LICENSES",
        )
        for i in range(7)
    ]
    w.sam.set_data(actions=all_actions(awards_from(rows)))
    w.poll(DAY)
    assert w.sam.used(DAY) == 3  # the ICE walk needs 4 pages of 2; the budget stops it after 3
    assert w.q("SELECT count(*) FROM awards") == [(6,)]
    (walk,) = w.q("SELECT next_page, pages FROM sam_walks WHERE query LIKE '%7012%'")
    assert walk == (3, 4)
    w.poll(DAY, hour=18)  # same day, new process: nothing left to spend, nothing sent
    assert w.sam.used(DAY) == 3 and w.q("SELECT count(*) FROM sam_requests WHERE day = ?", str(DAY)) == [(3,)]
    results = w.poll(DAY + timedelta(days=1), hour=0)
    offsets = [r.params["offset"][0] for r in w.sam.requests if r.day == DAY + timedelta(days=1)]
    assert offsets[0] == "3"  # resumed at its next page, same window
    assert w.q("SELECT count(*) FROM awards") == [(7,)]
    assert all(r.status != "error" for r in results)
    assert max(w.sam.used(DAY + timedelta(days=i)) for i in range(2)) <= 3
    assert not [r for r in w.sam.requests if r.status == 429]


def test_a_week_of_polls_never_exceeds_the_budget_and_misses_nothing_that_fit(world) -> None:
    w = world(budget=4, page_size=100, sources="usaspending, sam_awards")
    start = DAY - timedelta(days=7)
    # Real ICE rows: Palantir, reseller and Microsoft awards, with one busy day of 230 noise actions.
    rows = []
    for i in range(7):
        rows.append(
            tx_row(
                "70CTD026FC0000012",
                PAL,
                "PALANTIR TECHNOLOGIES INC.",
                "1000.00",
                (start + timedelta(days=i)).isoformat(),
                mod=f"P0000{i + 1}",
                desc="OPTION",
            )
        )
    for i in range(230):
        rows.append(
            tx_row(
                f"70CDCR26P00{i:06d}",
                f"CONT_AWD_70CDCR26P00{i:06d}_7012_-NONE-_-NONE-",
                "ACME SUPPLY CO",
                "10.00",
                (start + timedelta(days=2)).isoformat(),
            )
        )
    rows.append(
        tx_row(
            "70CTD026FC0000077",
            "CONT_AWD_70CTD026FC0000077_7012_-NONE-_-NONE-",
            "MICROSOFT CORPORATION",
            "99.00",
            (start + timedelta(days=3)).isoformat(),
            desc="AZURE",
        )
    )
    awards = awards_from(rows)
    w.sam.daily_quota = 4  # SAM.gov's own limit equals our budget: one extra request would be a 429
    for i in range(8):
        today = start + timedelta(days=i)
        live = [
            a
            for a in all_actions(awards)
            if a["awardDetails"]["transactionData"]["lastModifiedDate"][:10] <= str(today)
        ]
        w.sam.set_data(actions=live)
        w.poll(today, hour=6)
    days = sorted({r.day for r in w.sam.requests})
    assert all(w.sam.used(day) <= 4 for day in days) and not [r for r in w.sam.requests if r.status == 429]
    held = {k for (k,) in w.q("SELECT transaction_key FROM transactions")}
    wanted = {
        a["contractId"]["modificationNumber"]
        for a in all_actions(awards)
        if a["contractId"]["piid"] == "70CTD026FC0000012"
    }
    assert {k.split("_")[5] for k in held if "70CTD026FC0000012" in k} == wanted  # all 7 modifications
    assert any("70CTD026FC0000077" in k for k in held)  # the award reported on the busy day's neighbour


def test_no_key_skips_sam_and_usaspending_still_runs(world) -> None:
    w = world()
    w.us.set_awards(awards_from(rows_before()))
    results = w.poll(DAY, key="")
    by_source = {r.source: r for r in results}
    assert by_source["usaspending"].status == "ok" and by_source["usaspending"].changes == 2
    assert by_source["sam_awards"].status == by_source["sam_opportunities"].status == "skipped"
    assert "SAM_API_KEY is not set" in (by_source["sam_awards"].error or "")
    assert w.sam.requests == []


def test_expired_key_is_reported_as_such_and_stops_sam(world) -> None:
    w = world()
    w.sam.keys.clear()
    w.sam.expired_keys.add(KEY)
    results = w.poll(DAY)
    sam = [r for r in results if r.source.startswith("sam_")]
    assert all(r.status == "error" and "key invalid or expired" in (r.error or "") for r in sam)
    assert len(w.sam.requests) == 1  # the first refusal stops every other SAM.gov query
    assert KEY not in json.dumps([r.error for r in results])


def test_429_blocks_sam_until_next_access_time(world) -> None:
    w = world()
    w.sam.daily_quota = 1  # the key is shared with someone else: SAM.gov refuses before our budget ends
    results = w.poll(DAY)
    assert [r.status for r in results if r.source == "sam_awards"] == ["error"]
    assert w.q("SELECT next_access_at FROM sam_requests WHERE status = 429") == [
        (f"{DAY + timedelta(days=1)}T00:00:00Z",)
    ]
    sent = len(w.sam.requests)
    later = w.poll(DAY, hour=20)
    assert len(w.sam.requests) == sent  # nothing sent while blocked
    assert {r.status for r in later if r.source.startswith("sam_")} == {"skipped"}
    w.poll(DAY + timedelta(days=1), hour=1)
    assert len(w.sam.requests) > sent


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault("/contract-awards", 1, 200, b'"Max value allowed for parameter \\"limit\\" is 100"'), "limit"),
        (Fault("/contract-awards", 1, 400, b'{"message": "The search parameter, foo does not exist."}'), "foo"),
        (Fault("/contract-awards", 1, 200, b"<html><body>Service Unavailable</body></html>", "text/html"), "not JSON"),
    ],
)
def test_errors_that_arrive_as_200_or_400_are_clear_and_other_sources_run(world, fault: Fault, message: str) -> None:
    w = world()
    w.us.set_awards(awards_from(rows_before()))
    w.sam.faults.append(fault)
    results = {r.source: r for r in w.poll(DAY)}
    assert results["sam_awards"].status == "error" and message in (results["sam_awards"].error or "")
    assert results["usaspending"].status == "ok" and results["sam_opportunities"].status == "ok"


def test_a_5xx_is_retried_once_and_both_attempts_are_counted(world) -> None:
    w = world(sources="sam_opportunities")
    w.sam.faults.append(Fault("/opportunities", 1, 503, b"{}"))
    (result,) = w.poll(DAY)
    assert result.status == "ok"
    assert [r[0] for r in w.q("SELECT status FROM sam_requests ORDER BY id")] == [503, 404]  # 404: No Data found


@pytest.mark.slow
def test_cli_with_a_marker_key_never_leaks_it_and_keeps_the_budget_across_processes(world, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    w = world(budget=3, page_size=2, sources="usaspending, sam_awards, sam_opportunities")
    today = date.today()
    rows = [
        tx_row(
            f"70CTD026FC00002{i:02d}",
            f"CONT_AWD_70CTD026FC00002{i:02d}_7012_-NONE-_-NONE-",
            "PALANTIR TECHNOLOGIES INC.",
            f"{2000 + i}.00",
            (today - timedelta(days=1)).isoformat(),
            desc="LICENSES",
        )
        for i in range(7)
    ]
    w.sam.set_data(actions=all_actions(awards_from(rows), lag_days=0), notices=NOTICES)
    config = tmp_path / "queries.yaml"
    config.write_text(
        config.read_text()
        + "subscribers:\n  team:\n    email: team@example.org\n    cadence: instant\n"
        + f"  # the key is {KEY[:6]}... (never written anywhere)\n"
    )
    env = {
        **os.environ,
        "SAM_API_KEY": KEY,
        "WATCHER_SAM_URL": os.environ["WATCHER_SAM_URL"],
        "WATCHER_USASPENDING_URL": w.us.url,  # type: ignore[attr-defined]
    }
    outputs = []

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        base = [sys.executable, "-m", "watcher", "-vv", "--config", str(config), "--db", str(tmp_path / "cli.db")]
        proc = subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=120)
        outputs.append(proc.stdout + proc.stderr)
        return proc

    plan = cli("check")  # what a poll will ask SAM.gov, before anything is sent
    assert "SAM.gov: 3 queries" in plan.stdout and "sam_awards: contracting 7012 (ICE)" in plan.stdout
    first = cli("poll")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "ice / sam_awards:" in first.stdout
    second = cli("poll")  # a new process, the same UTC day: the budget is already spent
    assert second.returncode == 0 and w.sam.used(today) == 3
    status = cli("status")
    assert "SAM.gov budget" in status.stdout and "3 of 3 requests used, 0 left" in status.stdout
    assert "stopped at page" in status.stdout  # the walk the budget interrupted, and where it resumes
    assert cli("digest", "--outbox", str(tmp_path / "out")).returncode == 0
    assert cli("site", "--out", str(tmp_path / "site")).returncode == 0
    w.sam.keys.clear()  # the key expires: refused, reported, still not leaked
    w.sam.expired_keys.add(KEY)
    config.write_text(config.read_text().replace("daily_budget: 3", "daily_budget: 10"))
    refused = cli("poll", "--source", "sam_awards")
    assert refused.returncode == 1 and "key invalid or expired" in refused.stderr
    emls = list((tmp_path / "out").glob("*.eml"))
    assert emls and "PALANTIR" in emls[0].read_text()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    leaks = [str(p) for p in files if KEY.encode() in p.read_bytes()]
    assert leaks == [] and not [o for o in outputs if KEY in o]
    assert any("api_key=REDACTED" in o or "SAM.gov" in o for o in outputs)


def test_windows_resume_or_reach_back_to_the_last_complete_walk() -> None:
    from watcher.sources.sam.walk import due, next_window

    today = date(2026, 8, 20)
    assert next_window(None, today, 3, 60) == (date(2026, 8, 17), today, 0)
    # A query the budget left unread for a week: its next window reaches back to where it stopped.
    done = {"done_through": "2026-08-10", "done_at": "2026-08-10T06:00:00Z", "next_page": 0}
    assert next_window(done, today, 3, 60) == (date(2026, 8, 7), today, 0)
    # ... in windows of at most max_window_days, oldest first: a catch-up window ends before today,
    assert next_window(done, today, 3, 5) == (date(2026, 8, 7), date(2026, 8, 12), 0)
    sliced = {**done, "done_through": "2026-08-12", "done_at": None}  # and the next goes on from where it ended
    assert next_window(sliced, today, 3, 5) == (date(2026, 8, 12), date(2026, 8, 17), 0)
    assert due(sliced, "2026-08-12T07:00:00Z", 20)  # a catch-up under way is always due
    assert next_window({**done, "done_through": "2026-08-19"}, today, 3, 2)[0] == date(2026, 8, 18)  # room to move
    stopped = {**done, "next_page": 2, "window_from": "2026-08-12", "window_to": "2026-08-19"}
    assert next_window(stopped, today, 3, 60) == (date(2026, 8, 12), date(2026, 8, 19), 2)  # same window
    assert due(stopped, "2026-08-10T07:00:00Z", 20)  # a walk in progress is always due
    assert not due(done, "2026-08-10T20:00:00Z", 20) and due(done, "2026-08-11T02:00:00Z", 20)


def test_vendor_queries_use_uei_lists_of_at_most_100_and_one_q_per_mention(world, tmp_path: Path) -> None:
    from watcher.sources.sam.awards import watch_queries

    ueis = [f"UEI{i:09d}" for i in range(150)]
    (tmp_path / "queries.yaml").write_text(
        CONFIG.format(
            seeds=SEEDS, budget=10, page_size=100, notice_page=1000, sources="sam_awards", roles="awarding"
        ).replace("vendors: [amazon, palantir, microsoft]", "vendors: [acme]\n    sam_queries: vendors")
        + "    keywords: [REKOGNITION]\n"
    )
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "agencies.yaml").write_text((SEEDS / "agencies.yaml").read_text())
    lines = ["vendors:", "  acme:", "    name: Acme Analytics", "    mentions: [ACME GRAPH]", "    ueis:"]
    lines += [f"      - {{uei: {u}, evidence: test}}" for u in ueis]
    lines += ["    parent_ueis:", "      - {uei: PARENT000001, evidence: test}"]
    (seeds / "vendors.yaml").write_text("\n".join(lines) + "\n")
    text = (tmp_path / "queries.yaml").read_text().replace(f"seeds_dir: {SEEDS}", f"seeds_dir: {seeds}")
    (tmp_path / "queries.yaml").write_text(text)
    config = load_config(tmp_path / "queries.yaml")
    queries = watch_queries(config.watches["ice"], config.resellers)
    params = [dict(q.params) for q in queries]
    lists = [p["awardeeUniqueEntityId"].split("~") for p in params if "awardeeUniqueEntityId" in p]
    assert [len(x) for x in lists] == [100, 50] and sorted(u for x in lists for u in x) == ueis
    assert {"contractingDepartmentCode": "7000", "ultimateParentUniqueEntityId": "PARENT000001"} in params
    assert sorted(p["q"] for p in params if "q" in p) == ["ACME GRAPH", "REKOGNITION"]
    # Against the fake: the UEI list finds the vendor's action; the agency filter keeps only ICE's.
    w = world(sources="sam_awards")
    w.config = config
    action = all_actions(awards_from([NEW_AWARD]))[0]
    action["awardDetails"]["awardeeData"]["awardeeUEIInformation"]["uniqueEntityId"] = ueis[120]
    action["coreData"]["federalOrganization"]["contractingInformation"]["contractingDepartment"]["code"] = "7000"
    w.sam.set_data(actions=[action])
    w.poll(DAY)
    assert w.q("SELECT award_key FROM awards") == [(NEW_AWARD_KEY,)]
    assert w.q("SELECT reason FROM matches") == [("uei",)]


def test_status_warns_two_weeks_before_the_key_expires_and_after_a_refusal(world) -> None:
    from watcher.ops import status
    from watcher.sources.sam.client import budget_report

    w = world(sources="sam_awards")
    w.sam.keys.clear()
    w.sam.expired_keys.add(KEY)
    w.poll(DAY)
    settings = w.config.settings.model_copy(
        update={"sam": w.config.settings.sam.model_copy(update={"key_expires": DAY + timedelta(days=10)})}
    )
    config = w.config.model_copy(update={"settings": settings})
    db = open_db(w.path)
    try:
        report = budget_report(db, config, now=f"{DAY}T18:00:00Z")
        text = status.render({**status.report(db, w.path), "sam": report})
    finally:
        db.conn.close()
    assert report is not None and report["used"] == 1 and report["left"] == 9
    assert f"the SAM.gov key expires {DAY + timedelta(days=10)} (10 days)" in text
    assert "key invalid or expired: HTTP 403" in text
