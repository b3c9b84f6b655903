"""Every recorded USAspending response (tests/fixtures/usaspending, real bodies) parses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from watcher.http import error_detail, parse_json
from watcher.sources.usaspending.api import check_messages
from watcher.sources.usaspending.parse import (
    DETAIL_FIELDS,
    SEARCH_FIELDS,
    award_from_search,
    detail_fields,
    transaction_from_api,
)

SAMPLES = Path(__file__).parent / "fixtures" / "usaspending"
ALL_JSON = sorted(p for p in SAMPLES.rglob("*.json") if "errors" not in p.parts)


@pytest.mark.parametrize("path", ALL_JSON, ids=lambda p: p.name)
def test_every_sample_is_json_with_exact_amounts(path: Path) -> None:
    data = parse_json(path.read_bytes(), path.name)
    assert isinstance(data, dict)

    def floats(obj: object) -> list[float]:
        if isinstance(obj, float):
            return [obj]
        if isinstance(obj, dict):
            return [f for v in obj.values() for f in floats(v)]
        if isinstance(obj, list):
            return [f for v in obj for f in floats(v)]
        return []

    assert floats(data) == []  # no amount ever passes through float


AWARD_SEARCHES = [p for p in SAMPLES.glob("search_spending_by_award__*.json") if "subawards" not in p.name]


@pytest.mark.parametrize("path", AWARD_SEARCHES, ids=lambda p: p.name)
def test_spending_by_award_rows_normalize(path: Path) -> None:
    data = parse_json(path.read_bytes(), path.name)
    check_messages(data, path.name)  # real pages carry only the time-period notice
    group = "idvs" if "idvs" in path.name else "contracts"
    for row in data["results"]:
        # the recordings asked for other field sets; absent fields are what the API sends for them: null
        full = {f: None for f in SEARCH_FIELDS[group]} | row
        award = award_from_search(full, group)
        assert award.award_key == row["generated_internal_id"].upper()
        if row.get("Award Amount") is not None:
            assert award.total_obligation == Decimal(str(row["Award Amount"]))
            assert isinstance(award.total_obligation, Decimal)


def test_exact_amount_from_json_text() -> None:
    data = parse_json((SAMPLES / "search_spending_by_award__contracts_nasa_limit2.json").read_bytes(), "x")
    assert data["results"][0]["Award Amount"] == Decimal("4345585999.01")


def test_transactions_sample_parses() -> None:
    data = parse_json((SAMPLES / "transactions__CONT_AWD_0007_9700_FA870215D0001_9700.json").read_bytes(), "x")
    txs = [transaction_from_api(r, "CONT_AWD_0007_9700_FA870215D0001_9700") for r in data["results"]]
    assert txs[0].transaction_key == "CONT_TX_9700_9700_0007_Q6_FA870215D0001_1"
    assert txs[0].obligation == Decimal("-86440.52")
    assert all(t.action_date and len(t.action_date) == 10 for t in txs)


@pytest.mark.parametrize(
    "name",
    [
        "awards__CONT_AWD_0007_9700_FA870215D0001_9700.json",
        "awards__contract_CONT_AWD_80GSFC18C0008.json",
        "awards__idv_nasa.json",
    ],
)
def test_award_detail_samples_parse(name: str) -> None:
    fields = detail_fields(parse_json((SAMPLES / name).read_bytes(), name))
    assert set(fields) == set(DETAIL_FIELDS)
    if name.startswith("awards__CONT_AWD_0007"):
        assert fields["potential_value"] == Decimal("1630072347.66")
        assert fields["potential_end_date"] == "2030-02-28"  # from "2030-02-28 00:00:00"
        assert fields["parent_uei"] == "SN5KKUDR9LY8"


@pytest.mark.parametrize("path", sorted((SAMPLES / "errors").glob("*.json")), ids=lambda p: p.name)
def test_error_bodies_give_their_detail(path: Path) -> None:
    status = int(path.name.split("__")[0])
    detail = error_detail(httpx.Response(status, content=path.read_bytes()))
    assert detail and "{" not in detail  # the message itself, not the JSON wrapper
