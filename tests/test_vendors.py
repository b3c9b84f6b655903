"""`watcher vendors suggest/add`, the vendors overlay, and matching by UEI, against the replay on 127.0.0.1.

The recipients below (UEIs starting TEST) are made up for the tests; the names are those of real
ICE rows in seeds/ice (LexisNexis Risk Solutions, LexisNexis Special Services, RELX).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result
from sqlite_utils import Database

from tests.conftest import awards_from, tx_row
from watcher.cli import cli
from watcher.config import load_config
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.fakes.usaspending_awards import ReplayAward

RELX, LNRS, LNSS = "TESTRELX0001", "TESTLNRS0001", "TESTLNSS0002"


def _key(piid: str) -> str:
    return f"CONT_AWD_{piid}_7012_-NONE-_-NONE-"


def _uei(a: ReplayAward, uei: str, parent: str | None = None, parent_name: str | None = None) -> None:
    a.row["Recipient UEI"] = uei
    a.detail["recipient"].update(recipient_uei=uei, parent_recipient_uei=parent, parent_recipient_name=parent_name)


def family(day: str = "2026-08-01") -> list[ReplayAward]:
    rows = [
        tx_row("70CMSD21C00000001", _key("70CMSD21C00000001"), "LEXISNEXIS RISK SOLUTIONS INC", "1000000", day,
               desc="LAW ENFORCEMENT INVESTIGATIVE DATABASE SUBSCRIPTION"),
        tx_row("70CMSD23C00000004", _key("70CMSD23C00000004"), "LEXISNEXIS SPECIAL SERVICES INC", "500000", day,
               desc="RISK MITIGATION SUPPORT SERVICES"),
        tx_row("70CDCR23P00000003", _key("70CDCR23P00000003"), "RELX INC.", "200000", day, desc="LICENSES"),
    ]  # fmt: skip
    awards = awards_from(rows)
    by = {a.row["Recipient Name"]: a for a in awards}
    _uei(by["RELX INC."], RELX)
    _uei(by["LEXISNEXIS RISK SOLUTIONS INC"], LNRS, RELX, "RELX INC.")
    _uei(by["LEXISNEXIS SPECIAL SERVICES INC"], LNSS, RELX, "RELX INC.")
    return awards


@pytest.fixture
def env(replay: UsaspendingReplay, write_config: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    replay.set_awards(family())
    config = write_config()

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(config), "--db", str(tmp_path / "w.db"), *args])

    return run, config, replay


# ---------------------------------------------------------------- the replay's recipient endpoints


def _post(replay: UsaspendingReplay, path: str, body: Any) -> httpx.Response:
    return httpx.post(replay.url + path, json=body)  # type: ignore[attr-defined]


def _get(replay: UsaspendingReplay, path: str) -> httpx.Response:
    return httpx.get(replay.url + path)  # type: ignore[attr-defined]


def test_autocomplete_answers_in_the_real_shape(env: Any) -> None:
    _, _, replay = env
    by_name = _post(replay, "/api/v2/autocomplete/recipient/", {"search_text": "lexisnexis"}).json()
    assert set(by_name) == {"count", "results", "messages"} and by_name["count"] == 2
    assert {tuple(sorted(r)) for r in by_name["results"]} == {("duns", "recipient_level", "recipient_name", "uei")}
    # a name match gives the name only: uei and duns are filled when the text matched them
    assert all(r["uei"] is None and r["recipient_level"] is None for r in by_name["results"])
    by_uei = _post(replay, "/api/v2/autocomplete/recipient/", {"search_text": LNRS}).json()["results"]
    assert by_uei == [
        {"recipient_name": "LEXISNEXIS RISK SOLUTIONS INC", "recipient_level": None, "uei": LNRS, "duns": None}
    ]


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        ("/api/v2/autocomplete/recipient/", {}, 422, "Missing value: 'search_text' is a required field"),
        ("/api/v2/autocomplete/recipient/", {"search_text": "x", "limit": 501}, 422, "above max '500'"),
        ("/api/v2/autocomplete/recipient/", {"search_text": 5}, 400, "is not a valid type"),
        ("/api/v2/recipient/", {"keyword": "RELX", "limit": 1001}, 422, "above max '1000'"),
        ("/api/v2/recipient/", {"keyword": "RELX", "sort": "total"}, 400, "Field 'sort' is outside valid values"),
        ("/api/v2/recipient/", {"keyword": "RELX", "page": 0}, 422, "below min '1'"),
        ("/api/v2/recipient/", {"award_type": "idvs"}, 400, "Field 'award_type' is outside valid values"),
    ],
)
def test_bad_bodies_are_refused_as_the_real_api_does(env: Any, path: str, body: Any, status: int, detail: str) -> None:
    _, _, replay = env
    resp = _post(replay, path, body)
    assert resp.status_code == status and detail in resp.json()["detail"]


def test_recipient_list_overview_and_children(env: Any) -> None:
    _, _, replay = env
    listed = _post(replay, "/api/v2/recipient/", {"keyword": "RELX"}).json()
    assert listed["page_metadata"]["total"] == 1 and listed["page_metadata"]["limit"] == 50
    (relx,) = listed["results"]
    assert set(relx) == {"id", "duns", "uei", "name", "recipient_level", "amount"}
    assert (relx["uei"], relx["recipient_level"]) == (RELX, "P") and relx["id"].endswith("-P")
    kids = _get(replay, f"/api/v2/recipient/children/{RELX}/").json()
    assert sorted(k["uei"] for k in kids) == [LNRS, LNSS]
    assert {tuple(sorted(k)) for k in kids} == {("amount", "duns", "name", "recipient_id", "state_province", "uei")}
    (child,) = _post(replay, "/api/v2/recipient/", {"keyword": LNRS}).json()["results"]
    page = _get(replay, f"/api/v2/recipient/{child['id']}/").json()
    assert (page["parent_uei"], page["parent_name"], page["recipient_level"]) == (RELX, "RELX INC.", "C")
    assert page["parents"][0]["parent_id"] == relx["id"]


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/api/v2/recipient/children/TESTNOBODY00/", 400, "Recipient not found: 'TESTNOBODY00'."),
        (f"/api/v2/recipient/children/{LNRS}/", 400, f"Recipient is not listed as a parent: '{LNRS}'."),
        ("/api/v2/recipient/nohyphen/", 400, "doesn't include Recipient-Level"),
        ("/api/v2/recipient/abc-X/", 400, "Invalid Recipient-Level: 'X'"),
        ("/api/v2/recipient/abc-P/", 400, "Recipient Hash not valid UUID: 'abc'."),
        ("/api/v2/recipient/00000000-0000-0000-0000-000000000000-P/", 400, "Recipient ID not found"),
        (f"/api/v2/recipient/children/{RELX}/?year=soon", 400, "Invalid year: soon."),
    ],
)
def test_bad_recipient_ids_are_refused_as_the_real_api_does(env: Any, path: str, status: int, detail: str) -> None:
    _, _, replay = env
    resp = _get(replay, path)
    assert resp.status_code == status and detail in resp.json()["detail"]


# ---------------------------------------------------------------- suggest, add, check


def test_suggest_lists_the_parent_its_children_and_their_ueis_with_evidence(env: Any) -> None:
    run, config, _ = env
    res = run("vendors", "suggest", "RELX")
    assert res.exit_code == 0, res.output
    out = res.output
    assert f"RELX INC.  [parent]  UEI {RELX}" in out
    assert f"child: LEXISNEXIS RISK SOLUTIONS INC  [child]  UEI {LNRS}" in out
    assert f"child: LEXISNEXIS SPECIAL SERVICES INC  [child]  UEI {LNSS}" in out
    assert "1 DHS contract(s), $1,000,000.00" in out  # the child's DHS awards, found by its UEI
    assert "70CMSD21C00000001" in out and "LAW ENFORCEMENT INVESTIGATIVE DATABASE" in out  # an example award
    assert "nothing was added" in out and not (config.parent / "vendors.yaml").exists()


def test_suggest_finds_a_child_by_name_with_its_parent(env: Any) -> None:
    run, _, _ = env
    res = run("vendors", "suggest", "LexisNexis Risk Solutions, Inc.")
    assert res.exit_code == 0, res.output
    assert f"UEI {LNRS}" in res.output and f"parent: RELX INC. (UEI {RELX})" in res.output
    assert "normalized: LEXISNEXIS RISK SOLUTIONS" in res.output


def test_add_writes_the_overlay_and_check_reports_it(env: Any) -> None:
    run, config, _ = env
    why = "vendors suggest RELX: child of RELX INC."
    res = run("vendors", "add", "relx", "--name", "RELX / LexisNexis", "--alias", "LEXISNEXIS RISK SOLUTIONS",
              "--uei", LNRS, "--parent-uei", RELX, "--evidence", why)  # fmt: skip
    assert res.exit_code == 0, res.output
    overlay = config.parent / "vendors.yaml"
    data = yaml.safe_load(overlay.read_text())
    assert data["vendors"]["relx"]["ueis"] == [{"uei": LNRS, "evidence": why}]
    assert data["vendors"]["relx"]["parent_ueis"][0]["uei"] == RELX
    # extending a shipped vendor: its shipped aliases stay, and check says both files
    assert run("vendors", "add", "palantir", "--alias", "PALANTIR USG CORP", "--evidence", "e").exit_code == 0
    loaded = load_config(config)
    assert "PALANTIR TECHNOLOGIES" in loaded.vendors["palantir"].aliases
    assert "PALANTIR USG CORP" in loaded.vendors["palantir"].aliases
    checked = run("check")
    assert checked.exit_code == 0, checked.output
    assert f"relx (RELX / LexisNexis, 1 UEI(s)): yours ({overlay})" in checked.output
    assert "palantir (Palantir Technologies): shipped + yours (" in checked.output
    assert f"shipped ({loaded.seeds_file}): amazon, microsoft" in checked.output
    assert (config.parent / "vendors.yaml.bak").exists()  # the previous version


def test_a_new_vendor_without_a_name_is_refused_and_nothing_is_written(env: Any) -> None:
    run, config, _ = env
    res = run("vendors", "add", "newco", "--alias", "NEWCO", "--evidence", "e")
    assert res.exit_code == 2
    assert "vendor 'newco' is new" in res.output and "give its --name" in res.output
    assert not (config.parent / "vendors.yaml").exists()
    # written by hand, the same mistake names the file, line and key
    (config.parent / "vendors.yaml").write_text("vendors:\n  newco:\n    aliases: [NEWCO]\n")
    res = run("check")
    assert res.exit_code == 2 and "vendors.yaml:2: vendors.newco: a new vendor needs a name" in res.output


def test_an_overlay_error_names_its_file_line_and_key(env: Any) -> None:
    run, config, _ = env
    (config.parent / "vendors.yaml").write_text("vendors:\n  acme:\n    name: Acme\n    ueis:\n      - uei: short\n")
    res = run("check")
    assert res.exit_code == 2
    assert "vendors.yaml:5: vendors.acme.ueis.0.uei" in res.output


# ---------------------------------------------------------------- search and match by UEI


def test_a_renamed_recipient_with_the_same_uei_is_still_matched_by_uei(env: Any) -> None:
    run, config, replay = env
    assert run("vendors", "add", "relx", "--name", "RELX", "--alias", "LEXISNEXIS RISK SOLUTIONS",
               "--uei", LNRS, "--evidence", "suggest").exit_code == 0  # fmt: skip
    watch = (
        "ice-vendors:\n    agencies: [ice]\n    agency_roles: [awarding]\n    vendors: [amazon, palantir, microsoft]\n"
    )
    text = config.read_text().replace(watch, watch.replace("microsoft]", "microsoft, relx]"))
    assert text != config.read_text()
    config.write_text(text)
    awards = family(day=(date.today() - timedelta(days=2)).isoformat())  # inside the 30-day lookback
    renamed = next(a for a in awards if a.row["Recipient UEI"] == LNRS)
    renamed.row["Recipient Name"] = "RISK DATA HOLDINGS LLC"  # a new name: no alias matches it
    renamed.detail["recipient"]["recipient_name"] = "RISK DATA HOLDINGS LLC"
    replay.set_awards(awards)
    res = run("poll", "--source", "usaspending")
    assert res.exit_code == 0, res.output
    db = Database(config.parent / "w.db")
    rows = list(db.query("SELECT entity_key, reason, evidence FROM matches WHERE vendor = 'relx' ORDER BY 1"))
    assert [(r["entity_key"], r["reason"]) for r in rows] == [
        (_key("70CDCR23P00000003"), "recipient"),  # RELX INC. itself, by the vendor's name
        (_key("70CMSD21C00000001"), "uei"),  # the renamed one: by its UEI alone
    ]
    rows = rows[1:]
    assert LNRS in rows[0]["evidence"] and "RISK DATA HOLDINGS LLC" in rows[0]["evidence"]
    # it was found by its UEI: the recipient walk sent the UEI in recipient_search_text
    bodies = [b for _, p, b in replay.requests if p.endswith("spending_by_award/")]
    assert any(LNRS.encode() in b and b"recipient_search_text" in b for b in bodies)


# ---------------------------------------------------------------- the overlay, as data


def test_merge_extends_shipped_definitions_and_adds_new_ones() -> None:
    from watcher import vendorfile

    shipped = {
        "vendors": {"acme": {"name": "Acme", "aliases": ["ACME"], "ueis": [{"uei": "TESTACME0001", "evidence": "a"}]}},
        "resellers": {},
    }
    overlay = {
        "vendors": {
            "acme": {"aliases": ["ACME", "ACME DATA"], "ueis": [{"uei": "testacme0001", "evidence": "b"}]},
            "newco": {"name": "NewCo", "aliases": ["NEWCO"]},
        }
    }
    merged, origins = vendorfile.merge(shipped, overlay)
    acme = merged["vendors"]["acme"]
    assert acme["aliases"] == ["ACME", "ACME DATA"]  # no repeats, shipped first
    assert acme["ueis"] == [{"uei": "TESTACME0001", "evidence": "a"}]  # the same UEI once, with the shipped evidence
    assert acme["name"] == "Acme"
    assert origins == {"vendors.acme": "shipped + yours", "vendors.newco": "yours"}
    assert shipped["vendors"]["acme"]["aliases"] == ["ACME"]  # the shipped data is not changed in place


def test_a_mention_from_your_file_that_sam_refuses_is_reported_in_your_file(env: Any) -> None:
    run, config, _ = env
    text = config.read_text().replace("    lookback_days: 30\n", "    lookback_days: 30\n    sources: [sam_awards]\n"
                                      "    sam_queries: vendors\n")  # fmt: skip
    config.write_text(text)
    (config.parent / "vendors.yaml").write_text("vendors:\n  palantir:\n    mentions:\n      - GOTHAM & FOUNDRY\n")
    res = run("check")
    assert res.exit_code == 2
    assert f"{config.parent / 'vendors.yaml'}:4: vendors.palantir.mentions.0:" in res.output and "'&'" in res.output
