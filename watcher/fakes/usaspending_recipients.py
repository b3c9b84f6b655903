"""Mixin of the USAspending replay: the recipient endpoints ``watcher vendors suggest`` reads.

Shapes and refusals follow usaspending-api's own code (docs/api/usaspending.md, "Recipients"):

- ``POST /api/v2/autocomplete/recipient/`` (references/v2/views/recipients.py): ``search_text``
  required, ``limit`` at most 500, optional ``recipient_levels``; one result per distinct matching
  name, UEI or DUNS, and ``uei``/``duns`` are filled only when the text matched them (a name match
  gives the name alone); ``recipient_level`` is always null (deprecated).
- ``POST /api/v2/recipient/`` (recipient/v2/views/list_recipients.py): ``keyword`` matched as a
  substring of the upper-cased name, or of the DUNS or UEI as given; sort ``name|uei|duns|amount``
  (default amount, desc), ``limit`` at most 1,000 (default 50); "special case" names excluded.
- ``GET /api/v2/recipient/<hash>-<level>/`` and ``GET /api/v2/recipient/children/<uei or duns>/``
  (recipient/v2/views/recipients.py), with their 400s for a bad id, an unknown recipient or one
  that is no parent.

The profiles are built from the awards the replay holds (a recipient per UEI, or per name when
the row has none; its parent from the award detail; other names seen under the same UEI are its
``alternate_names``), or set outright with ``set_recipients`` for a test. ``amount`` is the sum of
the held awards' amounts: the real one is the last 12 months of every agency's awards.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from watcher.fakes.server import ApiError
from watcher.fakes.usaspending_awards import ReplayAward, es_sanitize
from watcher.fakes.usaspending_idvs import INVALID_TYPE, _enum, _integer

LEVELS = ("P", "C", "R")
#: recipient/v2/lookups.py SPECIAL_CASES: never listed.
SPECIAL_CASES = {
    "MULTIPLE RECIPIENTS",
    "REDACTED DUE TO PII",
    "MULTIPLE FOREIGN RECIPIENTS",
    "PRIVATE INDIVIDUAL",
    "INDIVIDUAL RECIPIENT",
    "MISCELLANEOUS FOREIGN AWARDEES",
}
AWARD_TYPES = ("contracts", "grants", "direct_payments", "loans", "other_financial_assistance", "all")
LEVEL_MESSAGE = (
    "The response value of 'recipient_level' is deprecated to avoid to confusion when returning"
    " only a single Recipient in the response. The request value of 'recipient_levels' will"
    " continue to limit the response."
)
CHILDREN_PATH = re.compile(r"/api/v2/recipient/children/(?P<id>[0-9]{9}|[0-9a-zA-Z]{12})/")
OVERVIEW_PATH = re.compile(r"/api/v2/recipient/(?P<id>.*)/")


@dataclass
class Recipient:
    """One recipient profile, as the recipient_profile and recipient_lookup tables hold it."""

    name: str
    uei: str | None = None
    duns: str | None = None
    parent_uei: str | None = None
    level: str = "R"  # P: has children; C: names a parent; R: neither
    alternate_names: list[str] = field(default_factory=list)
    amount: Decimal = Decimal(0)
    transactions: int = 0
    state: str | None = None

    @property
    def hash(self) -> str:
        """The recipient hash: an MD5 of the UEI (or the name, without one), written as a UUID."""
        basis = f"uei-{self.uei}" if self.uei else f"name-{self.name}"
        return str(uuid.UUID(hashlib.md5(basis.upper().encode()).hexdigest()))  # noqa: S324 - an id, as the API's

    @property
    def id(self) -> str:
        return f"{self.hash}-{self.level}"


def profiles_from_awards(awards: list[ReplayAward]) -> list[Recipient]:
    """One profile per UEI (or name), with parent links and levels as the recipient tables would have them."""
    by: dict[str, Recipient] = {}
    parents: dict[str, str] = {}  # parent UEI -> its name
    for a in awards:
        name = str(a.row.get("Recipient Name") or "").strip()
        if not name:
            continue
        rec = a.detail.get("recipient") or {}
        uei = str(a.row.get("Recipient UEI") or rec.get("recipient_uei") or "").upper() or None
        key = f"uei:{uei}" if uei else f"name:{name.upper()}"
        r = by.get(key)
        if r is None:
            r = by[key] = Recipient(name=name, uei=uei)
        elif name.upper() != r.name.upper() and name not in r.alternate_names:
            r.alternate_names.append(name)
        r.amount += Decimal(str(a.row.get("Award Amount") or 0))
        r.transactions += max(1, len(a.transactions))
        if parent := str(rec.get("parent_recipient_uei") or "").upper():
            r.parent_uei = parent
            parents.setdefault(parent, str(rec.get("parent_recipient_name") or parent))
    for uei, name in parents.items():
        by.setdefault(f"uei:{uei}", Recipient(name=name, uei=uei))
    for r in by.values():
        r.level = "P" if r.uei in parents else ("C" if r.parent_uei else "R")
    return list(by.values())


class RecipientEndpoints:
    """The recipient views of the replay (see the module docstring)."""

    _awards: dict[str, ReplayAward]
    _recipients: list[Recipient] | None = None

    def set_recipients(self, recipients: list[Recipient] | None) -> None:
        """Serve exactly these profiles (None: build them from the awards)."""
        self._recipients = recipients

    def recipients(self) -> list[Recipient]:
        if self._recipients is not None:
            return self._recipients
        return profiles_from_awards(list(self._awards.values()))

    def recipient_route(self, method: str, path: str, body: dict[str, Any] | None, query: str) -> Any:
        """The answer for a recipient path (a 404 for the recipient views this replay does not serve)."""
        if path == "/api/v2/autocomplete/recipient/":
            self._post_only(method)
            return self.recipient_autocomplete(body or {})
        if path == "/api/v2/recipient/":
            self._post_only(method)
            return self.recipient_list(body or {})
        m = CHILDREN_PATH.fullmatch(path) or OVERVIEW_PATH.fullmatch(path)
        if m is None or path.startswith(
            ("/api/v2/recipient/state", "/api/v2/recipient/count", "/api/v2/recipient/duns")
        ):
            raise ApiError(404, b"<h1>Not Found</h1>", "text/html")  # not served by this replay
        if method != "GET":
            raise ApiError(405, {"detail": f'Method "{method}" not allowed.'})
        year = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("year", "latest")
        if year and not (year.isdigit() or year in ("all", "latest")):
            raise ApiError(400, {"detail": f"Invalid year: {year}."})
        if m.re is CHILDREN_PATH:
            return self.recipient_children(m.group("id"), year)
        return self.recipient_overview(m.group("id"))

    @staticmethod
    def _post_only(method: str) -> None:
        if method != "POST":
            raise ApiError(405, {"detail": f'Method "{method}" not allowed.'})

    # ------------------------------------------------------------ autocomplete
    def recipient_autocomplete(self, body: dict[str, Any]) -> dict[str, Any]:
        if "search_text" not in body:
            raise ApiError(422, {"detail": "Missing value: 'search_text' is a required field"})
        text = body["search_text"]
        if type(text) is not str:
            raise ApiError(400, {"detail": INVALID_TYPE.format(key="search_text", value=text, type="text")})
        if not text:
            raise ApiError(422, {"detail": "Field 'search_text' value '' is below min '1'"})
        limit = _integer(body, "limit", 10, -(2**63), 500)
        levels = body.get("recipient_levels")
        if levels is not None:
            if not isinstance(levels, list):
                raise ApiError(400, {"detail": INVALID_TYPE.format(key="recipient_levels", value=levels, type="array")})
            if not levels:
                raise ApiError(422, {"detail": "Field 'recipient_levels' value '[]' is below min '1' items"})
        needle = es_sanitize(text).upper()
        pool = [r for r in self.recipients() if not levels or r.level in levels]
        results: list[dict[str, Any]] = []
        for fld in ("recipient_name", "uei", "duns"):
            seen: dict[str, str] = {}
            for r in pool:
                value = {"recipient_name": r.name, "uei": r.uei, "duns": r.duns}[fld]
                if value and _autocomplete_hit(value.upper(), needle) and value not in seen:
                    seen[value] = r.name
            for value in sorted(seen)[: max(limit, 0)]:
                item = dict.fromkeys(["recipient_name", "recipient_level", "uei", "duns"])
                item[fld] = value
                item["recipient_name"] = seen[value]
                results.append(item)
        return {"count": len(results), "results": results, "messages": [LEVEL_MESSAGE]}

    # ------------------------------------------------------------ list
    def recipient_list(self, body: dict[str, Any]) -> dict[str, Any]:
        keyword = body.get("keyword")
        if keyword is not None and type(keyword) is not str:
            raise ApiError(400, {"detail": INVALID_TYPE.format(key="keyword", value=keyword, type="text")})
        _enum(body, "award_type", "all", AWARD_TYPES)
        page = _integer(body, "page", 1, 1, 2**63 - 1)
        limit = _integer(body, "limit", 50, 1, 1000)
        sort = _enum(body, "sort", "amount", ("name", "uei", "duns", "amount"))
        order = _enum(body, "order", "desc", ("asc", "desc"))
        rows = [r for r in self.recipients() if r.name.upper() not in SPECIAL_CASES]
        if keyword:
            rows = [
                r
                for r in rows
                if keyword.upper() in r.name.upper() or keyword in (r.duns or "") or keyword in (r.uei or "")
            ]
        column = {"name": "name", "uei": "uei", "duns": "duns", "amount": "amount"}[sort]
        present = [r for r in rows if getattr(r, column) is not None]
        present.sort(key=lambda r: getattr(r, column), reverse=order == "desc")
        rows = present + [r for r in rows if getattr(r, column) is None]  # nulls last
        total = len(rows)
        chunk = rows[(page - 1) * limit : page * limit]
        has_next = limit * page < total
        has_prev = page > 1 and limit * (page - 2) < total
        return {
            "page_metadata": {
                "page": page,
                "total": total,
                "limit": limit,
                "next": page + 1 if has_next else None,
                "previous": page - 1 if has_prev else None,
                "hasNext": has_next,
                "hasPrevious": has_prev,
            },
            "results": [
                {
                    "id": r.id,
                    "duns": r.duns,
                    "uei": r.uei,
                    "name": r.name,
                    "recipient_level": r.level,
                    "amount": r.amount,
                }
                for r in chunk
            ],
        }

    # ------------------------------------------------------------ one recipient, children
    def _by_uei(self, uei: str | None) -> Recipient | None:
        return next((r for r in self.recipients() if uei and r.uei == uei.upper()), None)

    def recipient_overview(self, recipient_id: str) -> dict[str, Any]:
        if "-" not in recipient_id:
            # The real view formats the builtin ``hash`` here, not the id (recipients.py validate_recipient_id).
            raise ApiError(400, {"detail": "ID ('<built-in function hash>') doesn't include Recipient-Level"})
        rhash, level = recipient_id[: recipient_id.rfind("-")], recipient_id[recipient_id.rfind("-") + 1 :]
        if level not in LEVELS:
            raise ApiError(400, {"detail": f"Invalid Recipient-Level: '{level}'"})
        try:
            uuid.UUID(rhash)
        except ValueError:
            raise ApiError(400, {"detail": f"Recipient Hash not valid UUID: '{rhash}'."}) from None
        r = next((r for r in self.recipients() if r.hash == rhash and r.level == level), None)
        if r is None:
            raise ApiError(400, {"detail": f"Recipient ID not found: '{recipient_id}'."})
        parents: list[dict[str, Any]] = []
        if level == "C" and r.parent_uei:
            p = self._by_uei(r.parent_uei)
            parents = [
                {
                    "parent_duns": p.duns if p else None,
                    "parent_name": p.name if p else None,
                    "parent_id": f"{p.hash}-P" if p else None,
                    "parent_uei": p.uei if p else None,
                }
            ]
        elif level == "P":
            parents = [{"parent_id": r.id, "parent_duns": r.duns, "parent_uei": r.uei, "parent_name": r.name}]
        first = parents[0] if parents else {}
        return {
            "name": r.name,
            "alternate_names": sorted(r.alternate_names),
            "duns": r.duns,
            "uei": r.uei,
            "recipient_id": r.id,
            "recipient_level": r.level,
            "parent_id": first.get("parent_id"),
            "parent_name": first.get("parent_name"),
            "parent_duns": first.get("parent_duns"),
            "parent_uei": first.get("parent_uei"),
            "parents": parents,
            "business_types": [],
            "location": dict.fromkeys(
                [
                    "address_line1",
                    "address_line2",
                    "address_line3",
                    "foreign_province",
                    "city_name",
                    "county_name",
                    "state_code",
                    "zip",
                    "zip4",
                    "foreign_postal_code",
                    "country_name",
                    "country_code",
                    "congressional_code",
                ]
            ),
            "total_transaction_amount": r.amount,
            "total_transactions": r.transactions,
            "total_face_value_loan_amount": 0,
            "total_face_value_loan_transactions": 0,
        }

    def recipient_children(self, duns_or_uei: str, year: str) -> list[dict[str, Any]]:
        if len(duns_or_uei) == 9:
            parent = next((r for r in self.recipients() if r.duns == duns_or_uei), None)
        else:
            parent = self._by_uei(duns_or_uei)
        if parent is None:
            raise ApiError(400, {"detail": f"Recipient not found: '{duns_or_uei}'."})
        if year != "all" and parent.level != "P":
            raise ApiError(400, {"detail": f"Recipient is not listed as a parent: '{duns_or_uei}'."})
        children = [r for r in self.recipients() if r.parent_uei and r.parent_uei == parent.uei and r is not parent]
        return [
            {
                "recipient_id": f"{c.hash}-C",
                "name": c.name,
                "duns": c.duns,
                "uei": c.uei,
                "amount": c.amount,
                "state_province": c.state,
            }
            for c in children
        ]


def _autocomplete_hit(value: str, needle: str) -> bool:
    """match_phrase_prefix (the words in order, the last a prefix), ``.contains`` (a substring), or match with
    operator and (every word of the text among the value's words)."""
    if needle in value:
        return True
    words, have = needle.split(), value.split()
    return bool(words) and all(w in have for w in words)
