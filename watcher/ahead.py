"""The plain words of the calendar ahead: coming-up dates and ``ending_soon`` alerts, for digests, site and feeds.

Pure functions from stored rows (``coming_up`` view rows, ``changes`` rows, ``awards`` rows) to
text, like ``words``: API text is cleaned and bounded here, escaped by the templates (HTML,
e-mail, Atom) and by the iCalendar writer. The rules for the dates themselves are in
``store/coming_up.py``; this module only says them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from watcher import links
from watcher.values import finite_amount
from watcher.words import Item, award_header, clean, usd_short

#: What each kind of date means for the award, as a reader sees it next to the date.
DATE_WORDS: dict[str, str] = {
    "end": "ends (no option left)",
    "next_option": "current period ends: next option due",
    "potential_end": "ends if every option is exercised",
    "last_order": "last day to place orders",
}
#: The ``ending_soon`` headline's verb per kind of date (the kinds store.coming_up.ENDING_KINDS names).
ENDING_WORDS: dict[str, str] = {
    "end": "ends on {date}, with no option left to extend it",
    "potential_end": "ends on {date}, every option included",
    "last_order": "takes its last orders on {date}",
}


@dataclass
class Coming:
    """One coming-up date of one award, worded: a line of the digest section, a row of the site page, an event."""

    award_key: str
    date: str
    date_kind: str
    what: str  # "ends if every option is exercised"
    headline: str  # "Palantir Technologies Inc.: ICE delivery order 70CMSD22FC0000123"
    when: str  # "in 12 days": as of the digest or build, so never in a feed (it would change every build)
    facts: list[str]
    description: str
    total: Decimal | None
    page_url: str | None
    official_url: str
    uid: str  # stable across rebuilds: the award, the kind of date and the date


def days_between(today: str, day: str) -> int:
    """Days from ``today`` (a date or timestamp) to ``day``."""
    return (date.fromisoformat(day[:10]) - date.fromisoformat(today[:10])).days


def in_days(n: int) -> str:
    return "today" if n == 0 else "tomorrow" if n == 1 else f"in {n} days" if n > 0 else f"{-n} days ago"


def coming(
    row: dict[str, Any],
    agency_abbr: dict[str, str],
    site_url: str | None,
    today: str,
    vendor_names: dict[str, str] | None = None,
) -> Coming:
    """A ``coming_up`` row in words: who, which award, what happens on the date, and the money at stake."""
    key = row["award_key"]
    recipient, what, total = award_header(key, row, agency_abbr)
    facts = []
    if total is not None:
        facts.append(f"{usd_short(total)} obligated so far")
    potential = finite_amount(row.get("potential_value"))
    if potential is not None and (total is None or potential > total):
        facts.append(f"{usd_short(potential)} with all options")
    if row.get("vendors"):
        names = [(vendor_names or {}).get(v, v) for v in str(row["vendors"]).split(",")]
        facts.append(f"{'vendor' if len(names) == 1 else 'vendors'}: {clean(', '.join(names), 160)}")
    return Coming(
        award_key=key,
        date=row["date"],
        date_kind=row["date_kind"],
        what=DATE_WORDS.get(row["date_kind"], row["date_kind"]),
        headline=clean(f"{recipient}: {what}", 300),
        when=in_days(days_between(today, row["date"])),
        facts=[clean(f, 200) for f in facts],
        description=clean(row.get("description"), 200),
        total=total,
        page_url=links.award_page(site_url, key),
        official_url=links.usaspending_award(key),
        uid=event_uid(key, row["date_kind"], row["date"]),
    )


def event_uid(award_key: str, date_kind: str, day: str) -> str:
    """An iCalendar UID that names the award, the kind of date and the date: the same in every rebuild.

    A calendar app updates an event it already holds by UID, so a moved date is a new event
    (and the old one drops out of the feed), never an old event silently changing day.
    """
    return f"{uuid.uuid5(uuid.NAMESPACE_URL, f'watcher:coming_up:{award_key}:{date_kind}:{day}')}@watcher"


def ending_date(change: dict[str, Any]) -> str:
    """The date an ``ending_soon`` change is about (its diff ``{"ends_on": [null, date]}``)."""
    return str((json.loads(change["diff"] or "{}").get("ends_on") or [None, ""])[1])


def ending_kinds(award: dict[str, Any], day: str) -> list[str]:
    """Which of the award's ending dates fall on ``day`` now (none when the dates moved since)."""
    end, potential, last_order = award.get("end_date"), award.get("potential_end_date"), award.get("last_date_to_order")
    kinds = []
    if end == day and (potential is None or potential <= end):
        kinds.append("end")
    if potential == day and (end is None or potential > end):
        kinds.append("potential_end")
    if last_order == day:
        kinds.append("last_order")
    return kinds


def ending_item(
    key: str,
    changes: Sequence[dict[str, Any]],
    award: dict[str, Any] | None,
    why: list[str],
    vendor_label: str,
    agency_abbr: dict[str, str],
    site_url: str | None,
) -> Item:
    """An ``ending_soon`` alert: the award ends (or stops taking orders) on a date within 30 days."""
    a = award or {"award_key": key}
    recipient, what, total = award_header(key, a, agency_abbr)
    day = max(ending_date(c) for c in changes)
    kinds = ending_kinds(a, day)
    said = " and ".join(ENDING_WORDS[k].format(date=day) for k in kinds) or f"was due to end on {day}"
    facts = [f"{in_days(days_between(changes[-1]['detected_at'], day))} from when this was noticed"]
    if not kinds:
        facts.append("its dates have changed since; see the award's page for the current ones")
    potential = finite_amount(a.get("potential_value"))
    if total is not None:
        facts.append(f"{usd_short(total)} obligated so far")
    if potential is not None and (total is None or potential > total):
        facts.append(f"{usd_short(potential)} with all options")
    if a.get("start_date"):
        facts.append(f"started {clean(a['start_date'], 20)}")
    return Item(
        key=key,
        kind="ending",
        headline=clean(f"{recipient}: {what} {said}", 400),
        facts=[clean(f, 400) for f in facts],
        why=why,
        description=clean(a.get("description"), 160),
        page_url=links.award_page(site_url, key),
        official_url=links.usaspending_award(key),
        official_label="usaspending.gov",
        amount=Decimal(0),
        total=total,
        change_ids=[c["id"] for c in changes],
        vendor_label=vendor_label,
        other_changes=True,
    )
