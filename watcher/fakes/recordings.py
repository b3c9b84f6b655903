"""Turn the real ICE/CBP records in seeds/ice/ into USAspending-shaped replay data.

The records are spending_by_transaction rows (one per contract action) saved by a
third party (seeds/ice/SOURCES.md). Grouped by award they give real award ids,
recipients, descriptions, amounts and modification histories. What the rows lack
is synthesized and marked so: an award's ``Last Modified Date`` is its latest action
date, ``Start Date`` its earliest, its type comes from the PIID heuristic in
docs/api/ice_data.md, and UEIs and end dates are left empty.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from watcher.fakes.usaspending_awards import ReplayAward
from watcher.sources.usaspending.parse import parse_award_key

DHS = "Department of Homeland Security"
SUBAGENCY = {
    "ICE": "U.S. Immigration and Customs Enforcement",
    "CBP": "U.S. Customs and Border Protection",
}
TX_TYPES = {
    "DEFINITIVE CONTRACT": "D",
    "PURCHASE ORDER": "B",
    "DELIVERY ORDER": "C",
    "BPA CALL": "A",
}


@dataclass(frozen=True)
class Snapshot:
    """One dated capture of the FY2026 query, replayed as what the API served that day."""

    day: date
    path: Path


def ice_dir(seeds: Path) -> Path:
    return seeds / "ice" / "wrags81_cbp_ice_dashboard"


def snapshots(seeds: Path) -> list[Snapshot]:
    """The FY2026 vendor-subset captures in date order; HEAD (2026-08-22) is the top-level file."""
    base = ice_dir(seeds)
    out = []
    for path in sorted((base / "snapshots_fy2026").glob("FY2026__vendor_subset__*.csv")):
        out.append(Snapshot(date.fromisoformat(path.stem.rsplit("__", 1)[1]), path))
    head = base / "CBP_ICE_FY2026_Contract_Obligations__vendor_subset__commit15b1aa27.csv"
    out.append(Snapshot(date(2026, 8, 22), head))
    return sorted(out, key=lambda s: s.day)


def history_files(seeds: Path) -> list[Path]:
    """FY2021-FY2025 vendor subsets (fixed history under every snapshot)."""
    return sorted(ice_dir(seeds).glob("CBP_ICE_FY202[1-5]_Contract_Obligations__vendor_subset__*.csv"))


def read_rows(paths: Iterable[Path]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    return rows


def award_type(piid: str, parent_piid: str | None) -> str:
    """The PIID heuristic of docs/api/ice_data.md 2.2 (letter 9 of a DHS PIID)."""
    letter = piid[8:9].upper() if len(piid) >= 9 else ""
    if parent_piid is None:
        return "PURCHASE ORDER" if letter == "P" else "DEFINITIVE CONTRACT"
    if "A" in parent_piid[6:10].upper() and parent_piid.upper().startswith("70"):
        return "BPA CALL"
    return "DELIVERY ORDER"


def _internal_id(key: str) -> int:
    return 100_000_000 + int(hashlib.sha1(key.encode()).hexdigest()[:7], 16)  # noqa: S324


def build_awards(rows: list[dict[str, str]]) -> list[ReplayAward]:
    """Group transaction rows into replayable awards (exact duplicate rows count once)."""
    by_award: dict[str, list[dict[str, str]]] = defaultdict(list)
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        ident = tuple(row.values())
        if ident in seen:  # the same row served twice (ties on a non-unique sort)
            continue
        seen.add(ident)
        by_award[row["Generated Award ID"].upper()].append(row)
    return [_award(key, txs) for key, txs in by_award.items()]


def _award(key: str, rows: list[dict[str, str]]) -> ReplayAward:
    parts = parse_award_key(key)
    piid = rows[0]["Award ID"]
    rows = sorted(rows, key=lambda r: (r["Action Date"], r["Modification"]))
    latest = rows[-1]
    base = next((r for r in rows if r["Modification"] in ("0", "")), rows[0])
    kind = award_type(piid, parts["parent_piid"])
    sub = SUBAGENCY.get(latest["Agency"], latest["Agency"])
    total = sum((Decimal(r["Federal Action Obligation"] or "0") for r in rows), Decimal(0))
    counter: dict[str, int] = defaultdict(int)
    transactions = []
    for r in rows:
        mod = r["Modification"] or "0"
        n = counter[mod]
        counter[mod] += 1
        tx_id = (
            f"CONT_TX_{parts['agency']}_{parts['parent_agency'] or '-NONE-'}_{piid}_{mod}_"
            f"{parts['parent_piid'] or '-NONE-'}_{n}"
        )
        transactions.append(
            {
                "id": tx_id,
                "type": TX_TYPES[kind],
                "type_description": kind,
                "action_date": r["Action Date"],
                "action_type": None,
                "action_type_description": None,
                "modification_number": mod,
                "description": r["Transaction Description"],
                "federal_action_obligation": Decimal(r["Federal Action Obligation"] or "0"),
                "face_value_loan_guarantee": Decimal(0),
                "original_loan_subsidy_cost": Decimal(0),
            }
        )
    row: dict[str, Any] = {
        "internal_id": _internal_id(key),
        "Award ID": piid,
        "generated_internal_id": key,
        "Recipient Name": latest["Recipient Name"],
        "Recipient UEI": None,
        "Award Amount": total,
        "Description": base["Transaction Description"],
        "Start Date": rows[0]["Action Date"],
        "End Date": None,
        "Last Modified Date": latest["Action Date"],
        "Contract Award Type": kind,
        "Awarding Agency": DHS,
        "Awarding Sub Agency": sub,
        "Funding Agency": DHS,
        "Funding Sub Agency": sub,
        "NAICS": {"code": None, "description": latest["NAICS Description"] or None},
        "PSC": {"code": None, "description": latest["Product/Service Description"] or None},
    }
    detail = {
        "id": row["internal_id"],
        "generated_unique_award_id": key,
        "piid": piid,
        "category": "contract",
        "type": TX_TYPES[kind],
        "type_description": kind,
        "description": row["Description"],
        "total_obligation": total,
        "base_and_all_options": None,
        "date_signed": rows[0]["Action Date"],
        "parent_award": {"piid": parts["parent_piid"]} if parts["parent_piid"] else None,
        "recipient": {
            "recipient_name": row["Recipient Name"],
            "recipient_uei": None,
            "parent_recipient_name": None,
            "parent_recipient_uei": None,
        },
        "period_of_performance": {
            "start_date": row["Start Date"],
            "end_date": None,
            "last_modified_date": row["Last Modified Date"],
            "potential_end_date": None,
        },
        "awarding_agency": {"toptier_agency": {"name": DHS, "code": "070"}, "subtier_agency": {"name": sub}},
        "funding_agency": {"toptier_agency": {"name": DHS, "code": "070"}, "subtier_agency": {"name": sub}},
    }
    return ReplayAward("contracts", row, detail, transactions)


#: The award detail's ``latest_transaction_contract_data`` keys, from the torn-apart download's columns
#: (a custom award download names them so: usaspending-api download_column_historical_lookups).
CONTRACT_DATA_COLUMNS = {
    "extent_competed": "extent_competed_code",
    "extent_competed_description": "extent_competed",
    "number_of_offers_received": "number_of_offers_received",
    "solicitation_procedures": "solicitation_procedures_code",
    "solicitation_procedures_description": "solicitation_procedures",
    "other_than_full_and_open": "other_than_full_and_open_competition_code",
    "other_than_full_and_open_description": "other_than_full_and_open_competition",
    "type_set_aside": "type_of_set_aside_code",
    "type_set_aside_description": "type_of_set_aside",
    "type_of_contract_pricing": "type_of_contract_pricing_code",
    "type_of_contract_pricing_description": "type_of_contract_pricing",
    "solicitation_identifier": "solicitation_identifier",
}


def _download_date(text: str) -> str:
    """The torn-apart files write dates as DD/MM/YYYY; ISO ones pass through."""
    if "/" in text:
        d, m, y = text.split("/")
        return f"{y}-{m}-{d}"
    return text


def contract_data(seeds: Path) -> dict[str, dict[str, str | None]]:
    """PIID -> the competition fields of its latest action in the torn-apart rows (seeds/ice/SOURCES.md 2a).

    These are real FPDS values for awards the demo replays; the wrags81 rows lack them. An empty
    cell is the API's null. No file: no competition data (the replayed details then lack it).
    """
    path = seeds / "ice" / "torn_apart" / "ice_contract_transactions_fy13-fy18__demo_awards.csv"
    if not path.exists():
        return {}
    latest: dict[str, dict[str, str]] = {}
    for row in read_rows([path]):
        piid, when = row["award_id_piid"], _download_date(row["action_date"])
        if piid not in latest or when >= _download_date(latest[piid]["action_date"]):
            latest[piid] = row
    return {piid: {k: row[c] or None for k, c in CONTRACT_DATA_COLUMNS.items()} for piid, row in latest.items()}


def dataset(seeds: Path, snapshot: Snapshot) -> list[ReplayAward]:
    """What USAspending served on ``snapshot.day``: FY2021-25 history plus that day's FY2026 rows.

    An award with competition fields in the torn-apart rows gets them in its detail.
    """
    awards = build_awards(read_rows([*history_files(seeds), snapshot.path]))
    facts = contract_data(seeds)
    for a in awards:
        if a.row["Award ID"] in facts:
            a.detail["latest_transaction_contract_data"] = facts[a.row["Award ID"]]
    return awards


def agency_names(agencies: Iterable[Any]) -> set[tuple[str, str, str]]:
    """(toptier, subtier, code) for the replay's autocomplete, from the seeds' agencies.

    The real API knows every DHS component; the recordings only show ICE and CBP.
    """
    out = set()
    for a in agencies:
        if a.tier == "subtier":
            out.add((a.toptier_name or DHS, a.name, a.code or ""))
    return out
