"""The real ICE/CBP records in seeds/ice/, in the shape SAM.gov's Contract Awards v1 serves them.

No recorded SAM.gov response for a DHS award exists (docs/api/sam.md 8), so the fake SAM server
replays the same real contract actions that the USAspending replay serves (recipients,
PIIDs, modifications, amounts, descriptions), laid out as ``awardSummary`` items with
SAM.gov's quirks: amounts and counts as strings, five date formats in one record, agency
names in SAM's upper case. What the rows lack is synthesized and marked so: the
``lastModifiedDate`` is the day after the action was signed (FPDS approval), cumulative
totals are summed from the actions, and UEIs are left empty as in the rows.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from watcher.fakes.recordings import TX_TYPES
from watcher.fakes.usaspending_awards import ReplayAward
from watcher.sources.usaspending.parse import parse_award_key

DHS = {"code": "7000", "name": "HOMELAND SECURITY, DEPARTMENT OF"}
SAM_AGENCY_NAMES = {
    "7012": "U.S. IMMIGRATION AND CUSTOMS ENFORCEMENT",
    "7014": "U.S. CUSTOMS AND BORDER PROTECTION",
    "7001": "OFFICE OF PROCUREMENT OPERATIONS",
    "7003": "U.S. CITIZENSHIP AND IMMIGRATION SERVICES",
}


def _agency(code: str | None) -> dict[str, str]:
    return {"code": code or "", "name": SAM_AGENCY_NAMES.get(code or "", "UNKNOWN AGENCY")}


def actions(award: ReplayAward, lag_days: int = 1) -> list[dict[str, Any]]:
    """Every contract action of a replayed award as a Contract Awards ``awardSummary`` item."""
    parts = parse_award_key(award.key)
    kind = str(award.row["Contract Award Type"])
    agency = parts["agency"]
    out = []
    running = Decimal(0)
    ordered = sorted(award.transactions, key=lambda t: (t["action_date"], t["modification_number"]))
    first = ordered[0]["action_date"] if ordered else None
    for tx in ordered:
        running += Decimal(tx["federal_action_obligation"])
        number = str(tx["id"]).rsplit("_", 1)[1]
        contract_id: dict[str, Any] = {
            "subtier": _agency(agency),
            "piid": parts["piid"],
            "modificationNumber": tx["modification_number"],
            "transactionNumber": number,
        }
        if parts["parent_piid"]:
            contract_id |= {
                "referencedIDVSubtier": _agency(parts["parent_agency"]),
                "referencedIDVPiid": parts["parent_piid"],
                "referencedIDVModificationNumber": "0",
            }
        signed = tx["action_date"]
        modified = (date.fromisoformat(signed) + timedelta(days=lag_days)).isoformat()
        org = {"contractingDepartment": DHS, "contractingSubtier": _agency(agency)}
        out.append(
            {
                "contractId": contract_id,
                "coreData": {
                    "awardOrIDV": "AWARD",
                    "awardOrIDVType": {"code": TX_TYPES[kind], "name": kind},
                    "federalOrganization": {
                        "contractingInformation": org,
                        "fundingInformation": {"fundingDepartment": DHS, "fundingSubtier": _agency(agency)},
                    },
                    "productOrServiceInformation": {
                        "productOrService": {"type": "SERVICE", "code": "", "name": award.row["PSC"]["description"]},
                        "principalNaics": [{"code": "", "name": award.row["NAICS"]["description"]}],
                    },
                },
                "awardDetails": {
                    "dates": {
                        "dateSigned": f"{signed}T00:00:00Z",
                        "periodOfPerformanceStartDate": f"{first} 00:00:00.000",
                        "fiscalYear": str(int(signed[:4]) + (signed[5:7] >= "10")),
                    },
                    "dollars": {"actionObligation": str(tx["federal_action_obligation"])},
                    "totalContractDollars": {"totalActionObligation": str(running)},
                    "productOrServiceInformation": {"descriptionOfContractRequirement": tx["description"]},
                    "awardeeData": {
                        "awardeeHeader": {"awardeeName": award.row["Recipient Name"]},
                        "awardeeUEIInformation": {},
                    },
                    "transactionData": {
                        "status": {"code": "F", "name": "FINAL"},
                        "createdDate": f"{signed}T15:02:11.000Z",
                        "lastModifiedDate": f"{modified}T07:18:02Z",
                    },
                },
            }
        )
    return out


def all_actions(awards: list[ReplayAward], lag_days: int = 1) -> list[dict[str, Any]]:
    return [a for award in awards for a in actions(award, lag_days)]
