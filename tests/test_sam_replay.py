"""The fake api.sam.gov enforces the real key, quota, paging and validation rules of both SAM APIs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import httpx
import pytest

from watcher.fakes.sam import DeletedAction, SamReplay, next_access_text
from watcher.fakes.server import Fault

AWARDS = "/contract-awards/v1/search"
OPPS = "/opportunities/v2/search"
DHS = {"code": "7000", "name": "HOMELAND SECURITY, DEPARTMENT OF"}
ICE = {"code": "7012", "name": "U.S. IMMIGRATION AND CUSTOMS ENFORCEMENT"}


def action(piid: str, uei: str = "PALANTIR0001", modified: str = "2025-06-11T07:18:02Z", **over: Any) -> dict:
    """An awardSummary item shaped like the GSA samples (mixed date formats included)."""
    subtier = over.get("subtier", ICE)
    return {
        "contractId": {"subtier": subtier, "piid": piid, "modificationNumber": "0", "transactionNumber": "0"},
        "coreData": {
            "awardOrIDV": "AWARD",
            "federalOrganization": {
                "contractingInformation": {"contractingDepartment": DHS, "contractingSubtier": subtier},
                "fundingInformation": {"fundingDepartment": DHS, "fundingSubtier": subtier},
            },
            "productOrServiceInformation": {
                "productOrService": {"type": "SERVICE", "code": "DA01", "name": "IT AND TELECOM"},
                "principalNaics": [{"code": over.get("naics", "541512"), "name": "COMPUTER SYSTEMS DESIGN"}],
            },
        },
        "awardDetails": {
            "dates": {"dateSigned": over.get("signed", "2025-02-20T00:00:00Z"), "fiscalYear": "2025"},
            "dollars": {"actionObligation": "202.39"},
            "productOrServiceInformation": {"descriptionOfContractRequirement": over.get("desc", "DATA PLATFORM")},
            "awardeeData": {
                "awardeeHeader": {"legalBusinessName": over.get("name", "PALANTIR USG, INC.")},
                "awardeeUEIInformation": {"uniqueEntityId": uei, "awardeeUltimateParentUniqueEntityId": "PARENT000001"},
            },
            "transactionData": {"lastModifiedDate": modified, "createdDate": "2025-02-20T19:13:54.000Z"},
        },
    }


def notice(n: int, posted: str = "2026-02-02", kind: str = "Award Notice", title: str = "Case management") -> dict:
    return {
        "noticeId": f"{n:032x}",
        "title": title,
        "solicitationNumber": f" 70CMSD26R{n:04d} ",
        "fullParentPathName": "HOMELAND SECURITY, DEPARTMENT OF.US IMMIGRATION AND CUSTOMS ENFORCEMENT.ICE-OAQ",
        "fullParentPathCode": "070.7012.ICEOAQ",
        "postedDate": posted,
        "type": kind,
        "award": {"date": "2026-01-29", "number": "70CMSD26C0001", "amount": "5000000.00"},
    }


@pytest.fixture
def sam() -> Iterator[tuple[SamReplay, str]]:
    server = SamReplay([action(f"70CMSD25F{i:04d}") for i in range(1, 6)], [notice(i) for i in range(1, 4)])
    with server as url:
        yield server, url


def get(url: str, path: str, key: str | None = "TESTKEY", **params: Any) -> httpx.Response:
    if key is not None:
        params["api_key"] = key
    return httpx.get(url + path, params=params)


def piids(r: httpx.Response) -> list[str]:
    return [a["contractId"]["piid"] for a in r.json()["awardSummary"]]


def opp(url: str, path: str = OPPS, **params: Any) -> httpx.Response:
    return get(url, path, **({"postedFrom": "01/01/2026", "postedTo": "02/28/2026"} | params))


def test_key_missing_invalid_expired() -> None:
    with SamReplay(keys=["GOOD", "OLD"], expired_keys=["OLD"]) as url:
        missing = get(url, AWARDS, key=None)
        assert missing.status_code == 403 and missing.json()["error"]["code"] == "API_KEY_MISSING"
        for key in ("NOPE", "OLD"):
            bad = get(url, OPPS, key=key)
            assert bad.status_code == 403 and bad.headers["content-type"].startswith("text/html")
            assert "<h1>API_KEY_INVALID</h1>" in bad.text
        assert get(url, AWARDS, key="GOOD").status_code == 204


def test_quota_per_key_and_utc_day_shared_by_both_apis() -> None:
    day = [date(2026, 5, 22)]
    replay = SamReplay([action("P1")], [notice(1)], daily_quota=3, today=lambda: day[0])
    with replay as url:
        assert get(url, AWARDS).status_code == 200
        assert get(url, AWARDS, limit=0).status_code == 400  # answered 400, still counted
        assert opp(url).status_code == 200
        over = get(url, AWARDS)
        assert over.status_code == 429 and over.json()["code"] == "900804"
        when = datetime.strptime(over.json()["nextAccessTime"], "%Y-%b-%d %H:%M:%S%z UTC")
        assert (when.date(), when.hour, when.utcoffset().total_seconds()) == (date(2026, 5, 23), 0, 0)
        assert when.strftime("%Y-%b-%d") in over.json()["description"]
        assert opp(url).status_code == 429
        assert replay.used(date(2026, 5, 22)) == 3 == replay.used(date(2026, 5, 22), "TESTKEY")
        day[0] = date(2026, 5, 23)
        assert get(url, AWARDS).status_code == 200
        assert replay.used(date(2026, 5, 23)) == 1 and replay.used(date(2026, 5, 22)) == 3
        assert [r.status for r in replay.requests] == [200, 400, 200, 429, 429, 200]


def test_next_access_text_uses_english_months() -> None:
    assert next_access_text(date(2026, 12, 31)) == "2027-Jan-01 00:00:00+0000 UTC"
    assert next_access_text(date(2026, 5, 22)) == "2026-May-23 00:00:00+0000 UTC"


def test_awards_counts_are_strings_and_offset_is_a_page_index(sam: tuple[SamReplay, str]) -> None:
    _, url = sam
    pages = [get(url, AWARDS, limit=2, offset=o) for o in range(4)]
    assert [piids(r) for r in pages] == [
        ["70CMSD25F0001", "70CMSD25F0002"],
        ["70CMSD25F0003", "70CMSD25F0004"],
        ["70CMSD25F0005"],
        [],
    ]
    body = pages[1].json()
    assert (body["totalRecords"], body["limit"], body["offset"]) == ("5", "2", "1")
    assert get(url, AWARDS).json()["limit"] == "10"


def test_awards_no_match_is_204_and_limit_over_100_is_a_bare_string_on_200(sam: tuple[SamReplay, str]) -> None:
    _, url = sam
    empty = get(url, AWARDS, piid="NOSUCHPIID")
    assert empty.status_code == 204 and empty.content == b""
    trap = get(url, AWARDS, limit=101)
    assert trap.status_code == 200 and trap.json() == 'Max value allowed for parameter "limit" is 100'
    for bad in ({"limit": 0}, {"limit": "ten"}, {"offset": -1}):
        assert get(url, AWARDS, **bad).json()["message"] == "limit/offset must be a positive number."


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"lastModifiedDate": "2026-01-01"}, 400, "Dates must be specified in the MM/DD/YYYY"),
        ({"dateSigned": "[1/5/2025,]"}, 400, "Dates must be specified in the MM/DD/YYYY"),
        ({"contractingSubtier": "7012"}, 400, "The search parameter, contractingSubtier does not exist."),
        ({"q": "palantir{1}"}, 400, "Invalid characters in the search parameters"),
        ({"awardeeUniqueEntityId": "~".join(["X"] * 101)}, 400, "A maximum of 100 values is allowed"),
        ({"deletedStatus": "maybe"}, 400, "deletedStatus"),
        ({"includeSections": "contractId,vendor"}, 400, "includeSections"),
        ({"offset": 4001, "limit": 100}, 400, "You may only page through the first 400,000 records"),
        ({"offset": 4000, "limit": 100}, 500, "Internal Server Error"),
    ],
)
def test_awards_validation(sam: tuple[SamReplay, str], params: dict, status: int, message: str) -> None:
    r = get(sam[1], AWARDS, **params)
    assert r.status_code == status and message in r.json()["message"]


def test_tilde_lists_only_on_list_parameters(sam: tuple[SamReplay, str]) -> None:
    replay, url = sam
    replay.set_data(actions=[action("A", "UEIA"), action("B", "UEIB"), action("C", "UEIC")])
    assert piids(get(url, AWARDS, awardeeUniqueEntityId="UEIA~UEIC")) == ["A", "C"]
    raw = httpx.get(f"{url}{AWARDS}?api_key=TESTKEY&awardeeUniqueEntityId=UEIB%7EUEIC")
    assert piids(raw) == ["B", "C"]
    assert get(url, AWARDS, contractingSubtierCode="7012").json()["totalRecords"] == "3"
    assert get(url, AWARDS, contractingSubtierCode="7012~7001").status_code == 204


def test_last_modified_range_over_mixed_record_formats(sam: tuple[SamReplay, str]) -> None:
    replay, url = sam
    stamps = ["2025-06-10T23:59:59Z", "2025-06-11 07:18:02.000", "2025-06-12T19:13:54.000Z", "2025-06-13 00:00:00.000"]
    replay.set_data(actions=[action(f"P{i}", modified=s) for i, s in enumerate(stamps)])
    assert piids(get(url, AWARDS, lastModifiedDate="[06/11/2025,06/12/2025]")) == ["P1", "P2"]
    assert piids(get(url, AWARDS, lastModifiedDate="[06/12/2025,]")) == ["P2", "P3"]
    assert piids(get(url, AWARDS, lastModifiedDate="[,06/10/2025]")) == ["P0"]
    raw = httpx.get(f"{url}{AWARDS}?api_key=TESTKEY&lastModifiedDate=%5B06%2F13%2F2025%2C%5D")
    assert piids(raw) == ["P3"]
    assert piids(httpx.get(f"{url}{AWARDS}?api_key=TESTKEY&lastModifiedDate=06/11/2025")) == ["P1"]


def test_deleted_status_lists_deletions_by_deletion_day(sam: tuple[SamReplay, str]) -> None:
    replay, url = sam
    gone = [
        DeletedAction(date(2026, 3, 1), {"contractId": {"subtier": ICE, "piid": "DEL1", "modificationNumber": "0"}}),
        DeletedAction(date(2026, 3, 5), {"contractId": {"subtier": ICE, "piid": "DEL2", "modificationNumber": "P1"}}),
    ]
    replay.set_data(deleted=gone)
    assert piids(get(url, AWARDS, deletedStatus="yes")) == ["DEL1", "DEL2"]
    window = get(url, AWARDS, deletedStatus="yes", lastModifiedDate="[03/04/2026,03/31/2026]")
    assert piids(window) == ["DEL2"]
    assert get(url, AWARDS, deletedStatus="yes", piid="DEL1").json()["totalRecords"] == "1"
    assert get(url, AWARDS, deletedStatus="yes", lastModifiedDate="[04/01/2026,]").status_code == 204
    assert get(url, AWARDS, deletedStatus="no").json()["totalRecords"] == "5"


def test_include_sections_projects_records(sam: tuple[SamReplay, str]) -> None:
    _, url = sam
    item = get(url, AWARDS, includeSections="contractId,awardeeData", limit=1).json()["awardSummary"][0]
    assert set(item) == {"contractId", "awardDetails"} and set(item["awardDetails"]) == {"awardeeData"}
    assert set(get(url, AWARDS, includeSections="coreData", limit=1).json()["awardSummary"][0]) == {"coreData"}


def test_award_filters(sam: tuple[SamReplay, str]) -> None:
    replay, url = sam
    replay.set_data(actions=[action("A", naics="541512"), action("B", naics="518210", name="AMAZON WEB SERVICES")])
    assert piids(get(url, AWARDS, naicsCode="518210~999999")) == ["B"]
    assert piids(get(url, AWARDS, awardeeLegalBusinessName="web serv")) == ["B"]
    assert piids(get(url, AWARDS, q="amazon web")) == ["B"]
    assert get(url, AWARDS, q="amaz").status_code == get(url, AWARDS, q="mazon").status_code == 204  # whole words
    assert get(url, AWARDS, awardOrIDV="award", fundingSubtierCode="7012").json()["totalRecords"] == "2"


def test_opportunity_dates_are_mandatory_strict_and_within_364_days(sam: tuple[SamReplay, str]) -> None:
    _, url = sam
    for params in ({}, {"postedFrom": "01/01/2026"}, {"postedTo": "01/01/2026"}):
        r = get(url, OPPS, **params)
        assert r.status_code == 400 and r.json() == {"errorMessage": "PostedFrom and PostedTo are mandatory"}
    for bad in ("1/1/2026", "2026-01-01"):
        assert "Expected date format is MM/dd/yyyy" in opp(url, postedFrom=bad).json()["errorMessage"]
    too_long = opp(url, postedFrom="01/01/2025", postedTo="01/01/2026")
    assert too_long.status_code == 400 and "no more than 1 year apart" in too_long.json()["errorMessage"]
    accepted = opp(url, postedFrom="01/01/2025", postedTo="12/31/2025")  # 364 days: valid, and nothing posted
    assert accepted.status_code == 404 and accepted.json() == {"error": {"code": "404", "message": "No Data found"}}
    assert opp(url, postedFrom="02/01/2026", postedTo="01/01/2026").status_code == 400


def test_opportunity_limit_defaults_to_one_and_is_bounded(sam: tuple[SamReplay, str]) -> None:
    _, url = sam
    body = opp(url).json()
    assert (body["totalRecords"], body["limit"], len(body["opportunitiesData"])) == (3, 1, 1)
    assert "api_key" not in body["links"][0]["href"] and "postedFrom=01/01/2026" in body["links"][0]["href"]
    for limit in (1001, -1, "x"):
        assert opp(url, limit=limit).json()["errorMessage"].startswith("Limit valid range is 0-1000")
    assert opp(url, offset=-1).json()["errorMessage"] == "limit/offset must be a positive number."


def test_opportunity_search_finding_nothing_is_404_no_data_found_or_200_with_zero(sam: tuple[SamReplay, str]) -> None:
    replay, url = sam
    empty = opp(url, postedFrom="01/01/2025", postedTo="01/31/2025")
    assert empty.status_code == 404 and empty.json() == {"error": {"code": "404", "message": "No Data found"}}
    assert opp(url, ptype="g").status_code == 404  # nothing of that type either
    replay.empty_404 = False  # the other answer seen: a 200 with a zero count
    zero = opp(url, postedFrom="01/01/2025", postedTo="01/31/2025")
    assert zero.status_code == 200 and (zero.json()["totalRecords"], zero.json()["opportunitiesData"]) == (0, [])


def test_opportunity_ptype_forms_and_ignored_deptname(sam: tuple[SamReplay, str]) -> None:
    replay, url = sam
    kinds = ["Award Notice", "Justification", "Solicitation", "Award Notice"]
    replay.set_data(notices=[notice(i, kind=k) for i, k in enumerate(kinds)])
    comma = opp(url, limit=10, ptype="a,u").json()
    query = "api_key=TESTKEY&postedFrom=01/01/2026&postedTo=02/28/2026&limit=10&ptype=a&ptype=u"
    repeated = httpx.get(f"{url}{OPPS}?{query}").json()
    assert comma["totalRecords"] == repeated["totalRecords"] == 3
    assert {n["type"] for n in comma["opportunitiesData"]} == {"Award Notice", "Justification"}
    assert opp(url, ptype="o").json()["totalRecords"] == 1
    assert opp(url, deptname="NO SUCH DEPARTMENT", subtier="NONE").json()["totalRecords"] == 4


def test_opportunity_page_past_the_end_returns_one_stray_record(sam: tuple[SamReplay, str]) -> None:
    _, url = sam
    ids = [f"{i:032x}" for i in (1, 2, 3)]
    pages = [opp(url, limit=2, offset=o).json() for o in range(4)]
    assert [[n["noticeId"] for n in p["opportunitiesData"]] for p in pages] == [ids[:2], ids[2:], ids[:1], ids[:1]]
    assert all(p["totalRecords"] == 3 for p in pages)
    zero = opp(url, limit=0).json()
    assert (zero["totalRecords"], zero["opportunitiesData"]) == (3, [])
    assert opp(url, "/prod" + OPPS, noticeid=ids[1]).json()["opportunitiesData"][0]["noticeId"] == ids[1]
    assert opp(url, solnum="70CMSD26R0003", title="CASE").json()["totalRecords"] == 1


def test_faults_count_per_prefix_and_against_the_quota(sam: tuple[SamReplay, str]) -> None:
    replay, url = sam
    replay.faults.append(Fault("/contract-awards", nth=2, status=503, body=b'{"down": true}', times=2))
    statuses = [get(url, AWARDS).status_code for _ in range(4)]
    assert statuses == [200, 503, 503, 200]
    assert opp(url).status_code == 200  # another prefix, not faulted
    assert replay.used(replay.today()) == 5


def test_paths_methods_and_the_key_never_logged(sam: tuple[SamReplay, str]) -> None:
    replay, url = sam
    missing = httpx.get(url + "/entity-information/v3/entities?api_key=TESTKEY")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert httpx.post(url + AWARDS + "?api_key=TESTKEY").status_code == 405
    get(url, AWARDS, piid="70CMSD25F0001", lastModifiedDate="[06/01/2025,]")
    assert "TESTKEY" not in repr(replay.requests)
    last = replay.requests[-1]
    assert (last.path, last.status) == (AWARDS, 200)
    assert last.params == {"piid": ["70CMSD25F0001"], "lastModifiedDate": ["[06/01/2025,]"]}


def test_a_shuffle_seed_fixes_the_order_for_a_day_and_changes_it_the_next() -> None:
    day = [date(2026, 5, 22)]
    replay = SamReplay([action(f"P{i:02d}") for i in range(20)], today=lambda: day[0], daily_quota=100)
    replay.shuffle_seed = 7
    with replay as url:
        first = [piids(get(url, AWARDS, limit=5, offset=o)) for o in range(4)]
        assert first == [piids(get(url, AWARDS, limit=5, offset=o)) for o in range(4)]  # stable within the day
        assert sorted(p for page in first for p in page) == [f"P{i:02d}" for i in range(20)]  # every record once
        assert [p for page in first for p in page] != [f"P{i:02d}" for i in range(20)]  # not the stored order
        day[0] = date(2026, 5, 23)
        assert [piids(get(url, AWARDS, limit=5, offset=o)) for o in range(4)] != first  # another day, another order
