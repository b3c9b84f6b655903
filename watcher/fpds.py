"""FPDS code tables: what each contract action type and competition code means, in plain words.

The codes are FPDS's own (the GSA data dictionary), as USAspending's loader maps them
(usaspending-api ``usaspending_api/data/gsdm_maps.py``: ``change_reasons`` for a contract
action's ``action_type``, ``extent_competed_map``, ``type_set_aside_map``). They are read
there, not guessed; a code not listed is shown with the API's own description.

The flag rules live here too, as pure functions of an award's stored columns, so the SQL view
``award_flags`` (store/views.py), the site and the tests say the same thing
(docs/competition.md documents each rule).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any


class ModificationKind(StrEnum):
    """A contract action by what it did (its FPDS action type), for ``kinds:`` in queries.yaml.

    These are not ``changes.kind`` values: a modification is stored as ``new_transaction``, and
    its type is its transaction's ``action_type``; a subscriber filtering on one of these gets the
    ``new_transaction`` changes whose action has one of its codes (``MODIFICATION_CODES``).
    """

    OPTION_EXERCISED = "option_exercised"
    TERMINATED = "terminated"
    NOVATION = "novation"
    FUNDING_ONLY = "funding_only"
    SUPPLEMENTAL_AGREEMENT = "supplemental_agreement"
    CHANGE_ORDER = "change_order"
    ADDITIONAL_WORK = "additional_work"
    DEFINITIZED = "definitized"
    CLOSEOUT = "closeout"
    ADMINISTRATIVE = "administrative"
    CANCELLED = "cancelled"
    VENDOR_CHANGE = "vendor_change"


#: FPDS action type code -> (kind, the words readers see). From gsdm_maps.change_reasons.
ACTION_TYPES: dict[str, tuple[ModificationKind, str]] = {
    "A": (ModificationKind.ADDITIONAL_WORK, "additional work (new agreement)"),
    "B": (ModificationKind.SUPPLEMENTAL_AGREEMENT, "supplemental agreement"),
    "C": (ModificationKind.FUNDING_ONLY, "funding only"),
    "D": (ModificationKind.CHANGE_ORDER, "change order"),
    "E": (ModificationKind.TERMINATED, "terminated for default"),
    "F": (ModificationKind.TERMINATED, "terminated for convenience"),
    "G": (ModificationKind.OPTION_EXERCISED, "option exercised"),
    "H": (ModificationKind.DEFINITIZED, "letter contract definitized"),
    "J": (ModificationKind.NOVATION, "novated"),
    "K": (ModificationKind.CLOSEOUT, "closed out"),
    "L": (ModificationKind.DEFINITIZED, "change order definitized"),
    "M": (ModificationKind.ADMINISTRATIVE, "administrative change"),
    "N": (ModificationKind.CANCELLED, "legally cancelled"),
    "P": (ModificationKind.VENDOR_CHANGE, "merger or acquisition re-represented (not novated)"),
    "R": (ModificationKind.VENDOR_CHANGE, "vendor re-represented"),
    "S": (ModificationKind.ADMINISTRATIVE, "PIID changed"),
    "T": (ModificationKind.ADMINISTRATIVE, "transferred"),
    "V": (ModificationKind.VENDOR_CHANGE, "vendor name or UEI changed (not a novation)"),
    "W": (ModificationKind.VENDOR_CHANGE, "vendor address changed"),
    "X": (ModificationKind.TERMINATED, "terminated for cause"),
}

#: The competition facts' names where readers see a change of one (words.FIELD_WORDS adds them).
FIELD_WORDS: dict[str, str] = {
    "extent_competed": "competition code",
    "extent_competed_description": "competition",
    "number_of_offers_received": "offers received",
    "solicitation_procedures": "solicitation procedure code",
    "solicitation_procedures_description": "solicitation procedure",
    "other_than_full_and_open": "code of the authority for not competing fully",
    "other_than_full_and_open_description": "authority for not competing fully",
    "type_set_aside": "set-aside code",
    "type_set_aside_description": "set-aside",
    "type_of_contract_pricing": "pricing code",
    "type_of_contract_pricing_description": "pricing",
    "solicitation_identifier": "solicitation number",
    "base_exercised_options": "base and exercised options",
    "parent_award_key": "parent contract vehicle",
}

#: The action type codes behind each kind (for the digest's ``kinds:`` filter).
MODIFICATION_CODES: dict[str, tuple[str, ...]] = {
    kind: tuple(code for code, (k, _) in ACTION_TYPES.items() if k == kind) for kind in ModificationKind
}

#: extent_competed codes that mean the award was not competed (gsdm_maps.extent_competed_map):
#: B not available for competition, C not competed, G not competed under simplified acquisition,
#: NDO non-competitive delivery order.
NOT_COMPETED = ("B", "C", "G", "NDO")
#: solicitation_procedures "SSS": only one source was solicited.
ONLY_ONE_SOURCE = "SSS"
#: type_set_aside codes that mean no set-aside ("NONE"); any other code is a set-aside for a class of business.
NO_SET_ASIDE = "NONE"
#: near_ceiling: money obligated above this share of the ceiling (base and all options).
NEAR_CEILING_SHARE = Decimal("0.9")


def action_words(code: str | None, description: str | None = None) -> str | None:
    """A contract action's type in plain words ("option exercised"); the API's text for an unknown code."""
    if code and code.strip().upper() in ACTION_TYPES:
        return ACTION_TYPES[code.strip().upper()][1]
    return description.strip().lower() if description and description.strip() else None


def action_kind(code: str | None) -> ModificationKind | None:
    """The ``ModificationKind`` of an FPDS action type code, or None (no code, or one FPDS does not list)."""
    if code and code.strip().upper() in ACTION_TYPES:
        return ACTION_TYPES[code.strip().upper()][0]
    return None


def _amount(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except ArithmeticError:
        return None


def single_offer(award: dict[str, Any]) -> bool:
    """The award says exactly one offer was received (``number_of_offers_received`` = 1)."""
    return award.get("number_of_offers_received") == 1


def sole_source(award: dict[str, Any]) -> bool:
    """Not competed: an extent-competed code in ``NOT_COMPETED``, or only one source solicited ("SSS")."""
    return (award.get("extent_competed") or "").upper() in NOT_COMPETED or (
        award.get("solicitation_procedures") or ""
    ).upper() == ONLY_ONE_SOURCE


def set_aside(award: dict[str, Any]) -> bool:
    """The award was set aside for a class of small business (a set-aside code other than NONE)."""
    code = (award.get("type_set_aside") or "").strip().upper()
    return bool(code) and code != NO_SET_ASIDE


def near_ceiling(award: dict[str, Any]) -> bool:
    """Money obligated above 90% of the ceiling (``potential_value``, base and all options), a positive ceiling."""
    ceiling, obligated = _amount(award.get("potential_value")), _amount(award.get("total_obligation"))
    return ceiling is not None and obligated is not None and ceiling > 0 and obligated > NEAR_CEILING_SHARE * ceiling
