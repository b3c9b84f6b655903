"""The pure rules of subawards: which reports are one subaward, what a change is, how it is said, what is asked."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import yaml

from tests.conftest import ROOT
from watcher.config import load_config
from watcher.diff import diff_subaward, merge_subaward, subaward_gone
from watcher.fakes.usaspending_subawards import SUBAWARD_MAPPING
from watcher.models import Subaward
from watcher.sources.usaspending.subaward_parse import (
    SUBAWARD_SEARCH_FIELDS,
    collapse,
    from_list,
    from_search,
    subaward_body,
    subaward_key,
    subaward_plan,
)
from watcher.words import subaward_item

PRIME = "CONT_AWD_70CDCR26FC0000077_7012_-NONE-_-NONE-"


def search_row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "internal_id": None,
        "prime_award_internal_id": None,
        "Sub-Award ID": "SUB-1",
        "Sub-Awardee Name": "PALANTIR USG, INC.",
        "Sub-Recipient UEI": "ABCDEFGHJKL1",
        "Sub-Award Date": "2026-06-01",
        "Sub-Award Amount": Decimal("120000.0"),
        "Sub-Award Description": "ANALYTICS",
        "Prime Award ID": "70CDCR26FC0000077",
        "Prime Recipient Name": "GENERAL CONTRACTOR INC",
        "Awarding Sub Agency": "U.S. Immigration and Customs Enforcement",
        "prime_award_generated_internal_id": PRIME,
    }
    row.update(over)
    return row


def list_row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": 9001,
        "subaward_number": "SUB-1",
        "description": "ANALYTICS",
        "action_date": "2026-06-01",
        "amount": Decimal("120000.0"),
        "recipient_name": "PALANTIR USG, INC.",
    }
    row.update(over)
    return row


def test_both_endpoints_give_one_key_for_one_subaward_and_only_its_identity_changes_it() -> None:
    a, b = from_search(search_row()), from_list(list_row(), PRIME)
    assert a is not None and a.subaward_key == b.subaward_key
    assert subaward_key(PRIME, "sub-1", "2026-06-01", "Palantir USG Inc") == a.subaward_key  # case, punctuation
    assert subaward_key(PRIME, "SUB-1", "2026-07-01", "PALANTIR USG, INC.") != a.subaward_key  # a later action
    assert subaward_key(PRIME, "N/A", "2026-06-01", "ACME") != subaward_key(PRIME, "N/A", "2026-06-01", "OTHER CO")
    assert from_search(search_row(prime_award_generated_internal_id=None)) is None  # cannot be keyed: skipped


def test_collapse_keeps_one_record_per_subaward_whichever_endpoint_answered() -> None:
    reports = [
        (from_list(list_row(id=9001), PRIME), "r1"),
        (from_list(list_row(id=9007, amount=Decimal("125000.0")), PRIME), "r2"),  # a re-filing, corrected
        (from_list(list_row(id=9003, subaward_number="SUB-2"), PRIME), "r3"),
    ]
    out = collapse(reports)
    assert len(out) == 2
    one, refs = out[reports[0][0].subaward_key]
    assert (one.amount, one.report_id, one.report_count, refs) == (Decimal("125000.0"), "9007", 2, ["r1", "r2"])
    # the same two reports from the search (no ids) give the same record: the two endpoints never undo each other
    searched = collapse(
        [
            (from_search(search_row()), "s1"),
            (from_search(search_row(**{"Sub-Award Amount": Decimal("125000.0")})), "s2"),
        ]
    )
    assert searched[one.subaward_key][0].amount == one.amount


def test_a_change_is_a_fact_that_moved_never_a_field_one_endpoint_does_not_give() -> None:
    searched = from_search(search_row())
    assert searched is not None
    stored = {**merge_subaward(None, searched).to_row(), "deleted_at": None}
    stored["amount"] = float(stored["amount"])
    listed = from_list(list_row(), PRIME)  # no UEI, no prime recipient: silence, not a change
    assert diff_subaward(stored, listed) is None
    assert merge_subaward(stored, listed).sub_recipient_uei == "ABCDEFGHJKL1"
    change = diff_subaward(stored, from_search(search_row(**{"Sub-Recipient UEI": "ZZZZZZZZZZZ9"})))
    assert change is not None and change.diff == {"sub_recipient_uei": ["ABCDEFGHJKL1", "ZZZZZZZZZZZ9"]}
    filled = diff_subaward({**stored, "sub_recipient_uei": None}, searched)  # first known: filled in silently
    assert filled is None
    corrected = diff_subaward(stored, from_list(list_row(amount=Decimal("100000.0")), PRIME))
    assert corrected is not None and corrected.kind == "subaward_changed"
    assert (corrected.diff, corrected.amount_delta) == ({"amount": ["120000.00", "100000.00"]}, Decimal("-20000.0"))
    back = diff_subaward({**stored, "deleted_at": "2026-07-01T12:00:00Z"}, listed)
    assert back is not None and back.diff == {"deleted_at": ["2026-07-01T12:00:00Z", None]}
    gone = subaward_gone(stored)
    assert gone.kind == "subaward_deleted" and gone.award_key == PRIME and gone.amount_delta == Decimal("-120000")
    assert gone.diff["amount"] == ["120000.00", None]


def test_subaward_changes_in_words() -> None:
    sub = {**Subaward(subaward_key="SUBAWD_X", prime_award_key=PRIME).to_row(), **{
        "sub_recipient_name": "PALANTIR USG, INC.", "amount": 100000.0, "action_date": "2026-06-01",
        "subaward_number": "SUB-1", "prime_piid": "70CDCR26FC0000077", "prime_recipient_name": "GENERAL CONTRACTOR INC",
        "awarding_subagency": "U.S. Immigration and Customs Enforcement", "report_count": 3,
    }}  # fmt: skip
    abbr = {"U.S. Immigration and Customs Enforcement": "ICE"}
    diff = json.dumps({"amount": ["120000.00", "100000.00"]})
    changed = subaward_item("SUBAWD_X", [{"id": 1, "kind": "subaward_changed", "diff": diff, "award_key": PRIME}],
                            sub, None, [], "Palantir", abbr, "https://w.example")  # fmt: skip
    assert (
        changed.headline
        == "PALANTIR USG, INC.: subaward under GENERAL CONTRACTOR INC's ICE prime 70CDCR26FC0000077 changed"
    )
    assert "subaward amount $120K → $100K" in changed.facts and changed.amount == Decimal("-20000")
    assert "reported 3 times (the re-filed reports are one subaward here)" in changed.facts
    assert changed.page_url is None  # no watch holds that prime: the site has no page for it
    gone = subaward_item("SUBAWD_X", [{"id": 2, "kind": "subaward_deleted", "diff": "{}", "award_key": PRIME}],
                         sub, None, [], "Palantir", abbr, None)  # fmt: skip
    assert "withdrawn from the official record" in gone.headline and "it had been reported as $100,000.00" in gone.facts


def test_the_subaward_request_asks_only_what_the_subaward_level_serves() -> None:
    config = load_config(ROOT / "queries.yaml")
    watch = config.watches["dhs-big-tech"]
    queries = subaward_plan(watch)
    assert [(q.role, q.mode) for q in queries] == [
        ("awarding", "recipient"), ("awarding", "keyword"), ("funding", "recipient"), ("funding", "keyword")
    ]  # fmt: skip
    body = subaward_body(watch, queries[0], date(2026, 8, 22), 100)
    assert body["spending_level"] == "subawards"
    assert set(body["fields"]) <= set(SUBAWARD_MAPPING) and body["sort"] in body["fields"]
    assert body["fields"] == SUBAWARD_SEARCH_FIELDS
    # contracts and IDVs are one group ("procurement") at the subaward level: one request
    assert (
        body["filters"]["award_type_codes"][:4] == ["A", "B", "C", "D"]
        and "IDV_A" in body["filters"]["award_type_codes"]
    )
    (period,) = body["filters"]["time_period"]
    assert period == {"start_date": "2025-08-22", "end_date": "2026-08-23", "date_type": "action_date"}
    assert yaml.safe_dump(body)  # plain data
