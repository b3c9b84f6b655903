"""The vocabulary: change kinds and source names, and the records that flow through the pipeline.

The enums are the one home of these names: ``queries.yaml`` validation, the labels in
``words`` and every comparison derive from them. Their values are stable (they are the
``changes.kind`` and ``runs.source`` values researchers query; see ARCHITECTURE.md), and
being ``StrEnum``s they compare equal to, and are stored as, those plain strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any


class ChangeKind(StrEnum):
    """What one row of ``changes`` says happened."""

    NEW_AWARD = "new_award"
    AWARD_CHANGED = "award_changed"
    NEW_TRANSACTION = "new_transaction"
    TRANSACTION_CHANGED = "transaction_changed"
    DELETED = "deleted"
    NEW_NOTICE = "new_notice"
    NOTICE_CHANGED = "notice_changed"
    NEW_SUBAWARD = "new_subaward"
    SUBAWARD_CHANGED = "subaward_changed"
    SUBAWARD_DELETED = "subaward_deleted"
    ENDING_SOON = "ending_soon"  # an award's final date (or last order date) is near: store/coming_up.py


class SourceName(StrEnum):
    """The public APIs the watcher reads (``runs.source``, ``changes.source``, a watch's ``sources:``)."""

    USASPENDING = "usaspending"
    SAM_AWARDS = "sam_awards"
    SAM_OPPORTUNITIES = "sam_opportunities"


NEW_AWARD = ChangeKind.NEW_AWARD
AWARD_CHANGED = ChangeKind.AWARD_CHANGED
NEW_TRANSACTION = ChangeKind.NEW_TRANSACTION
TRANSACTION_CHANGED = ChangeKind.TRANSACTION_CHANGED
DELETED = ChangeKind.DELETED


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
    # Competition facts, from the award detail's latest_transaction_contract_data (COMPETITION_FIELDS).
    extent_competed: str | None = None  # FPDS code, e.g. "C" (not competed)
    extent_competed_description: str | None = None
    number_of_offers_received: int | None = None
    solicitation_procedures: str | None = None  # e.g. "SSS" (only one source)
    solicitation_procedures_description: str | None = None
    other_than_full_and_open: str | None = None  # the authority for not competing fully, e.g. "ONE"
    other_than_full_and_open_description: str | None = None
    type_set_aside: str | None = None  # e.g. "NONE", "SBA"
    type_set_aside_description: str | None = None
    type_of_contract_pricing: str | None = None  # e.g. "J" (firm fixed price)
    type_of_contract_pricing_description: str | None = None
    solicitation_identifier: str | None = None
    base_exercised_options: Decimal | None = None  # the ceiling is potential_value (base and all options)
    parent_award_key: str | None = None  # the parent IDV's generated id (CONT_IDV_...)

    def to_row(self) -> dict[str, Any]:
        # Not dataclasses.asdict: that deep-copies every value, and this runs per award on the hot path.
        return {f: getattr(self, f) for f in AWARD_SLOTS}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Award:
        """An award from a stored row (or any mapping with its field names); other keys are ignored."""
        values: list[Any] = [row.get(f) for f in AWARD_SLOTS]
        return cls(*values)


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
        return {f: getattr(self, f) for f in TRANSACTION_SLOTS}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Transaction:
        """A contract action from a stored row; other keys are ignored."""
        values: list[Any] = [row.get(f) for f in TRANSACTION_SLOTS]
        return cls(*values)


@dataclass(slots=True)
class Subaward:
    """One reported subaward (a subcontract under a prime award), as the ``subawards`` table stores it.

    Re-filed reports of one subaward are one record (``report_count`` of them in the latest
    answer); ``None`` means the answer did not say (``/api/v2/subawards/`` gives no UEI).
    """

    subaward_key: str
    prime_award_key: str
    prime_piid: str | None = None
    subaward_number: str | None = None
    report_id: str | None = None  # USAspending's id of the newest report of it (``/api/v2/subawards/`` only)
    sub_recipient_name: str | None = None
    sub_recipient_uei: str | None = None
    sub_parent_name: str | None = None
    sub_parent_uei: str | None = None
    amount: Decimal | None = None
    action_date: str | None = None
    description: str | None = None
    prime_recipient_name: str | None = None
    awarding_subagency: str | None = None
    report_count: int | None = None
    fingerprint: str | None = None

    def to_row(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in SUBAWARD_SLOTS}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Subaward:
        """A subaward from a stored row (amounts come back as float; other keys are ignored)."""
        values: list[Any] = [row.get(f) for f in SUBAWARD_SLOTS]
        return cls(*values)


#: Award fields added with the competition facts (migration m024): only the award detail gives them.
COMPETITION_FIELDS: tuple[str, ...] = (
    "extent_competed",
    "extent_competed_description",
    "number_of_offers_received",
    "solicitation_procedures",
    "solicitation_procedures_description",
    "other_than_full_and_open",
    "other_than_full_and_open_description",
    "type_set_aside",
    "type_set_aside_description",
    "type_of_contract_pricing",
    "type_of_contract_pricing_description",
    "solicitation_identifier",
    "base_exercised_options",
    "parent_award_key",
)

#: The fields of each record, in column order.
AWARD_SLOTS: tuple[str, ...] = tuple(f.name for f in fields(Award))
TRANSACTION_SLOTS: tuple[str, ...] = tuple(f.name for f in fields(Transaction))
SUBAWARD_SLOTS: tuple[str, ...] = tuple(f.name for f in fields(Subaward))


@dataclass(frozen=True, slots=True)
class Match:
    """Why an award belongs to a watch: the vendor, the kind of evidence and the evidence itself."""

    vendor: str
    reason: str  # "uei", "recipient", "parent", "mention", "keyword", "vehicle", "reviewed"
    evidence: str


@dataclass(slots=True)
class Change:
    """One detected event, as appended to the ``changes`` table."""

    kind: str
    entity_key: str
    award_key: str | None  # None: a notice not (yet) linked to an award
    diff: dict[str, list[Any]] = field(default_factory=dict)
    amount_delta: Decimal | None = None
    source: str = "usaspending"
