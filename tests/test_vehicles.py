"""Contract vehicles: orders under a vendor's own IDV or BPA match with reason ``vehicle``, and polls find them."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from watcher.config import load_config
from watcher.errors import ConfigError
from watcher.match import build_matcher, normalize_name, vehicle_ref
from watcher.models import Award

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "watcher" / "seeds"
CONFIG = load_config(ROOT / "queries.yaml")
MATCHER = build_matcher(CONFIG.watches["dhs-big-tech"], CONFIG.resellers)
#: A made-up ICE order under Palantir's real DHS BPA, paid to someone else, naming nobody.
NOBODY = "CONT_AWD_70CTD026FC0000099_7012_70RTAC26A00000001_7001"


def award(key: str, **kw: object) -> Award:
    base: dict[str, object] = {"award_key": key, "total_obligation": Decimal("1000.00"), "category": "contract"}
    return Award(**(base | kw))  # type: ignore[arg-type]


def test_an_order_under_a_vendor_vehicle_matches_even_when_it_names_nobody() -> None:
    matches = MATCHER.match(award(NOBODY, recipient_name="ACME INTEGRATION LLC", description="SYSTEM SUPPORT"))
    assert [(m.vendor, m.reason) for m in matches] == [("palantir", "vehicle")]
    evidence = matches[0].evidence
    # the vehicle, in words, and the real record the seeds cite for it
    assert "an order under Palantir Technologies' own contract vehicle 70RTAC26A00000001" in evidence
    assert "ICE orders 70CTD026FC0000012 and 70CTD026FC0000018 (mod 0, FY2026 rows of seeds/ice)" in evidence


def test_the_vehicle_is_its_piid_and_its_agency() -> None:
    # the same PIID issued by another agency is another contract
    other = "CONT_AWD_70CTD026FC0000099_7012_70RTAC26A00000001_7014"
    assert MATCHER.match(award(other, recipient_name="ACME INTEGRATION LLC")) == []
    assert MATCHER.match(award("CONT_AWD_70CTD026FC0000099_7012_-NONE-_-NONE-", recipient_name="ACME")) == []


def test_the_vehicle_itself_matches_and_says_so() -> None:
    matches = MATCHER.match(award("CONT_IDV_70RTAC26A00000001_7001", category="idv", recipient_name="X"))
    assert [(m.vendor, m.reason) for m in matches] == [("palantir", "vehicle")]
    assert matches[0].evidence.startswith("is Palantir Technologies' own contract vehicle 70RTAC26A00000001")


def test_a_vehicle_order_paid_to_the_vendor_has_both_reasons() -> None:
    matches = MATCHER.match(award(NOBODY, recipient_name="PALANTIR TECHNOLOGIES INC."))
    assert [(m.vendor, m.reason) for m in matches] == [("palantir", "recipient"), ("palantir", "vehicle")]


def test_vehicle_ref_reads_award_ids() -> None:
    assert vehicle_ref(NOBODY) == (("70RTAC26A00000001", "7001"), False)
    assert vehicle_ref("CONT_IDV_GS35F0086U_4730") == (("GS35F0086U", "4730"), True)
    assert vehicle_ref("CONT_AWD_70CDCR26P00000009_7012_-NONE-_-NONE-") is None


def _sample_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    base = SEEDS / "ice" / "wrags81_cbp_ice_dashboard"
    for path in sorted(base.glob("CBP_ICE_FY*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    return rows


def test_every_shipped_vehicle_is_shown_by_a_cited_real_order_paid_to_its_vendor() -> None:
    """The seeds' vehicles come from the real ICE/CBP rows: an order under each, paid to the vendor, is cited."""
    rows = _sample_rows()
    listed = 0
    for key, vendor in CONFIG.vendors.items():
        aliases = [normalize_name(a) for a in vendor.aliases]
        for v in vendor.vehicles:
            listed += 1
            orders = {
                r["Award ID"]
                for r in rows
                if r["Generated Award ID"].upper().endswith(f"_{v.piid}_{v.agency}")
                and any(normalize_name(r["Recipient Name"]).startswith(a) for a in aliases)
            }
            assert orders, f"{key}: no sample order under {v.piid} paid to {vendor.name}"
            assert any(piid in v.evidence for piid in orders), f"{key}: {v.piid}'s evidence cites none of {orders}"
    assert listed >= 5


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{piid: 70rtac26a00000001, agency: '7001', evidence: x}", "piid"),
        ("{piid: 70RTAC26A00000001, agency: DHS HQ, evidence: x}", "agency"),
        ("{piid: 70RTAC26A00000001, agency: '7001'}", "evidence"),
    ],
)
def test_a_bad_vehicle_is_an_error_naming_its_line_and_key(tmp_path: Path, entry: str, message: str) -> None:
    cfg = tmp_path / "queries.yaml"
    cfg.write_text(
        f"settings:\n  seeds_dir: {SEEDS}\nwatches:\n  w:\n    agencies: [ice]\n    vendors:\n"
        f"      - name: Acme\n        vehicles:\n          - {entry}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert f"{cfg}:9: watches.w.vendors.0.vehicles.0" in str(err.value) and message in str(err.value)


def test_the_json_schema_of_queries_yaml_describes_vehicles() -> None:
    schema = json.loads((ROOT / "queries.schema.json").read_text())
    vehicle = schema["$defs"]["Vehicle"]
    assert set(vehicle["required"]) == {"piid", "agency", "evidence"} and vehicle["additionalProperties"] is False
    assert schema["$defs"]["InlineVendor"]["properties"]["vehicles"]["items"] == {"$ref": "#/$defs/Vehicle"}


# ---------------------------------------------------------------- end to end: the poll finds vehicle orders

from datetime import date, timedelta  # noqa: E402
from typing import Any  # noqa: E402

from click.testing import CliRunner, Result  # noqa: E402

from tests.conftest import awards_from, tx_row  # noqa: E402
from watcher.cli import cli  # noqa: E402
from watcher.fakes.usaspending import UsaspendingReplay  # noqa: E402

TODAY = date.today()
PAL = "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001"
#: Elsewhere in DHS: CBP's order under the same BPA is not the ICE watch's.
CBP_ORDER = "CONT_AWD_70B04C26FC0000077_7014_70RTAC26A00000001_7001"


def day(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def rows(*extra: dict[str, str]) -> list[dict[str, str]]:
    return [
        tx_row("70CTD026FC0000012", PAL, "PALANTIR TECHNOLOGIES INC.", "86271599.30", day(10), desc="ERO SYSTEM"),
        tx_row("70B04C26FC0000077", CBP_ORDER, "ACME INTEGRATION LLC", "5000.00", day(9), desc="X", agency="CBP"),
        *extra,
    ]


def nobody(amount: str = "1250000.00", mod: str = "0", when: int = 7, desc: str = "SYSTEM MODERNIZATION") -> dict:
    return tx_row("70CTD026FC0000099", NOBODY, "ACME INTEGRATION LLC", amount, day(when), mod=mod, desc=desc)


@pytest.fixture
def vehicle_env(replay: UsaspendingReplay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    replay.set_awards(awards_from(rows()))
    config = write_config()
    db = tmp_path / "w.db"

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *args])

    return run, db, replay


def q(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def listed(replay: UsaspendingReplay, since: int = 0) -> list[dict[str, Any]]:
    return [json.loads(body) for _, path, body in replay.requests[since:] if path == "/api/v2/idvs/awards/"]


def test_a_new_order_under_a_watched_vehicle_that_names_nobody_is_found_and_matched(vehicle_env) -> None:
    run, db, replay = vehicle_env
    assert run("poll").exit_code == 0
    assert q(db, "SELECT count(*) FROM awards WHERE award_key = ?", NOBODY) == [(0,)]
    replay.set_awards(awards_from(rows(nobody())))
    before = len(replay.requests)
    result = run("poll")
    assert result.exit_code == 0, result.output
    # no search by name or word returns it: only the BPA's list of orders does
    assert q(db, "SELECT vendor, reason FROM matches WHERE entity_key = ?", NOBODY) == [("palantir", "vehicle")]
    (evidence,) = q(db, "SELECT evidence FROM matches WHERE entity_key = ?", NOBODY)[0]
    assert "70RTAC26A00000001" in evidence and "70CTD026FC0000012" in evidence
    assert ("new_award", NOBODY) in q(db, "SELECT kind, entity_key FROM changes")
    # the CBP order under the same BPA is outside this ICE watch: never read, never stored
    assert q(db, "SELECT count(*) FROM awards WHERE award_key = ?", CBP_ORDER) == [(0,)]
    # one list per vehicle of the watch's vendors (2 Palantir, 3 Microsoft), each its real generated id
    bodies = listed(replay, before)
    assert sorted(b["award_id"] for b in bodies) == sorted(
        [
            "CONT_IDV_70RTAC26A00000001_7001",
            "CONT_IDV_GS35F0086U_4730",
            "CONT_IDV_HSHQDC15D00017_7001",
            "CONT_IDV_HSBP1009D02335_7014",
            "CONT_IDV_HSBP1008D01873_7014",
        ]
    )
    assert all(b["type"] == "child_awards" and b["limit"] == 100 for b in bodies)
    # read by its PIID (one search), then its actions and detail, like any new award
    by_id = [json.loads(b) for _, p, b in replay.requests[before:] if p.endswith("spending_by_award/")]
    assert any(b["filters"].get("award_ids") == ["70CTD026FC0000099"] for b in by_id)


def test_an_unchanged_vehicle_order_costs_only_the_list_and_a_moved_one_is_read_again(vehicle_env) -> None:
    run, db, replay = vehicle_env
    replay.set_awards(awards_from(rows(nobody())))
    assert run("poll").exit_code == 0
    before = len(replay.requests)
    assert run("poll").exit_code == 0
    again = replay.requests[before:]
    assert not [p for _, p, _ in again if p.startswith("/api/v2/awards/") or p == "/api/v2/transactions/"]
    assert len(listed(replay, before)) == 5
    # a modification outside every search: the list's total moves, so the order is read and the change kept
    replay.set_awards(awards_from(rows(nobody(), nobody("-250000.00", "P00001", 2, "ADMINISTRATIVE CHANGE"))))
    assert run("poll").exit_code == 0
    kinds = q(db, "SELECT kind FROM changes WHERE award_key = ? ORDER BY id", NOBODY)
    assert sorted(k for (k,) in kinds) == ["award_changed", "new_award", "new_transaction"]
    assert q(db, "SELECT total_obligation FROM awards WHERE award_key = ?", NOBODY) == [(1000000.0,)]


# ---------------------------------------------------------------- the replay's idvs/awards, as strict as the real view


def idv_post(replay: UsaspendingReplay, body: Any) -> Any:
    import httpx

    return httpx.post(replay.url + "/api/v2/idvs/awards/", json=body)  # type: ignore[attr-defined]


@pytest.fixture
def bpa(replay: UsaspendingReplay) -> UsaspendingReplay:
    orders = [
        tx_row(
            f"70CTD026FC00001{i:02d}",
            f"CONT_AWD_70CTD026FC00001{i:02d}_7012_70RTAC26A00000001_7001",
            "A",
            f"{i}.00",
            day(i),
        )
        for i in range(1, 13)
    ]
    replay.set_awards(awards_from([*orders, *rows()]))
    return replay


def test_the_replay_lists_a_vehicles_orders_in_the_real_views_shape_and_pages(bpa: UsaspendingReplay) -> None:
    first = idv_post(bpa, {"award_id": "CONT_IDV_70RTAC26A00000001_7001", "type": "child_awards", "limit": 5})
    assert first.status_code == 200
    data = first.json()
    assert list(data) == ["results", "page_metadata"]
    assert data["page_metadata"] == {"page": 1, "next": 2, "previous": None, "hasNext": True, "hasPrevious": False}
    row = data["results"][0]
    # idvs/v2/views/awards.py: the SQL's columns in order, the two toptier ids dropped, the slugs added
    assert list(row) == [
        "award_id", "award_type", "description", "funding_agency", "awarding_agency", "funding_agency_id",
        "awarding_agency_id", "generated_unique_award_id", "last_date_to_order", "obligated_amount",
        "period_of_performance_current_end_date", "period_of_performance_start_date", "piid",
        "funding_agency_slug", "awarding_agency_slug",
    ]  # fmt: skip
    assert row["awarding_agency"] == "Department of Homeland Security"  # the department, not the component
    # newest start first by default; 12 orders and ICE's Palantir order under the BPA, the CBP one too
    starts = [r["period_of_performance_start_date"] for r in data["results"]]
    assert starts == sorted(starts, reverse=True)
    keys = set()
    for page in (1, 2, 3):
        body = {"award_id": "CONT_IDV_70RTAC26A00000001_7001", "type": "child_awards", "limit": 5, "page": page}
        keys |= {r["generated_unique_award_id"] for r in idv_post(bpa, body).json()["results"]}
    assert len(keys) == 14 and PAL in keys and CBP_ORDER in keys
    # the default type lists child IDVs (none here); an id naming nothing, or in lower case, is an empty 200
    assert idv_post(bpa, {"award_id": "CONT_IDV_70RTAC26A00000001_7001"}).json()["results"] == []
    for unknown in ("CONT_IDV_70rtac26a00000001_7001", "BOGUS_ID", 0):
        answer = idv_post(bpa, {"award_id": unknown, "type": "child_awards"})
        assert answer.status_code == 200 and answer.json()["results"] == []


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"type": "child_awards"}, 422, "Missing value: 'award_id' is a required field"),
        ({"award_id": "X", "limit": 101}, 422, "Field 'limit' value '101' is above max '100'"),
        ({"award_id": "X", "limit": 0}, 422, "Field 'limit' value '0' is below min '1'"),
        ({"award_id": "X", "limit": {"BOGUS": 1}}, 400, "is not a valid type (integer)"),
        ({"award_id": "X", "page": 0}, 422, "Field 'page' value '0' is below min '1'"),
        ({"award_id": "X", "page": "BOGUS PAGE"}, 400, "Invalid value in 'page'. 'BOGUS PAGE' is not a valid type"),
        ({"award_id": "X", "sort": "Last Modified Date"}, 400, "Field 'sort' is outside valid values"),
        ({"award_id": "X", "order": "newest"}, 400, "Field 'order' is outside valid values ['asc', 'desc']"),
        ({"award_id": "X", "type": "orders"}, 400, "Field 'type' is outside valid values"),
        ({"award_id": ["X"]}, 422, "is not a valid type (integer, text)"),
        ({"award_id": ""}, 422, "is not a valid type (integer, text)"),
        # rules are applied in the model's order: the limit is checked before the type
        ({"award_id": "X", "type": "orders", "limit": 500}, 422, "above max '100'"),
    ],
)
def test_the_replay_refuses_what_the_real_view_refuses(
    bpa: UsaspendingReplay, body: Any, status: int, detail: str
) -> None:
    answer = idv_post(bpa, body)
    assert answer.status_code == status
    assert detail in answer.json()["detail"]


def test_which_listed_orders_are_read() -> None:
    from watcher.sources.usaspending.vehicles import Child, to_read

    def child(n: int, total: str = "10.00", end: str | None = None) -> Child:
        key = f"CONT_AWD_70CTD026FC00000{n:02d}_7012_70RTAC26A00000001_7001"
        return Child(
            key, f"70CTD026FC00000{n:02d}", Decimal(total), "2026-01-01", end, "Department of Homeland Security"
        )

    new, ended, refused, same, moved, other = (
        child(1),
        child(2, end="2025-12-31"),
        child(3),
        child(4),
        child(5),
        child(6),
    )
    row = {"total_obligation": 10.0, "start_date": "2026-01-01", "end_date": None}
    stored = {same.award_key: row, moved.award_key: {**row, "total_obligation": 9.0}, other.award_key: row}
    wanted, judge = to_read(
        [new, ended, refused, same, moved, other],
        stored,
        held={same.award_key, moved.award_key},
        rejected={refused.award_key},
        since="2026-01-15",
    )
    # new: read; ended before the window: history; turned down before: not again; held and unchanged: nothing;
    # held and its total moved: read; stored for another watch: judged from what is stored
    assert wanted == {new.award_key: new.piid, moved.award_key: moved.piid}
    assert judge == {other.award_key}
