"""`watcher backfill` at the real API's edges (issue 14), against the fakes on 127.0.0.1.

PIID walks send ``award_ids`` the way the real filter accepts them; a day fuller than the
endpoint's page window stops at its last page and says so; two identical actions stay two;
and the composed keys of backfilled actions give way to the real ones without news.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.conftest import SEEDS, awards_from, tx_row
from watcher.config import load_config
from watcher.fakes.recordings import agency_names
from watcher.fakes.sam import SamReplay
from watcher.fakes.sam_recordings import all_actions
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.fakes.usaspending_awards import ReplayAward
from watcher.http import ApiClient
from watcher.sources.registry import run_all
from watcher.sources.sam.client import SamClient
from watcher.sources.usaspending.backfill import BackfillResult, run_backfill
from watcher.store import open_db

TX_PATH = "/api/v2/search/spending_by_transaction/"
SAM_KEY = "SAMKEY-backfill-edges-0001"
DAY = date(2026, 8, 20)
PAL = "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001"
PAL_PIID = "70CTD026FC0000012"
FOUR = "CONT_AWD_70CTD025FC0000024_7012_70CTD022A00000004_7012"
IDV_PIID = "70CDCR20D00000008"
IDV = f"CONT_IDV_{IDV_PIID}_7012"
CONFIG = """\
settings:
  seeds_dir: {seeds}
  usaspending: {{min_interval_seconds: 0}}
  sam: {{min_interval_seconds: 0, daily_budget: 10}}
watches:
  ice:
    agencies: [ice]
    agency_roles: [awarding]
    vendors: [amazon, palantir, microsoft]
    award_types: [{types}]
    lookback_days: 30
    sources: [{sources}]
"""


def d(n: int) -> str:
    return (DAY - timedelta(days=n)).isoformat()


def pal(amount: str = "86271599.30", day: str | None = None, mod: str = "0", desc: str = "ERO CASE MANAGEMENT") -> Any:
    return tx_row(PAL_PIID, PAL, "PALANTIR TECHNOLOGIES INC.", amount, day or d(20), mod=mod, desc=desc)


def four() -> dict[str, str]:
    desc = "ICE CLOUD HOSTING FOR THE AMAZON WEB SERVICES ENVIRONMENT"
    return tx_row("70CTD025FC0000024", FOUR, "FOUR POINTS TECHNOLOGY, L.L.C.", "24105505.29", d(15), desc=desc)


def idv_award() -> ReplayAward:
    """An ICE IDV (an IDC) to Palantir: a backfill always re-reads an IDV's actions by PIID."""
    rows = [
        tx_row(IDV_PIID, IDV, "PALANTIR TECHNOLOGIES INC.", "0.00", d(40), desc="CASE MANAGEMENT IDC"),
        tx_row(IDV_PIID, IDV, "PALANTIR TECHNOLOGIES INC.", "0.00", d(10), mod="P00001", desc="CEILING"),
    ]
    (award,) = awards_from(rows)
    award.group = "idvs"
    award.row |= {"Contract Award Type": "INDEFINITE DELIVERY CONTRACT", "Last Date to Order": None}
    award.detail["category"] = "idv"
    for t in award.transactions:  # IDV actions have no transaction number in their ids
        t["id"] = f"CONT_TX_7012_-NONE-_{IDV_PIID}_{t['modification_number']}_-NONE-_-NONE-"
    return award


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """``make(awards, types, sources)``: a USAspending replay serving ``awards`` and a config for it."""
    servers: list[Any] = []

    def make(awards: list[ReplayAward], types: str = "contracts, idvs", sources: str = "usaspending") -> Any:
        path = tmp_path / "queries.yaml"
        path.write_text(CONFIG.format(seeds=SEEDS, types=types, sources=sources))
        config = load_config(path)
        us = UsaspendingReplay(awards)
        us.extra_agencies = agency_names(config.agencies.values())
        us.url = us.start()  # type: ignore[attr-defined]
        servers.append(us)
        monkeypatch.setenv("WATCHER_USASPENDING_URL", us.url)
        return us, config, path, tmp_path / "w.db"

    yield make
    for s in servers:
        s.stop()


def backfill(config: Any, db_path: Path, url: str, since: str, until: str) -> BackfillResult:
    db = open_db(db_path)
    try:
        with ApiClient(url, min_interval=0) as client:
            (result,) = run_backfill(db, config, client, date.fromisoformat(since), date.fromisoformat(until))
        return result
    finally:
        db.conn.close()


def q(db_path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = open_db(db_path)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.conn.close()


def tx_bodies(server: UsaspendingReplay) -> list[dict[str, Any]]:
    return [json.loads(raw) for _, path, raw in server.requests if path == TX_PATH]


# ---------------------------------------------------------------- 1. award_ids as the real API takes them


def test_the_fake_refuses_quoted_award_ids_and_matches_unquoted_ones_whole_and_case_sensitively(
    replay: UsaspendingReplay,
) -> None:
    longer = tx_row(PAL_PIID + "9", PAL.replace(PAL_PIID, PAL_PIID + "9"), "PALANTIR TECHNOLOGIES INC.", "1.00", d(3))
    replay.set_awards(awards_from([pal(), longer]))

    def ask(ids: list[str]) -> httpx.Response:
        body = {
            "filters": {"award_type_codes": ["A", "B", "C", "D"], "award_ids": ids},
            "fields": ["Award ID", "Mod"],
            "sort": "Award ID",
            "limit": 100,
            "page": 1,
        }
        return httpx.post(replay.url + TX_PATH, json=body)  # type: ignore[attr-defined]

    def piids(ids: list[str]) -> set[str]:
        r = ask(ids)
        assert r.status_code == 200, r.text
        return {row["Award ID"] for row in r.json()["results"]}

    quoted = ask([f'"{PAL_PIID}"'])  # a term query with a "query" key: Elasticsearch refuses it
    assert quoted.status_code == 503 and quoted.content == b""
    assert piids([PAL_PIID]) == {PAL_PIID}  # the whole value: not the longer PIID it begins
    assert piids([PAL_PIID.lower()]) == set()  # a keyword field: case-sensitive, nothing upper-cases it
    assert piids([PAL_PIID[:-2]]) == set()  # a regexp matches the whole PIID, never a prefix
    assert piids([PAL_PIID[:-1] + "."]) == {PAL_PIID}  # "." survives es_sanitize: any one character
    assert piids([PAL_PIID, PAL_PIID + "9"]) == {PAL_PIID, PAL_PIID + "9"}  # values are ORed


def test_a_backfill_of_a_watch_holding_idvs_reads_their_actions_by_unquoted_piid(world: Any) -> None:
    us, config, _, db = world([*awards_from([pal()]), idv_award()])
    result = backfill(config, db, us.url, d(60), d(0))
    assert result.errors == []
    walks = [b["filters"]["award_ids"] for b in tx_bodies(us) if "award_ids" in b["filters"]]
    assert walks == [[IDV_PIID]]  # the IDV's history, by its PIID as the index holds it
    keys = q(db, "SELECT transaction_key FROM transactions WHERE award_key = ? ORDER BY 1", IDV)
    assert keys == [(f"CONT_TX_7012_-NONE-_{IDV_PIID}_{m}_-NONE-_-NONE-",) for m in ("0", "P00001")]
    assert q(db, "SELECT count(*) FROM backfills WHERE finished_at IS NOT NULL") == [(1,)]


# ---------------------------------------------------------------- 2. the page-500 edge


def test_a_day_fuller_than_the_page_window_stops_at_page_499_and_says_so(world: Any) -> None:
    from watcher.cli import cli

    (award,) = awards_from([pal("0.00", day=d(5))])
    first = award.transactions[0]
    award.transactions[:] = [  # 50,050 actions signed on one day: more than pages 1-499 of 100 hold
        {**first, "modification_number": f"P{n:05d}", "id": f"{first['id'][:-3]}P{n:05d}_70RTAC26A00000001_0"}
        for n in range(50_050)
    ]
    us, _, path, db = world([award], types="contracts")
    args = ["--config", str(path), "--db", str(db), "backfill", "--since", d(5), "--until", d(5)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    warning = next(line for line in result.output.splitlines() if "49,900" in line)
    assert d(5) in warning  # names the day whose later actions could not be read
    pages = [b["page"] for b in tx_bodies(us)]
    # Each walk over the day (by recipient, by mention) stops at page 499: page 500 (a 503, issue #3218) is
    # never asked for, so never retried.
    assert max(pages) == 499 and pages.count(499) == pages.count(1) == 2
    assert q(db, "SELECT count(*) FROM transactions") == [(49_900,)]
    recorded = q(db, "SELECT warning FROM backfill_slices WHERE kind = 'transactions'")
    assert len(recorded) == 2 and all(d(5) in w and "49,900" in w for (w,) in recorded)
    assert q(db, "SELECT finished_at IS NOT NULL FROM backfills") == [(1,)]


# ---------------------------------------------------------------- 3. identical actions


def test_two_identical_actions_of_one_award_are_both_kept(world: Any) -> None:
    (award,) = awards_from([pal("1000.00")])
    twin = {**award.transactions[0], "id": award.transactions[0]["id"][:-1] + "1"}
    award.transactions.append(twin)  # two base actions, same day, amount and words: only their ids differ
    award.row["Award Amount"] = award.detail["total_obligation"] = Decimal("2000.00")
    us, config, _, db = world([award], types="contracts")
    result = backfill(config, db, us.url, d(60), d(0))
    assert result.errors == []
    rows = q(db, "SELECT transaction_key, modification_number, obligation FROM transactions WHERE award_key = ?", PAL)
    assert sorted(r[1:] for r in rows) == [("0", 1000.0), ("0", 1000.0)] and len({r[0] for r in rows}) == 2
    assert q(db, "SELECT total_obligation FROM awards") == [(2000.0,)]


def test_staged_keys_tell_twins_in_one_page_from_a_row_repeated_on_the_next() -> None:
    from watcher.sources.usaspending.history import staged_rows

    row = {"generated_internal_id": PAL, "Mod": "0", "Action Date": d(20), "Transaction Amount": 1000.0}
    other = {**row, "Mod": "P00001"}
    keys = [r[1:5] for r in staged_rows("ice", [(1, [row, row, other]), (2, [other, None, row])])]
    # Page 1 holds two identical actions (ordinals 0 and 1); page 2 repeats one row of each kind (ordinal 0),
    # which the staging table's key then keeps once.
    assert [k[3] for k in keys] == [0, 1, 0, 0, 0]
    assert len(set(keys)) == 3


# ---------------------------------------------------------------- 4. composed keys are provisional

PAL_TX = f"CONT_TX_7012_7001_{PAL_PIID}_{{mod}}_70RTAC26A00000001_{{n}}"


def numbered(awards: list[ReplayAward], piid: str, number: str) -> list[ReplayAward]:
    """Give one award's actions FPDS transaction number ``number`` (DoD's are often 1): not composable."""
    for a in awards:
        if a.row["Award ID"] == piid:
            for t in a.transactions:
                t["id"] = t["id"].rsplit("_", 1)[0] + "_" + number
    return awards


def poll(db_path: Path, config: Any, us_url: str, sources: str) -> list[Any]:
    db = open_db(db_path)
    now = f"{DAY}T12:00:00Z"
    try:
        with (
            ApiClient(us_url, min_interval=0) as us,
            SamClient(config, db, key=SAM_KEY, clock=lambda: now) as sam,  # type: ignore[attr-defined]
        ):
            return run_all(db, config, us, sam=sam, today=DAY, now=now, sources=sources)
    finally:
        db.conn.close()


def test_sam_actions_replace_the_composed_keys_of_backfilled_actions_without_news(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = numbered(awards_from([pal(), four()]), PAL_PIID, "1")  # FOUR's real numbers are 0, like composed ones
    us, config, _, db = world(before, types="contracts", sources="usaspending, sam_awards")
    assert backfill(config, db, us.url, d(60), d(0)).errors == []
    composed = [k for (k,) in q(db, "SELECT transaction_key FROM transactions WHERE award_key = ?", PAL)]
    assert composed == [PAL_TX.format(mod="0", n="0")]  # provisional: the real one ends in _1
    option = pal("5694902.00", day=d(1), mod="P00001", desc="OPTION")
    after = numbered(awards_from([pal(), four(), option]), PAL_PIID, "1")
    sam = SamReplay(keys=[SAM_KEY], daily_quota=10_000, today=lambda: DAY)
    monkeypatch.setenv("WATCHER_SAM_URL", sam.start())
    try:
        actions = all_actions(after)
        for a in actions:  # all touched this week (a correction, a closeout): the first SAM.gov window reads them
            a["awardDetails"]["transactionData"]["lastModifiedDate"] = f"{d(1)}T07:18:02Z"
        sam.set_data(actions=actions)  # SAM.gov reports both backfilled actions and a new option
        assert all(r.status == "ok" for r in poll(db, config, us.url, "sam_awards"))
    finally:
        sam.stop()
    news = q(db, "SELECT kind, entity_key, amount_delta FROM changes WHERE kind IN ('new_transaction', 'deleted')")
    assert news == [("new_transaction", PAL_TX.format(mod="P00001", n="1"), 5694902.0)]  # only the option
    rows = q(db, "SELECT transaction_key, obligation, backfilled_at FROM transactions WHERE award_key = ?", PAL)
    assert sorted(rows) == [
        (PAL_TX.format(mod="0", n="1"), 86271599.3, None),  # the real key replaced the composed one
        (PAL_TX.format(mod="P00001", n="1"), 5694902.0, None),
    ]
    # FOUR's composed key was its real one: confirmed, it is no longer provisional. Nothing counts twice.
    assert q(db, "SELECT count(*), count(backfilled_at) FROM transactions WHERE award_key = ?", FOUR) == [(1, 0)]
    assert q(db, "SELECT count(*) FROM transactions") == [(2 + 1,)]
    # USAspending catches up: its real ids are the ones already stored, so it reports no action again.
    us.set_awards(after)
    assert all(r.status == "ok" for r in poll(db, config, us.url, "usaspending"))
    assert q(db, "SELECT count(*) FROM changes WHERE kind IN ('new_transaction', 'deleted')") == [(1,)]
    assert q(db, "SELECT count(*), sum(obligation) FROM transactions WHERE award_key = ?", PAL) == [
        (2, 86271599.3 + 5694902.0)
    ]


def test_a_poll_confirming_a_composed_key_reports_no_wording_the_backfill_lacked(world: Any) -> None:
    awards = awards_from([pal()])
    awards[0].transactions[0] |= {"action_type": "C", "action_type_description": "FUNDING ONLY ACTION"}
    us, config, _, db = world(awards, types="contracts")
    assert backfill(config, db, us.url, d(60), d(0)).errors == []
    key = PAL_TX.format(mod="0", n="0")  # composed, and by chance FPDS's own number too
    assert q(db, "SELECT action_type, action_type_description, backfilled_at IS NOT NULL FROM transactions") == [
        ("C", None, 1)  # spending_by_transaction has the code, not its words
    ]
    awards[0].row["Description"] = "AMENDED: " + str(awards[0].row["Description"])  # changed: the poll re-reads it
    us.set_awards(awards)
    assert all(r.status == "ok" for r in poll(db, config, us.url, "usaspending"))
    assert q(db, "SELECT kind, entity_key FROM changes") == [("award_changed", PAL)]  # no transaction_changed
    assert q(db, "SELECT transaction_key, action_type_description, backfilled_at FROM transactions") == [
        (key, "FUNDING ONLY ACTION", None)  # the words filled in; confirmed, no longer provisional
    ]


def test_each_reported_action_takes_the_provisional_row_most_surely_its_own() -> None:
    from watcher.diff import pair_provisional
    from watcher.models import Transaction

    def row(key: str, mod: str, day: str, amount: float) -> dict[str, Any]:
        return {"transaction_key": key, "modification_number": mod, "action_date": day, "obligation": amount}

    def tx(key: str, mod: str, day: str, amount: str) -> Transaction:
        return Transaction(key, PAL, mod, day, None, None, Decimal(amount), None)

    rows = [row("C_0", "0", d(9), 100.0), row("C_1", "0", d(9), 250.0), row("C_P1", "P00001", d(5), 5.0)]
    reported = [
        tx("R_A", "0", d(9), "999.00"),  # the same day as C_0 and C_1, neither amount
        tx("R_B", "0", d(9), "100.00"),  # exactly C_0: R_A, asked first, must not take it
        tx("R_C", "0", d(8), "7.00"),  # a third base action: no provisional row left for it, so it is new
        tx("R_D", "P00002", d(1), "1.00"),  # a modification the backfill never saw
    ]
    pairs = pair_provisional(reported, rows)
    assert {k: r["transaction_key"] for k, r in pairs.items()} == {"R_A": "C_1", "R_B": "C_0"}
    assert pair_provisional([tx("R_E", "P00001", d(2), "6.00")], rows)["R_E"]["transaction_key"] == "C_P1"
