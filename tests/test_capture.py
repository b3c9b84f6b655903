"""``--record DIR`` and ``check --live``: a capture a user can send us, replayed by a test; the live checks."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import awards_from, tx_row
from watcher.cli import cli
from watcher.fakes.capture import CaptureReplay
from watcher.fakes.sam import SamReplay
from watcher.fakes.usaspending import UsaspendingReplay

TODAY = date.today()
KEY = "SAMKEY-capture-5d0c7e19aa42"
PAL = "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001"
FOUR = "CONT_AWD_70CMSD20FR0000043_7012_GS35F0553P_4730"
MSFT = "CONT_AWD_70CTD021FR0000033_7012_HSHQDC15D00017_7001"
SAMPLES = Path(__file__).parent / "fixtures" / "sam"


def day(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def rows() -> list[dict[str, str]]:
    return [
        tx_row("70CTD026FC0000012", PAL, "PALANTIR TECHNOLOGIES INC.", "1000.00", day(20), desc="ERO CASE MANAGEMENT"),
        tx_row("70CTD026FC0000012", PAL, "PALANTIR TECHNOLOGIES INC.", "500.00", day(15), "P00001", "ADD LICENSES"),
        tx_row("70CMSD20FR0000043", FOUR, "FOUR POINTS TECHNOLOGY, L.L.C.", "9000.00", day(25), desc="CLOUD HOSTING"),
        tx_row("70CMSD20FR0000043", FOUR, "FOUR POINTS TECHNOLOGY, L.L.C.", "7.00", day(9), "P00007", "AWS GOVCLOUD"),
        tx_row("70CTD021FR0000033", MSFT, "MICROSOFT CORPORATION", "1000.00", day(6), desc="PREMIER SUPPORT"),
    ]


def content(db: Path) -> dict[str, set[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        return {
            "awards": set(conn.execute("SELECT award_key, total_obligation, description FROM awards")),
            "transactions": set(conn.execute("SELECT transaction_key, obligation, description FROM transactions")),
            "matches": set(conn.execute("SELECT entity_key, vendor, reason, evidence FROM matches")),
            "changes": set(conn.execute("SELECT kind, entity_key FROM changes")),
        }


def test_a_recorded_poll_replays_to_the_same_database(
    replay: UsaspendingReplay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replay.set_awards(awards_from(rows()))
    config = write_config()
    capture = tmp_path / "capture"
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    first = CliRunner().invoke(
        cli, ["--config", str(config), "--db", str(tmp_path / "a.db"), "poll", "--record", str(capture)]
    )
    assert first.exit_code == 0, first.output
    files = sorted((capture / "usaspending").glob("*.request.json"))
    assert len(files) == len(replay.requests)  # every response, none missed
    assert files[0].name.startswith("0001__autocomplete__awarding_agency_office")
    names = {f.name.split("__", 1)[1] for f in files}
    assert "search_spending_by_transaction.request.json" in names and "transactions.request.json" in names
    meta = json.loads(files[0].read_text())
    assert meta["method"] == "POST" and meta["status"] == 200 and "search_text" in meta["body"]
    body = files[0].with_name(files[0].name.replace(".request.json", ".json")).read_bytes()
    assert json.loads(body)["results"]["subtier_agency"]  # the body byte for byte, as received

    with CaptureReplay(capture, "usaspending") as url:
        monkeypatch.setenv("WATCHER_USASPENDING_URL", url)
        again = CliRunner().invoke(cli, ["--config", str(config), "--db", str(tmp_path / "b.db"), "poll"])
    assert again.exit_code == 0, again.output
    assert content(tmp_path / "b.db") == content(tmp_path / "a.db")
    assert ("new_award", FOUR) in content(tmp_path / "b.db")["changes"]


def test_a_request_missing_from_the_capture_is_a_clear_404(tmp_path: Path) -> None:
    import httpx

    (tmp_path / "usaspending").mkdir()
    with CaptureReplay(tmp_path, "usaspending") as url:
        answer = httpx.post(f"{url}/api/v2/search/spending_by_award/", json={"filters": {}})
    assert answer.status_code == 404 and "not in the capture" in answer.json()["detail"]


@pytest.fixture
def live(replay: UsaspendingReplay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    replay.set_awards(awards_from(rows()))
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    monkeypatch.setenv("SAM_API_KEY", KEY)
    sample = SAMPLES / "sam_opportunities_v2__proposal-ai__search_2026-01-01_2026-02-02_limit10.json"
    notices = json.loads(sample.read_text())["opportunitiesData"]
    for n in notices:  # real notices, posted yesterday
        n["postedDate"] = day(1)
    sam = SamReplay(notices=notices, keys=[KEY])
    monkeypatch.setenv("WATCHER_SAM_URL", sam.start())
    config = write_config()
    config.write_text(
        config.read_text().replace(
            "lookback_days: 30", "lookback_days: 30\n    sources: [usaspending, sam_awards, sam_opportunities]"
        )
    )
    yield config, sam
    sam.stop()


def test_check_live_tests_each_assumption_within_three_sam_requests(live, tmp_path: Path) -> None:
    config, sam = live
    capture = tmp_path / "live"
    args = ["--config", str(config), "--db", str(tmp_path / "w.db"), "check", "--live", "--record", str(capture)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "ok    usaspending: subtier agency 'U.S. Immigration and Customs Enforcement' is known" in out
    assert "ok    usaspending: spending_by_award accepts its own cursor back" in out
    assert "ok    usaspending: spending_by_transaction searches every action's text" in out
    assert "ok    usaspending: idvs/awards lists a contract vehicle's orders" in out and PAL in out
    same = re.search(
        r"ok    sam: ptype=a,u,\.\.\. selects what repeated .*: comma form (\d+), repeated form (\d+)", out
    )
    assert same and same[1] == same[2] and int(same[1]) > 0
    assert "ok    sam: Opportunities answers carry totalRecords" in out
    assert "deletedStatus=yes" in out and "FAIL" not in out
    assert len(sam.requests) <= 3
    with sqlite3.connect(tmp_path / "w.db") as conn:  # counted in the daily budget like any SAM.gov request
        assert conn.execute("SELECT count(*) FROM sam_requests").fetchone() == (len(sam.requests),)
    saved = [p.read_bytes() for p in capture.rglob("*") if p.is_file()]
    assert saved and not any(KEY.encode() in b for b in saved)  # the key never reaches the capture
    assert any(b'"api_key": "REDACTED"' in p.read_bytes() for p in (capture / "sam").glob("*.request.json"))


def test_check_live_fails_with_an_explanation_when_an_assumption_does_not_hold(
    live, replay: UsaspendingReplay, tmp_path: Path
) -> None:
    config, _ = live
    replay.extra_agencies = set()
    for a in replay.awards.values():  # USAspending no longer knows the name the config uses
        for role in ("Awarding", "Funding"):
            a.row[f"{role} Sub Agency"] = "Immigration and Customs Enforcement"
    replay.set_awards(list(replay.awards.values()))
    result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(tmp_path / "w.db"), "check", "--live"])
    assert result.exit_code == 1
    assert "FAIL  usaspending: subtier agency 'U.S. Immigration and Customs Enforcement' is known" in result.output
    assert "send us DIR" in result.output
