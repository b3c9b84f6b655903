"""Plain records that flow through the pipeline: Award, Transaction, Match and Change."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

#: Change kinds written to ``changes.kind`` (stable names; see ARCHITECTURE.md).
NEW_AWARD = "new_award"
AWARD_CHANGED = "award_changed"
NEW_TRANSACTION = "new_transaction"
TRANSACTION_CHANGED = "transaction_changed"
DELETED = "deleted"


@dataclass(slots=True)
class Award:
    """One contract or IDV in its latest known state, in the shape of the ``awards`` table."""

    award_key: str
    piid: str | None = None
    category: str | None = None  # "contract" or "idv"
    award_type: str | None = None  # e.g. "DELIVERY ORDER"
    recipient_name: str | None = None
    recipient_uei: str | None = None
    parent_name: str | None = None
    parent_uei: str | None = None
    awarding_agency: str | None = None
    awarding_subagency: str | None = None
    funding_agency: str | None = None
    funding_subagency: str | None = None
    description: str | None = None
    total_obligation: Decimal | None = None
    potential_value: Decimal | None = None
    start_date: str | None = None
    end_date: str | None = None
    potential_end_date: str | None = None
    last_date_to_order: str | None = None
    parent_award_piid: str | None = None
    naics_code: str | None = None
    naics_description: str | None = None
    psc_code: str | None = None
    psc_description: str | None = None
    last_modified_date: str | None = None
    source_url: str | None = None
    fingerprint: str | None = None  # hash of the search row, to skip unchanged awards cheaply

    def to_row(self) -> dict[str, Any]:
        # Not dataclasses.asdict: that deep-copies every value, and this runs per award on the hot path.
        return {f: getattr(self, f) for f in self.__slots__}  # type: ignore[attr-defined]


@dataclass(slots=True)
class Transaction:
    """One contract action (the base award or a modification), as ``transactions`` stores it."""

    transaction_key: str
    award_key: str
    modification_number: str | None = None
    action_date: str | None = None
    action_type: str | None = None
    action_type_description: str | None = None
    obligation: Decimal | None = None
    description: str | None = None

    def to_row(self) -> dict[str, Any]:
        # Not dataclasses.asdict: that deep-copies every value, and this runs per award on the hot path.
        return {f: getattr(self, f) for f in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Match:
    """Why an award belongs to a watch: the vendor, the kind of evidence and the evidence itself."""

    vendor: str
    reason: str  # "uei", "recipient", "parent", "mention", "keyword"
    evidence: str


@dataclass(slots=True)
class Change:
    """One detected event, as appended to the ``changes`` table."""

    kind: str
    entity_key: str
    award_key: str
    diff: dict[str, list[Any]] = field(default_factory=dict)
    amount_delta: Decimal | None = None
    source: str = "usaspending"
