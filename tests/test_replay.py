"""The fake USAspending server enforces the real validation rules and pages like the real one."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import awards_from, tx_row
from watcher.fakes.usaspending import UsaspendingReplay

FIELDS = ["Award ID", "Recipient Name", "Last Modified Date", "Award Amount"]
ICE = {"type": "awarding", "tier": "subtier", "name": "U.S. Immigration and Customs Enforcement"}


def body(**over: object) -> dict[str, object]:
    b: dict[str, object] = {
        "filters": {"award_type_codes": ["A", "B", "C", "D"], "agencies": [ICE]},
        "fields": FIELDS,
        "sort": "Last Modified Date",
        "order": "desc",
        "limit": 10,
        "page": 1,
    }
    return b | over


def post(replay: UsaspendingReplay, b: dict[str, object]) -> httpx.Response:
    return httpx.post(replay.url + "/api/v2/search/spending_by_award/", json=b)  # type: ignore[attr-defined]


@pytest.fixture
def loaded(replay: UsaspendingReplay) -> UsaspendingReplay:
    rows = [
        tx_row(
            f"70CTD026F{i:08d}",
            f"CONT_AWD_70CTD026F{i:08d}_7012_-NONE-_-NONE-",
            "ACME",
            "10.00",
            f"2026-0{1 + i % 8}-1{i % 10}",
        )
        for i in range(25)
    ]
    replay.set_awards(awards_from(rows))
    return replay


@pytest.mark.parametrize(
    ("over", "status", "text"),
    [
        ({"limit": 101}, 422, "above max '100'"),
        ({"filters": {"award_type_codes": ["A", "IDV_A"]}}, 422, "must only contain types from one group"),
        ({"sort": "Description"}, 400, "not found in requested fields"),
        ({"last_record_unique_id": 5}, 500, "Server Error"),
        ({"fields": []}, 422, "below min '1' items"),
        ({"filters": {"award_type_codes": ["A"], "keywords": ["AI"]}}, 422, "below min '3'"),
        (
            {"filters": {"award_type_codes": ["A"], "agencies": [{"type": "awarding", "tier": "subtier", "nme": "x"}]}},
            400,
            "Unexpected field 'nme'",
        ),
    ],
)
def test_rules_with_real_status_codes(loaded: UsaspendingReplay, over: dict, status: int, text: str) -> None:
    resp = post(loaded, body(**over))
    assert resp.status_code == status and text in resp.text


def test_unknown_filter_is_reported_not_used(loaded: UsaspendingReplay) -> None:
    b = body()
    b["filters"] = {"award_type_codes": ["A", "B", "C", "D"], "agency": "ICE"}
    data = post(loaded, b).json()
    assert any("not used" in m and "agency" in m for m in data["messages"])
    assert len(data["results"]) == 10  # unfiltered, exactly as the real API does


def test_cursor_walk_serves_every_row_once(loaded: UsaspendingReplay) -> None:
    b, seen, pages = body(), [], 0
    while True:
        data = post(loaded, b).json()
        pages += 1
        seen += [r["Award ID"] for r in data["results"]]
        meta = data["page_metadata"]
        if not meta["hasNext"]:
            assert meta["last_record_unique_id"] is None and meta["last_record_sort_value"] == "None"
            break
        assert isinstance(meta["last_record_sort_value"], str)
        b["last_record_unique_id"], b["last_record_sort_value"] = (
            meta["last_record_unique_id"],
            meta["last_record_sort_value"],
        )
    assert pages == 3 and len(seen) == 25 == len(set(seen))


def test_awarding_and_funding_are_anded(loaded: UsaspendingReplay) -> None:
    b = body()
    b["filters"] = {
        "award_type_codes": ["A", "B", "C", "D"],
        "agencies": [ICE, {"type": "funding", "tier": "subtier", "name": "U.S. Customs and Border Protection"}],
    }
    assert post(loaded, b).json()["results"] == []


def test_transactions_and_detail(loaded: UsaspendingReplay) -> None:
    key = "CONT_AWD_70CTD026F00000001_7012_-NONE-_-NONE-"
    tx = httpx.post(loaded.url + "/api/v2/transactions/", json={"award_id": key, "limit": 5000}).json()  # type: ignore[attr-defined]
    assert tx["results"][0]["id"].startswith("CONT_TX_7012_-NONE-_70CTD026F00000001_0")
    detail = httpx.get(loaded.url + f"/api/v2/awards/{key}/").json()  # type: ignore[attr-defined]
    assert detail["generated_unique_award_id"] == key
    missing = httpx.get(loaded.url + "/api/v2/awards/CONT_AWD_NOPE_7012_-NONE-_-NONE-/")  # type: ignore[attr-defined]
    assert missing.status_code == 404 and "No Award found" in missing.json()["detail"]
