"""The fake USAspending's subaward level refuses what the real one refuses (usaspending-api 13a1ee0f).

Each case cites the code it follows; docs/api/usaspending.md section 10 has them in words.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from watcher.fakes.usaspending import UsaspendingReplay
from watcher.fakes.usaspending_subawards import ReplaySubaward

PRIME = "CONT_AWD_70CDCR26FC0000077_7012_-NONE-_-NONE-"
OTHER = "CONT_AWD_70CDCR26FC0000078_7012_-NONE-_-NONE-"
SEARCH = "/api/v2/search/spending_by_award/"
FIELDS = ["Sub-Award ID", "Sub-Awardee Name", "Sub-Award Date", "Sub-Award Amount", "Sub-Recipient UEI"]


def report(report_id: int, prime: str, number: str, day: str, amount: str, name: str, **kw: Any) -> ReplaySubaward:
    return ReplaySubaward(
        report_id=report_id,
        prime_key=prime,
        prime_internal_id=111952974 if prime == PRIME else 111952975,
        prime_piid=prime.split("_")[2],
        number=number,
        action_date=day,
        amount=Decimal(amount),
        name=name,
        **kw,
    )


@pytest.fixture
def api(replay: UsaspendingReplay) -> tuple[httpx.Client, UsaspendingReplay]:
    replay.set_subawards(
        [
            report(9001, PRIME, "SUB-1", "2026-06-01", "120000.00", "PALANTIR USG, INC.", uei="ABCDEFGHJKL1"),
            report(9002, PRIME, "SUB-2", "2026-06-01", "80000.00", "PALANTIR USG, INC.", uei="ABCDEFGHJKL1"),
            report(9003, PRIME, "SUB-3", "2026-05-01", "5000.00", "ACME SUPPLY CO"),
            report(9004, OTHER, "SUB-9", "2026-04-01", "7000.00", "ACME SUPPLY CO"),
        ]
    )
    with httpx.Client(base_url=replay.url) as client:  # type: ignore[attr-defined]
        yield client, replay


def body(**over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "spending_level": "subawards",
        "filters": {"award_type_codes": ["A", "B", "C", "D"]},
        "fields": FIELDS,
        "sort": "Sub-Award Date",
        "order": "desc",
        "limit": 2,
        "page": 1,
    }
    out.update(over)
    return out


def test_a_field_outside_the_subaward_mapping_comes_back_null_and_cannot_be_the_sort(api) -> None:
    client, _ = api
    # construct_es_response_for_subawards: row[field] = hit.get(SUBAWARD_MAPPING_LOOKUP.get(field)): null, no error
    ok = client.post(SEARCH, json=body(fields=[*FIELDS, "Award Amount", "Recipient Name"]))
    assert ok.status_code == 200
    row = ok.json()["results"][0]
    assert row["Award Amount"] is None and row["Recipient Name"] is None
    assert row["Sub-Award Amount"] == 120000.0 and row["prime_award_generated_internal_id"] == PRIME
    # api_helper.raise_if_sort_key_not_valid with the Sub-Award mapping: 400
    bad = client.post(SEARCH, json=body(fields=[*FIELDS, "Award Amount"], sort="Award Amount"))
    assert bad.status_code == 400 and "not found in Sub-Award mappings" in bad.json()["detail"]
    # the award level's own sort field is no subaward field either
    lmd = client.post(SEARCH, json=body(fields=[*FIELDS, "Last Modified Date"], sort="Last Modified Date"))
    assert lmd.status_code == 400


def test_the_cursor_is_a_string_and_a_non_integer_one_is_refused(api) -> None:
    client, _ = api
    first = client.post(SEARCH, json=body()).json()
    meta = first["page_metadata"]
    assert meta["hasNext"] is True
    # the tie-breaker is award_id, a keyword in the subaward index: Elasticsearch returns it as a string
    assert meta["last_record_unique_id"] == "111952974" and isinstance(meta["last_record_unique_id"], str)
    cursor = {
        "last_record_unique_id": meta["last_record_unique_id"],
        "last_record_sort_value": meta["last_record_sort_value"],
    }
    second = client.post(SEARCH, json=body(**cursor)).json()
    assert [r["Sub-Award ID"] for r in second["results"]] == ["SUB-3", "SUB-9"][: len(second["results"])]
    # SpendingByAwardRequest.last_record_unique_id is ``int | None``: pydantic reads "111952974" and 111952974
    # alike, so the number is the same cursor; a string that is no integer is a 422 ...
    as_int = client.post(SEARCH, json=body(**{**cursor, "last_record_unique_id": 111952974})).json()
    assert as_int["results"] == second["results"]
    bad = client.post(SEARCH, json=body(**{**cursor, "last_record_unique_id": "CONT_AWD_X"}))
    assert bad.status_code == 422 and "last_record_unique_id" in bad.json()["detail"]
    # ... and a float passes pydantic but not TinyShield's integer rule (helpers._verify_int_value): a 400
    floated = client.post(SEARCH, json=body(**{**cursor, "last_record_unique_id": 111952974.0}))
    assert floated.status_code == 400
    # one cursor value without the other: search_after is built anyway, an unhandled exception
    lone = client.post(SEARCH, json=body(last_record_unique_id=meta["last_record_unique_id"]))
    assert lone.status_code == 500


def test_search_after_skips_rows_tied_with_the_cursor_on_date_and_prime(api) -> None:
    client, _ = api
    # SUB-1 and SUB-2: same prime, same date. Page 1 (limit 1) ends on one of them; the cursor
    # [date, award_id] is equal for the other, and search_after skips it.
    page1 = client.post(SEARCH, json=body(limit=1)).json()
    meta = page1["page_metadata"]
    cursor = {
        "last_record_unique_id": meta["last_record_unique_id"],
        "last_record_sort_value": meta["last_record_sort_value"],
    }
    page2 = client.post(SEARCH, json=body(limit=1, **cursor)).json()
    seen = {r["Sub-Award ID"] for r in page1["results"] + page2["results"]}
    assert seen == {"SUB-1", "SUB-3"} or seen == {"SUB-2", "SUB-3"}
    # page mode (from/size) does not skip
    by_page = [client.post(SEARCH, json=body(limit=1, page=p)).json()["results"][0]["Sub-Award ID"] for p in (1, 2, 3)]
    assert sorted(by_page) == ["SUB-1", "SUB-2", "SUB-3"]


def test_two_award_type_groups_are_refused_but_contracts_and_idvs_are_one(api) -> None:
    client, _ = api
    # api_helper.raise_if_award_types_not_valid_subset(spending_level=SUBAWARD): procurement XOR assistance
    mixed = client.post(SEARCH, json=body(filters={"award_type_codes": ["A", "02"]}))
    assert mixed.status_code == 422
    assert set(mixed.json()["award_type_groups"]) == {"procurement", "assistance"}
    procurement = client.post(SEARCH, json=body(filters={"award_type_codes": ["A", "B", "C", "D", "IDV_A"]}))
    assert procurement.status_code == 200
    # at the award level the same codes are two groups (contracts, idvs)
    awards = {**body(filters={"award_type_codes": ["A", "IDV_A"]}), "fields": ["Award ID"], "sort": "Award ID"}
    award_level = client.post(SEARCH, json={**awards, "spending_level": "awards"})
    assert award_level.status_code == 422


def test_sub_action_date_is_refused_by_the_request_model_and_action_date_means_the_subaward_date(api) -> None:
    client, _ = api
    # pydantic_base_models/time_period.py: date_type is a Literal of the award-level values; the error
    # formatter then fails (no expected_type): a 500 page, although the view's own validator lists sub_action_date
    period = {"start_date": "2026-05-15", "end_date": "2026-06-30"}
    refused = client.post(
        SEARCH,
        json=body(filters={"award_type_codes": ["C"], "time_period": [{**period, "date_type": "sub_action_date"}]}),
    )
    assert refused.status_code == 500 and refused.headers["content-type"].startswith("text/html")
    ok = client.post(
        SEARCH,
        json=body(
            limit=10, filters={"award_type_codes": ["C"], "time_period": [{**period, "date_type": "action_date"}]}
        ),
    )
    assert sorted(r["Sub-Award ID"] for r in ok.json()["results"]) == ["SUB-1", "SUB-2"]
    new_only = client.post(
        SEARCH,
        json=body(filters={"award_type_codes": ["C"], "time_period": [{**period, "date_type": "new_awards_only"}]}),
    )
    assert new_only.status_code == 500


def test_recipient_search_text_and_keywords_search_the_sub_recipient_not_the_prime(api) -> None:
    client, _ = api
    hits = client.post(
        SEARCH, json=body(limit=10, filters={"award_type_codes": ["C"], "recipient_search_text": ["PALANTIR USG"]})
    )
    assert sorted(r["Sub-Award ID"] for r in hits.json()["results"]) == ["SUB-1", "SUB-2"]
    by_uei = client.post(SEARCH, json=body(limit=10, filters={"award_type_codes": ["C"], "keywords": ["ABCDEFGHJKL1"]}))
    assert len(by_uei.json()["results"]) == 2
    unused = client.post(SEARCH, json=body(filters={"award_type_codes": ["C"], "recipient": ["X"]}))
    assert any("not used" in m for m in unused.json()["messages"])


def test_subaward_list_pages_by_report_with_no_uei(api) -> None:
    client, _ = api
    # awards/v2/views/subawards.py: award_id (generated id), page mode, results[:limit] of limit+1 rows
    one = client.post(
        "/api/v2/subawards/", json={"award_id": PRIME, "page": 1, "limit": 2, "sort": "id", "order": "asc"}
    )
    assert one.status_code == 200
    data = one.json()
    assert [r["id"] for r in data["results"]] == [9001, 9002]
    assert data["page_metadata"] == {"page": 1, "next": 2, "previous": None, "hasNext": True, "hasPrevious": False}
    assert set(data["results"][0]) == {
        "id",
        "subaward_number",
        "description",
        "action_date",
        "amount",
        "recipient_name",
    }
    two = client.post(
        "/api/v2/subawards/", json={"award_id": PRIME, "page": 2, "limit": 2, "sort": "id", "order": "asc"}
    )
    assert [r["id"] for r in two.json()["results"]] == [9003] and two.json()["page_metadata"]["hasNext"] is False
    # sort is an enum of the six columns (400), limit at most 100 (422), GET is not allowed (405)
    bad_sort = client.post("/api/v2/subawards/", json={"award_id": PRIME, "sort": "Sub-Award ID"})
    assert bad_sort.status_code == 400
    assert client.post("/api/v2/subawards/", json={"award_id": PRIME, "limit": 101}).status_code == 422
    assert client.get("/api/v2/subawards/").status_code == 405
    # an unknown award is no error: no rows
    none = client.post("/api/v2/subawards/", json={"award_id": "CONT_AWD_NOPE_7012_-NONE-_-NONE-", "sort": "id"})
    assert none.status_code == 200 and none.json()["results"] == []


def test_award_detail_counts_every_report_of_the_prime(api) -> None:
    client, replay = api
    from tests.conftest import awards_from, tx_row

    replay.set_awards(
        awards_from([tx_row("70CDCR26FC0000077", PRIME, "GENERAL CONTRACTOR INC", "1000.00", "2026-06-01")])
    )
    detail = client.get(f"/api/v2/awards/{PRIME}/").json()
    # update_delta_award_with_subaward_counts: COUNT(*) and SUM(subaward_amount) over subaward_search rows
    assert detail["subaward_count"] == 3
    assert Decimal(str(detail["total_subaward_amount"])) == Decimal("205000.00")
