"""The names readers see for the stored fields: one label per column, shared by pages, digests and feeds.

Kept apart from :mod:`watcher.words` (which says whole changes and awards) so the table of
names can grow with the schema without crowding the wording; the column itself stays
visible to researchers in an "in the data" note wherever a label is shown.
"""

from __future__ import annotations

from watcher import fpds

#: How a changed field is named inside a sentence ("total obligated $1M → $2M").
FIELD_WORDS = {
    "total_obligation": "total obligated",
    "potential_value": "potential value with all options",
    "recipient_name": "recipient",
    "parent_name": "parent company",
    "awarding_subagency": "awarding office",
    "funding_subagency": "funding office",
    "amount": "subaward amount",
    "sub_recipient_name": "subcontractor",
    "sub_recipient_uei": "subcontractor UEI",
    **fpds.FIELD_WORDS,  # the competition facts
}
MONEY_FIELDS = {"total_obligation", "potential_value", "obligation", "award_amount", "amount", "base_exercised_options"}
OTHER_FIELDS = {
    *("end_date", "potential_end_date", "last_date_to_order", "recipient_name", "recipient_uei", "start_date"),
    *("extent_competed", "number_of_offers_received", "type_set_aside", "base_exercised_options"),
}


#: What readers see for each award column (site award pages); the column name stays in a small
#: "in the data" note for researchers. The order is the page's.
AWARD_LABELS: dict[str, str] = {
    "piid": "Contract number (PIID)",
    "award_type": "Kind of award",
    "recipient_name": "Paid to",
    "recipient_uei": "Paid to (UEI)",
    "parent_name": "Parent company",
    "parent_uei": "Parent company (UEI)",
    "awarding_agency": "Awarded by (department)",
    "awarding_subagency": "Awarded by",
    "funding_agency": "Paid for by (department)",
    "funding_subagency": "Paid for by",
    "total_obligation": "Total obligated",
    "potential_value": "Potential value with all options",
    "start_date": "Starts",
    "end_date": "Ends",
    "potential_end_date": "Ends if every option is used",
    "last_date_to_order": "Last day to place orders",
    "parent_award_piid": "Ordered under (contract number)",
    "naics_code": "Industry code (NAICS)",
    "naics_description": "Industry",
    "psc_code": "Product or service code (PSC)",
    "psc_description": "Product or service",
    "last_modified_date": "Last modified by the agency",
    "first_seen_at": "First seen here",
    "last_seen_at": "Last seen here",
    "category": "Contract or vehicle",
    "award_key": "USAspending's award ID",
    "base_exercised_options": "Value with the options exercised so far",
    "parent_award_key": "Ordered under (USAspending's award ID)",
}
