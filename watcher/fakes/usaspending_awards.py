"""The awards the fake USAspending serves, and how its award search decides that one matches a query."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from watcher.fakes import numbers
from watcher.fakes.server import ApiError

#: The search filters the fake applies; any other is answered with the real "not used" message.
KNOWN_FILTERS = {
    "award_type_codes",
    "agencies",
    "recipient_search_text",
    "keywords",
    "time_period",
    "award_ids",
    "award_unique_id",
    "description",
    "naics_codes",
    "psc_codes",
    "set_aside_type_codes",
    "extent_competed_type_codes",
    "contract_pricing_type_codes",
}
HTML_500 = b"<!doctype html><html><head><title>Server Error (500)</title></head><body><h1>Server Error</h1></body>"


def check_time_periods(filters: dict[str, Any]) -> None:
    """``time_period`` as the request model checks it (a 500, since the error formatter fails): ``YYYY-MM-DD``
    dates, none before 2007-10-01, and a ``date_type`` among the award-level values (subawards too)."""
    for tp in filters.get("time_period") or []:
        try:
            start = datetime.strptime(tp["start_date"], "%Y-%m-%d").date()
            datetime.strptime(tp["end_date"], "%Y-%m-%d")
        except (KeyError, ValueError, TypeError):
            raise ApiError(500, HTML_500, "text/html") from None
        if start < date(2007, 10, 1) or tp.get("date_type", "action_date") not in DATE_TYPES:
            raise ApiError(500, HTML_500, "text/html")


DATE_TYPES = ("action_date", "date_signed", "last_modified_date", "new_awards_only")


TIME_PERIOD_MESSAGE = (
    "For searches, time period start and end dates are currently limited to an earliest date of 2007-10-01. "
    "For data going back to 2000-10-01, use either the Custom Award Download feature on the website or one "
    "of our download or bulk_download API endpoints as listed on https://api.usaspending.gov/docs/endpoints."
)


@functools.lru_cache(maxsize=256)
def keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    """USAspending's phrase_prefix, ORed: the words in order, the last one as a prefix ("AWS" hits "AWSOME")."""
    alts = "|".join(r"\s+".join(map(re.escape, str(k).upper().split())) for k in keywords)
    return re.compile(rf"(?<![A-Z0-9])(?:{alts})")


def es_sanitize(value: str) -> str:
    """usaspending-api's ``es_sanitize`` (``search/v2/es_sanitization.py``).

    It strips ``|{}()?\\"+[]<>`` and backslash-escapes ``-^~/!&:`*``; it does not change case.
    """
    return re.sub(r"([-^~/!&:`*])", r"\\\1", re.sub(r'([|{}()?\\"+\[\]<>])', "", value))


#: What is left of Lucene's regexp syntax after ``es_sanitize``: any character, any string, nothing.
_LUCENE = {".": ".", "@": ".*", "#": "(?!)"}


@functools.lru_cache(maxsize=4096)
def award_id_pattern(value: str) -> tuple[str | None, re.Pattern[str]]:
    """An unquoted ``award_ids`` value as the real filter matches it: (the PIID it names if no wildcard, a pattern).

    usaspending-api ``common/query_with_filters.py`` ``_AwardIds``: the value is sanitized, its
    words joined with " +", sanitized again (which strips that "+"), then sent as an
    Elasticsearch ``regexp`` on ``display_award_id``, a ``keyword`` field: no upper-casing, and a
    regexp must match the whole value. Use the pattern with ``fullmatch``.
    """
    text = es_sanitize(" +".join(es_sanitize(value).split()))
    tokens = re.findall(r"\\.|.", text, re.DOTALL)  # an escaped character, or one character
    pattern = "".join(re.escape(t[1]) if len(t) == 2 else _LUCENE.get(t, re.escape(t)) for t in tokens)
    literal = None if any(t in _LUCENE for t in tokens) else "".join(t[-1] for t in tokens)
    return literal, re.compile(pattern, re.DOTALL)


def dumps(obj: Any) -> bytes:
    """JSON as the real API sends it: amounts (Decimal here) as JSON floats.

    A Decimal no float holds (1E+309, NaN, 40 digits) and a ``numbers.RawNumber`` are written
    as their own number text, as a server that sent them would (fakes/numbers.py).
    """
    return numbers.dumps(obj)


@dataclass
class ReplayAward:
    """One award the server knows: its group, full search row, detail body and transactions."""

    group: str
    row: dict[str, Any]
    detail: dict[str, Any] = field(default_factory=dict)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    #: Each transaction's own last-modified date by its id (``action_date`` when absent): the
    #: transaction index filters on it, and no endpoint returns it.
    modified: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return str(self.row["generated_internal_id"])

    @functools.cached_property
    def search_text(self) -> str:
        """What the award index's keyword filter searches, upper case: the award's description (the
        base action's, docs/api/usaspending.md trap 20), its recipient and its PIID, never the
        modifications' descriptions."""
        parts = [self.row.get("Description"), self.row.get("Recipient Name"), self.row.get("Award ID")]
        return " ".join(str(x or "") for x in parts).upper()

    def last_modified(self, tx: dict[str, Any]) -> str:
        """When the transaction index says this action was last modified (a late correction moves it)."""
        return str(self.modified.get(str(tx.get("id")), tx.get("action_date")))[:10]


def award_ids_match(values: list[Any], piid: str) -> bool:
    """The ``award_ids`` filter of the award index (query_with_filters._AwardIds), for one award's PIID.

    A quoted value becomes an Elasticsearch ``term`` query with a ``query`` key, which
    Elasticsearch rejects: the API answers 503 with an empty body (trap 22). An unquoted one
    is a case-sensitive regexp that must match the whole ``display_award_id`` (award_id_pattern).
    """
    if any(str(v).startswith('"') and str(v).endswith('"') for v in values):
        raise ApiError(503, b"", "text/html")
    return any(award_id_pattern(str(v))[1].fullmatch(piid) for v in values)


def matches(a: ReplayAward, filters: dict[str, Any]) -> bool:
    """Whether an award passes a search's filters as the real award index applies them."""
    row = a.row
    by_type: dict[str, list[dict[str, Any]]] = {}
    for agency in filters.get("agencies") or []:
        by_type.setdefault(agency["type"], []).append(agency)
    for role, agencies in by_type.items():  # same type ORed, awarding AND funding
        prefix = "Awarding" if role == "awarding" else "Funding"
        ok = False
        for ag in agencies:
            col = f"{prefix} Sub Agency" if ag["tier"] == "subtier" else f"{prefix} Agency"
            if row.get(col) == ag["name"] and (
                ag["tier"] == "toptier" or "toptier_name" not in ag or row.get(f"{prefix} Agency") == ag["toptier_name"]
            ):
                ok = True
        if not ok:
            return False
    for tp in filters.get("time_period") or []:
        value = row.get("Last Modified Date") if tp.get("date_type") == "last_modified_date" else row.get("Start Date")
        if not value or not (tp["start_date"] <= str(value)[:10] <= tp["end_date"]):
            return False
    ids = filters.get("award_ids")
    if ids and not award_ids_match(list(ids), str(row.get("Award ID") or "")):
        return False
    terms = filters.get("recipient_search_text")
    if terms:
        # query_with_filters._RecipientSearchText: the recipient's and the parent's names (``.contains``) and
        # UEIs (phrase_prefix on a keyword field: a prefix), so a parent UEI finds every child's award.
        rec = a.detail.get("recipient") or {}
        names = [str(row.get("Recipient Name") or "").upper(), str(rec.get("parent_recipient_name") or "").upper()]
        ueis = [str(row.get("Recipient UEI") or "").upper(), str(rec.get("parent_recipient_uei") or "").upper()]
        if not any(
            any(str(t).upper() in n for n in names if n) or any(u.startswith(str(t).upper()) for u in ueis if u)
            for t in terms
        ):
            return False
    keywords = filters.get("keywords")
    return not keywords or bool(keyword_pattern(tuple(keywords)).search(a.search_text))
