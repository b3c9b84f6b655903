"""Find a company's recipients on USAspending, with evidence, for ``watcher vendors suggest``.

Adding a vendor well needs its UEIs and its subsidiaries, which names alone do not give: the
recipient autocomplete returns names (a UEI only when the text is one), the recipient list
gives each recipient's id, UEI and level (P parent, C child, R neither), a recipient's page its
parent and other names, and a parent's children list its subsidiaries. For each candidate we
also ask the award search what DHS awarded it (how many, how much, one example), since that is
what a watch would catch. Nothing is written: the person chooses, then ``watcher vendors add``.

Request and response shapes are usaspending-api's (docs/api/usaspending.md, "Recipients").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from watcher.errors import SourceError
from watcher.http import ApiClient
from watcher.names import normalize_name
from watcher.values import to_decimal

AUTOCOMPLETE_PATH = "/api/v2/autocomplete/recipient/"
LIST_PATH = "/api/v2/recipient/"
SEARCH_PATH = "/api/v2/search/spending_by_award/"
DHS = "Department of Homeland Security"
EXAMPLE_FIELDS = ["Award ID", "Recipient Name", "Award Amount", "Description", "Awarding Sub Agency"]
CONTRACT_CODES = ["A", "B", "C", "D"]


@dataclass
class AgencyAwards:
    """What one agency awarded a recipient (contracts): a page of the award search, largest first."""

    count: int
    more: bool  # more than one page (``count`` is then a lower bound)
    amount: Decimal  # the sum over that page
    example: dict[str, Any] | None

    def words(self) -> str:
        if not self.count:
            return "no DHS contracts found"
        n = f"{self.count}+" if self.more else str(self.count)
        total = f"${self.amount:,.2f}" + (" (the largest 100)" if self.more else "")
        return f"{n} DHS contract(s), {total}"


@dataclass
class Candidate:
    """A recipient USAspending knows, with what shows it is (or is not) the company asked for."""

    name: str
    uei: str | None
    duns: str | None
    level: str | None  # P, C or R
    recipient_id: str | None
    amount: Decimal | None = None  # last 12 months, all agencies (the recipient list)
    parent_name: str | None = None
    parent_uei: str | None = None
    alternate_names: list[str] = field(default_factory=list)
    children: list[Candidate] = field(default_factory=list)
    dhs: AgencyAwards | None = None
    found_by: str = ""  # which endpoint listed it

    @property
    def normalized(self) -> str:
        return normalize_name(self.name)


def _results(payload: Any, what: str) -> list[dict[str, Any]]:
    results = payload.get("results") if isinstance(payload, dict) else payload
    if not isinstance(results, list):
        raise SourceError(f"{what}: the answer has no list of results")
    return [r for r in results if isinstance(r, dict)]


def autocomplete(client: ApiClient, text: str, limit: int = 10) -> list[dict[str, Any]]:
    """Recipient names (and a UEI or DUNS when ``text`` is one) the autocomplete offers for ``text``."""
    body = {"search_text": text, "limit": min(max(limit, 1), 500)}
    return _results(client.request_json("POST", AUTOCOMPLETE_PATH, json_body=body), "recipient autocomplete")


def list_recipients(client: ApiClient, keyword: str, limit: int = 10) -> list[dict[str, Any]]:
    """Recipient profiles whose name contains ``keyword`` (or whose UEI/DUNS does), largest amount first."""
    body = {"keyword": keyword, "limit": min(max(limit, 1), 1000), "page": 1, "sort": "amount", "order": "desc"}
    return _results(client.request_json("POST", LIST_PATH, json_body=body), "recipient list")


def overview(client: ApiClient, recipient_id: str) -> dict[str, Any]:
    payload = client.request_json("GET", f"{LIST_PATH}{quote(recipient_id, safe='')}/")
    if not isinstance(payload, dict):
        raise SourceError(f"recipient {recipient_id}: the answer is not an object")
    return payload


def children(client: ApiClient, parent_uei: str) -> list[dict[str, Any]]:
    """A parent's child recipients (its subsidiaries), by the parent's UEI."""
    payload = client.request_json("GET", f"{LIST_PATH}children/{quote(parent_uei, safe='')}/")
    return _results(payload, f"children of {parent_uei}")


def agency_awards(client: ApiClient, recipient: str, today: date, agency: str = DHS) -> AgencyAwards:
    """The agency's contracts to a recipient (by UEI, or by name without one), largest first, one page."""
    body = {
        "filters": {
            "award_type_codes": CONTRACT_CODES,
            "agencies": [{"type": "awarding", "tier": "toptier", "name": agency}],
            "recipient_search_text": [recipient],
            "time_period": [{"start_date": "2007-10-01", "end_date": (today + timedelta(days=1)).isoformat()}],
        },
        "fields": EXAMPLE_FIELDS,
        "sort": "Award Amount",
        "order": "desc",
        "limit": 100,
        "page": 1,
    }
    payload = client.request_json("POST", SEARCH_PATH, json_body=body)
    rows = _results(payload, f"{agency} awards to {recipient}")
    more = bool((payload.get("page_metadata") or {}).get("hasNext")) if isinstance(payload, dict) else False
    total = sum((to_decimal(r.get("Award Amount")) or Decimal(0) for r in rows), Decimal(0))
    return AgencyAwards(len(rows), more, total, rows[0] if rows else None)


def _candidate(row: dict[str, Any], found_by: str) -> Candidate:
    return Candidate(
        name=str(row.get("name") or row.get("recipient_name") or ""),
        uei=row.get("uei"),
        duns=row.get("duns"),
        level=row.get("recipient_level"),
        recipient_id=row.get("id") or row.get("recipient_id"),
        amount=to_decimal(row.get("amount")),
        found_by=found_by,
    )


def suggest(client: ApiClient, text: str, today: date, limit: int = 10) -> list[Candidate]:
    """The recipients that may be the company ``text`` names, each with its evidence; nothing is written.

    The recipient list is asked with the text as typed and with its normalized form (names.py), so
    "Pen-Link, Ltd." also finds "PEN LINK"; the autocomplete adds names the list missed (without ids).
    """
    found: dict[str, Candidate] = {}
    keywords = list(dict.fromkeys([text.strip(), normalize_name(text)]))
    for kw in (k for k in keywords if k):
        for row in list_recipients(client, kw, limit):
            c = _candidate(row, "recipient list")
            found.setdefault(c.recipient_id or c.name, c)
    names = {normalize_name(c.name) for c in found.values()}
    for row in autocomplete(client, text, limit):
        c = _candidate(row, "autocomplete")
        if c.uei and any(f.uei == c.uei for f in found.values()):
            continue
        if c.uei or normalize_name(c.name) not in names:
            found.setdefault(f"auto:{c.uei or c.name}", c)
            names.add(normalize_name(c.name))
    out = list(found.values())[:limit]
    for c in out:
        if c.recipient_id:
            info = overview(client, c.recipient_id)
            c.parent_name, c.parent_uei = info.get("parent_name"), info.get("parent_uei")
            c.alternate_names = [str(n) for n in info.get("alternate_names") or []]
            if c.parent_uei == c.uei:  # a parent's page names itself as its parent
                c.parent_name = c.parent_uei = None
        if c.level == "P" and c.uei:
            c.children = [
                _candidate(r | {"recipient_level": "C"}, "children of " + c.uei) for r in children(client, c.uei)
            ]
        for who in [c, *c.children]:
            who.dhs = agency_awards(client, who.uei or who.name, today)
    return out
