"""Pure functions that turn raw USAspending JSON into Award and Transaction records.

Amounts arrive as JSON numbers; they are parsed as Decimal from the response text
(see ``http.parse_json``) and never pass through float; one no award can carry (NaN,
infinite, past ``values.MAX_AMOUNT``) is refused with ImpossibleAmount, and the poll skips
that award with a warning. Dates come out as ISO ``YYYY-MM-DD`` whatever format the API used.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from watcher.errors import ImpossibleAmount, SourceError
from watcher.models import COMPETITION_FIELDS, Award, Transaction
from watcher.values import plain_text, to_date, to_decimal

USASPENDING_AWARD_URL = "https://www.usaspending.gov/award/{key}"

#: Fields requested from spending_by_award, per award group. Every one is valid for its
#: group (docs/api/usaspending.md 2.4): an unknown or out-of-group name would silently come back null.
COMMON_FIELDS = [
    "Award ID",
    "generated_internal_id",
    "Recipient Name",
    "Recipient UEI",
    "Award Amount",
    "Description",
    "Start Date",
    "Last Modified Date",
    "Contract Award Type",
    "Awarding Agency",
    "Awarding Sub Agency",
    "Funding Agency",
    "Funding Sub Agency",
    "NAICS",
    "PSC",
]
SEARCH_FIELDS = {
    "contracts": [*COMMON_FIELDS, "End Date"],
    "idvs": [*COMMON_FIELDS, "Last Date to Order"],
}
CATEGORY = {"contracts": "contract", "idvs": "idv"}
_FIELD_SETS = {group: frozenset(fields) for group, fields in SEARCH_FIELDS.items()}


def _text(value: Any) -> str | None:
    """API text, stripped and without control or bidi characters (values.plain_text); None when empty."""
    if value is None:
        return None
    text = plain_text(value if type(value) is str else str(value)).strip()
    return text or None


def amount(value: Any, what: str, field: str) -> Decimal | None:
    """An exact amount; an impossible one (values.MAX_AMOUNT) is refused naming the record and field."""
    try:
        return to_decimal(value)
    except ImpossibleAmount as exc:
        raise ImpossibleAmount(f"{what}: {field}: {exc}; the row is refused") from None


def fingerprint(row: dict[str, Any]) -> str:
    """A hash of a search row as received: equal rows mean the award has not changed.

    ``repr`` keeps the API's own key order, which its serializer fixes; were that order
    ever to change, each award would be re-read once (costing requests, never a false
    change: changes come from the field diff, not from this hash).
    """
    return hashlib.sha1(repr(row).encode()).hexdigest()  # noqa: S324 - identity, not security


def parse_award_key(key: str) -> dict[str, str | None]:
    """Split a generated id into PIID, agency and parent (``CONT_AWD_<piid>_<ag>_<parent>_<pag>``)."""
    if key.startswith("CONT_AWD_"):
        parts = key[len("CONT_AWD_") :].rsplit("_", 3)
        if len(parts) == 4:
            piid, agency, parent, parent_agency = parts
            return {
                "piid": piid,
                "agency": agency,
                "parent_piid": None if parent == "-NONE-" else parent,
                "parent_agency": None if parent_agency == "-NONE-" else parent_agency,
            }
    if key.startswith("CONT_IDV_"):
        piid, _, agency = key[len("CONT_IDV_") :].rpartition("_")
        return {"piid": piid, "agency": agency, "parent_piid": None, "parent_agency": None}
    return {"piid": None, "agency": None, "parent_piid": None, "parent_agency": None}


def award_from_search(row: dict[str, Any], group: str, row_fingerprint: str | None = None) -> Award:
    """Normalize one spending_by_award result row; missing requested fields are a shape error."""
    if not row.keys() >= _FIELD_SETS[group]:
        missing = sorted(_FIELD_SETS[group] - row.keys())
        raise SourceError(f"spending_by_award row lacks requested fields {missing}")
    raw_key = row.get("generated_internal_id")
    if not isinstance(raw_key, str) or not raw_key.startswith(("CONT_AWD_", "CONT_IDV_")):
        raise SourceError(f"spending_by_award row has no usable generated_internal_id: {raw_key!r}")
    key = raw_key.upper()
    naics = row.get("NAICS") or {}
    psc = row.get("PSC") or {}
    return Award(
        award_key=key,
        piid=_text(row["Award ID"]),
        category=CATEGORY[group],
        award_type=_text(row["Contract Award Type"]),
        recipient_name=_text(row["Recipient Name"]),
        recipient_uei=_text(row["Recipient UEI"]),
        awarding_agency=_text(row["Awarding Agency"]),
        awarding_subagency=_text(row["Awarding Sub Agency"]),
        funding_agency=_text(row["Funding Agency"]),
        funding_subagency=_text(row["Funding Sub Agency"]),
        description=_text(row["Description"]),
        total_obligation=amount(row["Award Amount"], key, "Award Amount"),
        start_date=to_date(row["Start Date"]),
        end_date=to_date(row.get("End Date")),
        last_date_to_order=to_date(row.get("Last Date to Order")),
        last_modified_date=to_date(row["Last Modified Date"]),
        parent_award_piid=parse_award_key(key)["parent_piid"],
        naics_code=_text(naics.get("code")) if isinstance(naics, dict) else None,
        naics_description=_text(naics.get("description")) if isinstance(naics, dict) else None,
        psc_code=_text(psc.get("code")) if isinstance(psc, dict) else None,
        psc_description=_text(psc.get("description")) if isinstance(psc, dict) else None,
        source_url=USASPENDING_AWARD_URL.format(key=key),
        fingerprint=row_fingerprint or fingerprint(row),
    )


#: Award fields that only the award detail endpoint provides (the search row lacks them).
DETAIL_FIELDS = ("parent_name", "parent_uei", "potential_value", "potential_end_date", *COMPETITION_FIELDS)

#: Competition facts kept from ``latest_transaction_contract_data`` (docs/api/usaspending.md 4.1):
#: award column -> the detail's key. Each code comes with the API's description of it.
CONTRACT_DATA_TEXT = {
    "extent_competed": "extent_competed",
    "extent_competed_description": "extent_competed_description",
    "solicitation_procedures": "solicitation_procedures",
    "solicitation_procedures_description": "solicitation_procedures_description",
    "other_than_full_and_open": "other_than_full_and_open",
    "other_than_full_and_open_description": "other_than_full_and_open_description",
    "type_set_aside": "type_set_aside",
    "type_set_aside_description": "type_set_aside_description",
    "type_of_contract_pricing": "type_of_contract_pricing",
    "type_of_contract_pricing_description": "type_of_contract_pricing_description",
    "solicitation_identifier": "solicitation_identifier",
}


def offers(value: Any, what: str) -> int | None:
    """``number_of_offers_received``: FPDS stores it as text ("2"); a non-number is refused naming the award."""
    text = _text(value)
    if text is None:
        return None
    try:
        number = int(text)
    except ValueError:
        raise SourceError(f"{what}: number_of_offers_received {text!r} is not a whole number") from None
    if number < 0:
        raise SourceError(f"{what}: number_of_offers_received {number} is negative")
    return number


def detail_fields(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail-only fields of ``GET /api/v2/awards/<id>/``, normalized.

    The competition facts come from ``latest_transaction_contract_data``, which describes the
    award as of its latest action (FPDS carries them on every action); a detail without it
    (or with it null) leaves them all None. ``base_and_all_options`` is the ceiling, stored as
    ``potential_value``; ``base_exercised_options`` is what has been committed to so far.
    """
    if not isinstance(detail, dict) or "generated_unique_award_id" not in detail:
        raise SourceError("award detail response has no generated_unique_award_id")
    what = str(detail["generated_unique_award_id"])
    recipient = detail.get("recipient") or {}
    period = detail.get("period_of_performance") or {}
    contract = detail.get("latest_transaction_contract_data") or {}
    parent = detail.get("parent_award") or {}
    if not isinstance(contract, dict) or not isinstance(parent, dict):
        raise SourceError(f"{what}: latest_transaction_contract_data or parent_award is not an object")
    out: dict[str, Any] = {
        "parent_name": _text(recipient.get("parent_recipient_name")),
        "parent_uei": _text(recipient.get("parent_recipient_uei")),
        "potential_value": amount(detail.get("base_and_all_options"), what, "base_and_all_options"),
        "potential_end_date": to_date(period.get("potential_end_date")),
    }
    out |= {column: _text(contract.get(key)) for column, key in CONTRACT_DATA_TEXT.items()}
    out["number_of_offers_received"] = offers(contract.get("number_of_offers_received"), what)
    out["base_exercised_options"] = amount(detail.get("base_exercised_options"), what, "base_exercised_options")
    parent_key = _text(parent.get("generated_unique_award_id"))
    out["parent_award_key"] = parent_key.upper() if parent_key else None
    return out


def transaction_from_api(row: dict[str, Any], award_key: str) -> Transaction:
    """Normalize one ``/api/v2/transactions/`` result (id ``CONT_TX_...``)."""
    tx_id = row.get("id")
    if not isinstance(tx_id, str) or not tx_id:
        raise SourceError(f"transaction row has no id: {row!r:.200}")
    if "federal_action_obligation" not in row or "action_date" not in row:
        raise SourceError(f"transaction {tx_id} lacks federal_action_obligation/action_date")
    return Transaction(
        transaction_key=tx_id.upper(),
        award_key=award_key,
        modification_number=_text(row.get("modification_number")),
        action_date=to_date(row.get("action_date")),
        action_type=_text(row.get("action_type")),
        action_type_description=_text(row.get("action_type_description")),
        obligation=amount(row.get("federal_action_obligation"), f"{award_key} {tx_id}", "federal_action_obligation"),
        description=_text(row.get("description")),
    )
