"""Pure functions for subawards: the subaward-level search request, and USAspending's subaward rows as records.

Two endpoints report subawards (docs/api/usaspending.md section 10): ``spending_by_award`` with
``spending_level: "subawards"`` (one row per report, with the sub-recipient's UEI and the prime's
recipient and agency) and ``/api/v2/subawards/`` (every report under one prime, without UEI).
Both read the same reports, so a subaward is keyed on what both give: the prime, the subaward
number, the subaward's date and the sub-recipient's name (:func:`subaward_key`). Re-filed
reports of one subaward share that key and become one record (:func:`collapse`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from watcher.config import AWARD_TYPE_CODES, Watch
from watcher.diff import SUBAWARD_FACT_FIELDS, SUBAWARD_FILL_FIELDS, json_value
from watcher.errors import SourceError
from watcher.models import Subaward
from watcher.sources.usaspending.api import Query, plan, search_body
from watcher.sources.usaspending.parse import parse_award_key
from watcher.values import to_date, to_decimal

#: The subaward-level fields we read: every one is a key of usaspending-api's ``subaward_mapping``
#: (``awards/v2/lookups/lookups.py``); another name would silently come back null.
SUBAWARD_SEARCH_FIELDS = [
    "Sub-Award ID",
    "Sub-Awardee Name",
    "Sub-Recipient UEI",
    "Sub-Award Date",
    "Sub-Award Amount",
    "Sub-Award Description",
    "Prime Award ID",
    "Prime Recipient Name",
    "Awarding Sub Agency",
]
#: Newest first. The cursor's tie-breaker is the prime's id, so rows equal in date under one prime can
#: straddle a page boundary and be skipped: the walk re-reads each boundary's (date, prime) group.
SUBAWARD_SORT = "Sub-Award Date"
#: Subaward reports arrive weeks or months after the subaward's date (and are corrected later still),
#: so the sub-recipient walks read a year of subaward dates, whatever the watch's lookback.
SUBAWARD_LOOKBACK_DAYS = 365
_REQUIRED = frozenset([*SUBAWARD_SEARCH_FIELDS, "prime_award_generated_internal_id"])
_LIST_REQUIRED = frozenset(["id", "subaward_number", "description", "action_date", "amount", "recipient_name"])


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def subaward_key(prime_award_key: str, number: str | None, action_date: str | None, name: str | None) -> str:
    """The identity of one subaward: prime award + subaward number + subaward date + sub-recipient name.

    The number alone is not enough (a subaward's later actions repeat it with another date, and
    primes reuse placeholders such as "N/A"); the UEI cannot be part of it (``/api/v2/subawards/``
    does not give it); the report's own id changes with every re-filing; the name is the one
    both endpoints give, normalized so punctuation does not split a subaward in two.
    """
    # Its own simple normalization, frozen: the key is stored, and names.normalize_name may learn more suffixes.
    plain = re.sub(r"[^A-Z0-9]+", " ", (name or "").upper()).strip()
    ident = "|".join([prime_award_key.upper(), (number or "").strip().upper(), action_date or "", plain])
    return "SUBAWD_" + hashlib.sha1(ident.encode()).hexdigest()[:24].upper()  # noqa: S324 - identity


def fingerprint(sub: Subaward) -> str:
    """A hash of what an answer said of a subaward: equal means nothing to write."""
    said = [json_value(getattr(sub, f)) for f in (*SUBAWARD_FACT_FIELDS, *SUBAWARD_FILL_FIELDS, "report_count")]
    return hashlib.sha1(repr(said).encode()).hexdigest()  # noqa: S324 - identity, not security


def from_search(row: dict[str, Any]) -> Subaward | None:
    """One subaward-level spending_by_award row; None when it names no prime award (it cannot be keyed)."""
    if not isinstance(row, dict) or not row.keys() >= _REQUIRED:
        missing = sorted(_REQUIRED - (row.keys() if isinstance(row, dict) else set()))
        raise SourceError(f"subaward search row lacks requested fields {missing}")
    prime = row["prime_award_generated_internal_id"]
    if not isinstance(prime, str) or not prime.startswith(("CONT_", "ASST_")):
        return None
    prime = prime.upper()
    sub = Subaward(
        subaward_key="",
        prime_award_key=prime,
        prime_piid=_text(row["Prime Award ID"]),
        subaward_number=_text(row["Sub-Award ID"]),
        sub_recipient_name=_text(row["Sub-Awardee Name"]),
        sub_recipient_uei=_text(row["Sub-Recipient UEI"]),
        amount=to_decimal(row["Sub-Award Amount"]),
        action_date=to_date(row["Sub-Award Date"]),
        description=_text(row["Sub-Award Description"]),
        prime_recipient_name=_text(row["Prime Recipient Name"]),
        awarding_subagency=_text(row["Awarding Sub Agency"]),
    )
    sub.subaward_key = subaward_key(prime, sub.subaward_number, sub.action_date, sub.sub_recipient_name)
    return sub


def from_list(row: dict[str, Any], prime_award_key: str) -> Subaward:
    """One ``/api/v2/subawards/`` row of the prime ``prime_award_key``."""
    if not isinstance(row, dict) or not row.keys() >= _LIST_REQUIRED:
        raise SourceError(f"subawards of {prime_award_key}: a row lacks {sorted(_LIST_REQUIRED)}: {row!r:.200}")
    sub = Subaward(
        subaward_key="",
        prime_award_key=prime_award_key.upper(),
        prime_piid=parse_award_key(prime_award_key.upper())["piid"],
        subaward_number=_text(row["subaward_number"]),
        report_id=_text(row["id"]),
        sub_recipient_name=_text(row["recipient_name"]),
        amount=to_decimal(row["amount"]),
        action_date=to_date(row["action_date"]),
        description=_text(row["description"]),
    )
    sub.subaward_key = subaward_key(sub.prime_award_key, sub.subaward_number, sub.action_date, sub.sub_recipient_name)
    return sub


Ref = TypeVar("Ref")


def _rank(sub: Subaward) -> tuple[Decimal, str]:
    return (sub.amount if sub.amount is not None else Decimal("-Infinity"), sub.description or "")


def collapse(reports: Iterable[tuple[Subaward, Ref]]) -> dict[str, tuple[Subaward, list[Ref]]]:
    """Reports of the same subaward as one record, with every report's reference.

    When re-filed reports disagree, the record takes the largest amount (then the last
    description in sort order): a rule that does not depend on which endpoint answered, so
    the two never undo each other. ``report_id`` is the newest report's id (the largest),
    ``report_count`` how many reports the answer held.
    """
    groups: dict[str, list[tuple[Subaward, Ref]]] = {}
    for sub, ref in reports:
        groups.setdefault(sub.subaward_key, []).append((sub, ref))
    out: dict[str, tuple[Subaward, list[Ref]]] = {}
    for key, items in groups.items():
        best = max((s for s, _ in items), key=_rank)
        ids = [s.report_id for s, _ in items if s.report_id]
        best.report_id = max(ids, key=lambda i: (len(i), i)) if ids else None
        best.report_count = len(items)
        best.fingerprint = fingerprint(best)
        out[key] = (best, [r for _, r in items])
    return out


# ---------------------------------------------------------------- requests


def subaward_plan(watch: Watch) -> list[Query]:
    """One subaward-level walk per agency role and search mode, with the award walks' terms.

    Contracts and IDVs go in one request: at the subaward level the award-type groups are
    "procurement" (both) and "assistance" (usaspending-api ``orm_helpers.subaward_types_are_valid_groups``).
    """
    seen: dict[tuple[str, str], Query] = {}
    for q in plan(watch):
        seen.setdefault((q.role, q.mode), Query("subawards", q.role, q.mode, q.terms))
    return list(seen.values())


def subaward_body(watch: Watch, query: Query, today: date, page_size: int) -> dict[str, Any]:
    """The subaward-level spending_by_award request for a walk's first page.

    ``date_type`` is ``action_date``, which the subaward index reads as the subaward's own date;
    the contract's ``sub_action_date`` is refused (a 500) by the request model that runs first.
    """
    award = search_body(watch, Query(watch.award_types[0], query.role, query.mode, query.terms), today, page_size)
    filters = award["filters"]
    filters["award_type_codes"] = [c for group in watch.award_types for c in AWARD_TYPE_CODES[group]]
    start = today - timedelta(days=max(watch.lookback_days, SUBAWARD_LOOKBACK_DAYS))
    filters["time_period"] = [
        {
            "start_date": max(start, date(2007, 10, 1)).isoformat(),
            "end_date": (today + timedelta(days=1)).isoformat(),
            "date_type": "action_date",
        }
    ]
    return {
        "spending_level": "subawards",
        "filters": filters,
        "fields": SUBAWARD_SEARCH_FIELDS,
        "sort": SUBAWARD_SORT,
        "order": "desc",
        "limit": page_size,
        "page": 1,
    }


def tie_body(body: dict[str, Any], prime_award_key: str, action_date: str) -> dict[str, Any]:
    """The walk's request narrowed to one prime and one subaward date: the rows a page boundary may have skipped."""
    filters = {**body["filters"], "award_unique_id": prime_award_key}
    filters["time_period"] = [{"start_date": action_date, "end_date": action_date, "date_type": "action_date"}]
    return {**{k: v for k, v in body.items() if not k.startswith("last_record_")}, "filters": filters, "page": 1}


def list_body(prime_award_key: str, page: int, limit: int) -> dict[str, Any]:
    """A ``/api/v2/subawards/`` page: by report id, which is unique, so paging neither skips nor repeats."""
    return {"award_id": prime_award_key, "page": page, "limit": limit, "sort": "id", "order": "asc"}
