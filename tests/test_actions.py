"""What only the transaction index shows: mentions in modifications, late corrections, funding-only agencies.

These run through the CLI against the replay server, which is as strict as the real API
here (docs/api/usaspending.md traps 20-23): its award index searches only an award's base
description, an award's Last Modified Date follows its latest action date, and the
awarding autocomplete lists only agencies with awarding data.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from tests.conftest import awards_from, tx_row
from watcher.cli import cli
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.sources.usaspending.actions import Action, awards_to_read

TODAY = date.today()
PAL = "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001"
# A reseller order: "CLOUD HOSTING" at first; AWS is named only by its seventh modification.
FOUR = "CONT_AWD_70CMSD20FR0000043_7012_GS35F0553P_4730"
AWS_TEXT = "INCREMENTAL FUNDING FOR AMAZON WEB SERVICES (AWS) CLOUD HOSTING FOR SEVP"


def day(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def rows() -> list[dict[str, str]]:
    return [
        tx_row("70CTD026FC0000012", PAL, "PALANTIR TECHNOLOGIES INC.", "1000.00", day(20), desc="ERO CASE MANAGEMENT"),
        tx_row("70CTD026FC0000012", PAL, "PALANTIR TECHNOLOGIES INC.", "500.00", day(15), "P00001", "ADD LICENSES"),
        tx_row("70CTD026FC0000012", PAL, "PALANTIR TECHNOLOGIES INC.", "250.00", day(10), "P00002", "OPTION YEAR"),
        tx_row("70CMSD20FR0000043", FOUR, "FOUR POINTS TECHNOLOGY, L.L.C.", "9000.00", day(25), desc="CLOUD HOSTING"),
        tx_row("70CMSD20FR0000043", FOUR, "FOUR POINTS TECHNOLOGY, L.L.C.", "700.00", day(9), "P00007", AWS_TEXT),
    ]


@pytest.fixture
def env(replay: UsaspendingReplay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    replay.set_awards(awards_from(rows()))
    config = write_config()
    db = tmp_path / "w.db"

    def poll(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), "poll", *args])

    return poll, db, replay


def q(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def post(replay: UsaspendingReplay, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{replay.url}{path}", json=body)  # type: ignore[attr-defined]


def test_the_award_index_does_not_search_modifications_but_the_transaction_index_does(env) -> None:
    _, _, replay = env
    filters = {"award_type_codes": ["A", "B", "C", "D"], "keywords": ["Amazon Web Services"]}
    fields = ["Award ID", "generated_internal_id", "Last Modified Date"]
    awards = post(replay, "/api/v2/search/spending_by_award/", {"filters": filters, "fields": fields})
    assert awards.json()["results"] == []  # P00007's text is not in the award index (trap 20)
    body = {"filters": filters, "fields": ["Award ID", "Mod"], "sort": "Mod", "limit": 10}
    txs = post(replay, "/api/v2/search/spending_by_transaction/", body)
    assert [(r["Award ID"], r["Mod"]) for r in txs.json()["results"]] == [("70CMSD20FR0000043", "P00007")]
    # The real view refuses a sort that is not among the fields, and quoted award ids (trap 22).
    refused = post(replay, "/api/v2/search/spending_by_transaction/", {**body, "sort": "Action Date"})
    assert refused.status_code == 400 and "Sort value not found in fields" in refused.text
    quoted = {"filters": {"award_type_codes": ["A", "B", "C", "D"], "award_ids": ['"70CMSD20FR0000043"']}}
    answer = post(replay, "/api/v2/search/spending_by_award/", {**quoted, "fields": fields})
    assert answer.status_code == 503 and answer.content == b""
    unquoted = {"filters": {"award_type_codes": ["A", "B", "C", "D"], "award_ids": ["70cmsd20fr0000043"]}}
    assert post(replay, "/api/v2/search/spending_by_award/", {**unquoted, "fields": fields}).json()["results"] == []


def test_a_vendor_named_only_in_a_modification_is_found_with_that_modification_as_evidence(env) -> None:
    poll, db, replay = env
    result = poll()
    assert result.exit_code == 0, result.output
    [(vendor, reason, evidence)] = q(db, "SELECT vendor, reason, evidence FROM matches WHERE entity_key = ?", FOUR)
    assert (vendor, reason) == ("amazon", "mention")
    assert "in modification P00007" in evidence and "AMAZON WEB SERVICES" in evidence
    assert "known Amazon Web Services reseller" in evidence
    assert q(db, "SELECT count(*) FROM transactions WHERE award_key = ?", FOUR) == [(2,)]
    assert q(db, "SELECT kind FROM changes WHERE entity_key = ?", FOUR) == [("new_award",)]
    # Four Points is a known reseller: the award walk by recipients lists it too (the resellers are searched
    # for the review queue), so no by-id search is needed for it.
    by_id = [json.loads(b) for _, p, b in replay.requests if p.endswith("spending_by_award/") and b"award_ids" in b]
    assert by_id == []


def test_an_unknown_integrators_order_named_only_in_a_modification_is_read_by_its_piid(env) -> None:
    poll, db, replay = env
    key = "CONT_AWD_70CMSD20FR0000044_7012_-NONE-_-NONE-"
    extra = [
        tx_row("70CMSD20FR0000044", key, "SEVP CLOUD PARTNERS LLC", "9000.00", day(25), desc="CLOUD HOSTING"),
        tx_row("70CMSD20FR0000044", key, "SEVP CLOUD PARTNERS LLC", "700.00", day(9), "P00007", AWS_TEXT),
    ]
    replay.set_awards(awards_from([*rows(), *extra]))
    assert poll().exit_code == 0
    [(reason, evidence)] = q(db, "SELECT reason, evidence FROM matches WHERE entity_key = ?", key)
    assert reason == "mention" and "in modification P00007" in evidence
    # No walk by name or award text lists it; the transaction walk does, and its row comes from one by-id
    # search (unquoted PIID), not one request per award.
    by_id = [json.loads(b) for _, p, b in replay.requests if p.endswith("spending_by_award/") and b"award_ids" in b]
    assert [b["filters"]["award_ids"] for b in by_id] == [["70CMSD20FR0000044"]]


def test_a_correction_to_an_older_modification_is_one_transaction_changed(env) -> None:
    poll, db, replay = env
    assert poll().exit_code == 0
    before = q(db, "SELECT count(*) FROM changes")[0][0]
    pal = replay.awards[PAL]
    p1 = next(t for t in pal.transactions if t["modification_number"] == "P00001")
    p1["description"] = "ADD LICENSES (CORRECTED: FOUNDRY SEATS)"
    pal.modified[p1["id"]] = day(0)  # corrected today; the award's Last Modified Date stays day(10)
    replay.set_awards(list(replay.awards.values()))
    result = poll()
    assert result.exit_code == 0, result.output
    changes = q(db, "SELECT kind, entity_key, diff FROM changes WHERE id > ?", before)
    assert [(k, e) for k, e, _ in changes] == [("transaction_changed", p1["id"].upper())]
    assert "FOUNDRY SEATS" in changes[0][2]
    # A third poll: the walk still lists the corrected action, but it is stored as such now.
    assert poll().exit_code == 0
    assert q(db, "SELECT count(*) FROM changes")[0][0] == before + 1


def test_a_funding_only_agency_passes_the_name_check(env, tmp_path: Path) -> None:
    poll, db, replay = env
    config = tmp_path / "queries.yaml"
    config.write_text(config.read_text().replace("agency_roles: [awarding]", "agency_roles: [awarding, funding]"))
    # Data where ICE only funds: the awarding autocomplete cannot know it, the funding one does.
    for a in replay.awards.values():
        a.row["Awarding Sub Agency"] = "Office of Procurement Operations"
    replay.set_awards(list(replay.awards.values()))
    replay.extra_agencies = set()
    ask = {"search_text": "Immigration and Customs Enforcement", "limit": 10}
    awarding = post(replay, "/api/v2/autocomplete/awarding_agency_office/", ask).json()["results"]["subtier_agency"]
    funding = post(replay, "/api/v2/autocomplete/funding_agency_office/", ask).json()["results"]["subtier_agency"]
    assert awarding == [] and [a["name"] for a in funding] == ["U.S. Immigration and Customs Enforcement"]
    result = poll()
    assert result.exit_code == 0, result.output
    assert q(db, "SELECT status, error FROM runs") == [("ok", None)]


def test_awards_to_read_compares_actions_and_judges_strangers_by_their_text(write_config) -> None:
    from watcher.config import load_config
    from watcher.match import build_matcher

    config = load_config(write_config())
    matcher = build_matcher(next(iter(config.watches.values())), config.resellers)
    held = Action("CONT_AWD_A", "A", "P00001", "2026-01-02", None, "Option year", "PALANTIR TECHNOLOGIES INC.", None)
    stored = {"CONT_AWD_A": [("P00001", "2026-01-02", None, "OPTION  YEAR")]}  # same words, other spacing/case
    assert awards_to_read([held], stored, {"CONT_AWD_A"}, matcher) == ({}, set())
    moved = Action("CONT_AWD_A", "A", "P00001", "2026-01-03", None, "Option year", "PALANTIR TECHNOLOGIES INC.", None)
    assert set(awards_to_read([moved], stored, {"CONT_AWD_A"}, matcher)[0]) == {"CONT_AWD_A"}
    noise = Action("CONT_AWD_N", "N", "0", "2026-01-02", None, "AWSOME SHELVING", "ACME SUPPLY", None)
    mention = Action("CONT_AWD_M", "M", "P00003", "2026-01-02", None, "AWS GOVCLOUD HOSTING", "ACME SUPPLY", None)
    other_watch = Action("CONT_AWD_O", "O", "0", "2026-01-02", None, "PALANTIR FOUNDRY", "ACME SUPPLY", None)
    stored_o = {"CONT_AWD_O": [("0", "2026-01-02", None, "PALANTIR FOUNDRY")]}
    to_read, to_judge = awards_to_read([noise, mention, other_watch], stored_o, set(), matcher)
    assert set(to_read) == {"CONT_AWD_M"} and to_judge == {"CONT_AWD_O"}


def test_an_award_only_the_transaction_walk_lists_is_still_seen_each_day(env, write_config) -> None:
    from watcher.config import load_config
    from watcher.http import ApiClient
    from watcher.sources.registry import run_all
    from watcher.store import open_db

    _, db_path, replay = env
    config = load_config(write_config())
    db = open_db(db_path)
    with ApiClient(replay.url, min_interval=0) as client:  # type: ignore[attr-defined]
        for n, now in enumerate((f"{TODAY}T12:00:00Z", f"{TODAY + timedelta(days=1)}T12:00:00Z")):
            (result,) = run_all(db, config, client, today=TODAY + timedelta(days=n), now=now)
            assert result.status == "ok", result.error
    # The award index never lists FOUR (its AWS is only in P00007); the transaction walk does.
    seen = q(db_path, "SELECT last_seen_at FROM provenance WHERE entity_key = ? AND source = 'usaspending'", FOUR)
    assert seen == [(f"{TODAY + timedelta(days=1)}T12:00:00Z",)]


def test_a_digest_credits_a_vendor_only_with_the_money_its_actions_carry(env, write_config) -> None:
    from watcher.config import load_config
    from watcher.digest.build import build
    from watcher.settings import Subscriber
    from watcher.store import open_db

    poll, db_path, replay = env
    assert poll().exit_code == 0
    before = q(db_path, "SELECT max(id) FROM changes")[0][0]
    four, pal = replay.awards[FOUR], replay.awards[PAL]
    # Five million more on the reseller's "CLOUD HOSTING" order, in words that name no vendor...
    four.transactions.append(
        {
            **four.transactions[-1],
            "id": "CONT_TX_FOUR_P00008",
            "modification_number": "P00008",
            "action_date": day(1),
            "description": "INCREMENTAL FUNDING",
            "federal_action_obligation": Decimal("5000000"),
        }
    )
    four.row["Award Amount"] += Decimal("5000000")
    # ...and a thousand more on Palantir's own order.
    pal.transactions.append(
        {
            **pal.transactions[-1],
            "id": "CONT_TX_PAL_P00003",
            "modification_number": "P00003",
            "action_date": day(1),
            "description": "LICENSES",
            "federal_action_obligation": Decimal("1000"),
        }
    )
    pal.row["Award Amount"] += Decimal("1000")
    for a in (four, pal):
        a.row["Last Modified Date"] = day(1)
    replay.set_awards(list(replay.awards.values()))
    assert poll().exit_code == 0
    config = load_config(write_config())
    db = open_db(db_path)
    changes = list(db.query("SELECT * FROM changes WHERE id > ? ORDER BY id", [before]))
    assert {c["kind"] for c in changes} >= {"new_transaction"}
    digest = build(db, config, "desk", Subscriber(email="d@example.org"), changes, now=f"{TODAY}T12:00:00Z")
    # Both orders are reported (the reseller's, though no walk searches its words, by PIID);
    # only Palantir's thousand is money tied to a vendor, not the reseller's five million.
    assert digest.summary == "2 modifications, Palantir Technologies +$1K"
