"""USAspending API v2: the watch's search walks (cursor-paged), award details and transactions.

The request matrix follows the API's rules (see docs/api/usaspending.md): one award
type group per request, awarding and funding agencies in separate requests (they are
ANDed if combined), ``recipient_search_text`` for recipients and ``keywords`` for
mentions, a ``last_modified_date`` lookback window, and cursor paging with the cursor
echoed verbatim. A "filters ... not used" message means the API ignored part of our
query, so it is an error, never a silent widening.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from watcher.config import AWARD_TYPE_CODES, Reseller, Watch
from watcher.errors import SourceError
from watcher.http import ApiClient, parse_json
from watcher.sources import Raw
from watcher.sources.usaspending.parse import SEARCH_FIELDS

log = logging.getLogger(__name__)

SEARCH_PATH = "/api/v2/search/spending_by_award/"
TRANSACTIONS_PATH = "/api/v2/transactions/"
MAX_PAGES = 5000  # 500,000 rows: far beyond any watch; stops a cursor that never ends
TRANSACTION_PAGE = 5000


@dataclass(frozen=True)
class Query:
    """One search walk: an award group, an agency role and a search mode."""

    group: str  # contracts | idvs
    role: str  # awarding | funding
    mode: str  # recipient | keyword
    terms: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.group}/{self.role}/{self.mode}"


def plan(watch: Watch, resellers: Iterable[tuple[str, Reseller, Any]] = ()) -> list[Query]:
    """Every search walk a watch needs; duplicates across walks are merged by the pipeline.

    ``resellers`` (a poll's ``Matcher.review_resellers()``) are searched as recipients too: an order
    of theirs that names no product is returned by no other walk, and goes to the review queue.
    """
    recipient_terms: list[str] = []
    mention_terms: list[str] = []
    for vendor in watch.vendors.values():
        recipient_terms += [vendor.name, *vendor.aliases, *(u.uei for u in vendor.ueis)]
        recipient_terms += [u.uei for u in vendor.parent_ueis]
        mention_terms += vendor.mentions
    for _key, reseller, _aliases in resellers:
        recipient_terms += [*reseller.aliases, *(u.uei for u in reseller.ueis)] or [reseller.name]
    mention_terms += watch.keywords
    # The API upper-cases every term, so terms that differ only in case are one term.
    recipient_terms = list({t.strip().upper(): t.strip() for t in recipient_terms if t.strip()}.values())
    mention_terms = list({t.strip().upper(): t.strip() for t in mention_terms if len(t.strip()) >= 3}.values())
    queries = []
    for group in watch.award_types:
        for role in watch.agency_roles:
            if recipient_terms:
                queries.append(Query(group, role, "recipient", tuple(recipient_terms)))
            if mention_terms:
                queries.append(Query(group, role, "keyword", tuple(mention_terms)))
    return queries


def search_body(watch: Watch, query: Query, today: date, page_size: int) -> dict[str, Any]:
    """The spending_by_award request for the first page of a walk."""
    agencies = []
    for a in watch.agencies:
        obj = {"type": query.role, "tier": a.tier, "name": a.name}
        if a.tier == "subtier" and a.toptier_name:
            obj["toptier_name"] = a.toptier_name
        agencies.append(obj)
    start = today - timedelta(days=watch.lookback_days)
    filters: dict[str, Any] = {
        "award_type_codes": AWARD_TYPE_CODES[query.group],
        "agencies": agencies,
        # end_date is tomorrow: if a stored value ever carries a time, today is still in.
        "time_period": [
            {
                "start_date": max(start, date(2007, 10, 1)).isoformat(),
                "end_date": (today + timedelta(days=1)).isoformat(),
                "date_type": "last_modified_date",
            }
        ],
    }
    if query.mode == "recipient":
        filters["recipient_search_text"] = list(query.terms)
    else:
        filters["keywords"] = list(query.terms)
    return {
        "filters": filters,
        "fields": SEARCH_FIELDS[query.group],
        "sort": "Last Modified Date",
        "order": "desc",
        "limit": page_size,
        "page": 1,
    }


def check_messages(payload: dict[str, Any], what: str) -> None:
    for message in payload.get("messages") or []:
        if "not used" in str(message):
            raise SourceError(f"{what}: the API ignored part of the query: {message}")


def walk(client: ApiClient, body: dict[str, Any], label: str) -> Iterator[tuple[list[dict[str, Any]], Raw]]:
    """Yield each page's results, following the search_after cursor until hasNext is false.

    The next page is requested while the caller processes the current one (requests stay
    one at a time: the client serializes them), so network time and database time overlap.
    """
    body = dict(body)
    seen_cursors: set[tuple[Any, Any]] = set()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="watcher-prefetch")
    stop = threading.Event()  # set when the walk ends early: the prefetch then sends nothing more
    try:
        sent = dict(body)
        pending = pool.submit(client.request_json, "POST", SEARCH_PATH, json_body=sent, parse=False, stop=stop)
        for page in range(1, MAX_PAGES + 1):
            what = f"spending_by_award {label} page {page}"
            raw = Raw("POST", SEARCH_PATH, sent, pending.result())
            payload = parse_json(raw.content, what)
            if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
                raise SourceError(f"{what}: response has no results list")
            meta = payload.get("page_metadata")
            if not isinstance(meta, dict) or "hasNext" not in meta:
                raise SourceError(f"{what}: response has no page_metadata.hasNext")
            check_messages(payload, what)
            has_next = bool(meta["hasNext"])
            if has_next:
                cursor = (meta.get("last_record_unique_id"), meta.get("last_record_sort_value"))
                if cursor[0] is None or cursor[1] in (None, "None"):
                    raise SourceError(f"{what}: hasNext is true but the cursor is missing")
                if cursor in seen_cursors:
                    raise SourceError(f"{what}: the cursor did not advance ({cursor!r})")
                seen_cursors.add(cursor)
                # Echo the cursor exactly as received: the sort value is an opaque string.
                body["last_record_unique_id"], body["last_record_sort_value"] = cursor
                sent = dict(body)
                pending = pool.submit(client.request_json, "POST", SEARCH_PATH, json_body=sent, parse=False, stop=stop)
            yield payload["results"], raw
            if not has_next:
                return
        raise SourceError(f"spending_by_award {label}: more than {MAX_PAGES} pages; narrow the watch")
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)  # at most the one attempt in flight (timeout-bounded)


#: One autocomplete per agency role: each lists only the agencies with data in that role (trap 23).
AUTOCOMPLETE_PATHS = {
    "awarding": "/api/v2/autocomplete/awarding_agency_office/",
    "funding": "/api/v2/autocomplete/funding_agency_office/",
}


def known_agency_names(client: ApiClient, name: str, tier: str, role: str = "awarding") -> list[str]:
    """The agency names of ``tier`` that USAspending's ``role`` autocomplete returns for ``name``."""
    payload = client.request_json("POST", AUTOCOMPLETE_PATHS[role], json_body={"search_text": name, "limit": 10})
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, dict):
        raise SourceError("agency autocomplete: response has no results object")
    group = results.get("toptier_agency" if tier == "toptier" else "subtier_agency") or []
    return [str(a.get("name")) for a in group if isinstance(a, dict)]


def fetch_detail(client: ApiClient, award_key: str) -> tuple[dict[str, Any], Raw]:
    path = f"/api/v2/awards/{quote(award_key, safe='')}/"
    raw = Raw("GET", path, None, client.request_json("GET", path, parse=False))
    payload = parse_json(raw.content, f"award {award_key}")
    if not isinstance(payload, dict):
        raise SourceError(f"award {award_key}: detail is not an object")
    return payload, raw


def fetch_pages(
    client: ApiClient, path: str, body_for: Callable[[int], dict[str, Any]], what: str, max_pages: int = 999
) -> list[tuple[dict[str, Any], Raw, int]]:
    """Every row of a page-mode list (``page_metadata.hasNext``), each with its response and index."""
    rows: list[tuple[dict[str, Any], Raw, int]] = []
    for page in range(1, max_pages + 1):
        body = body_for(page)
        raw = Raw("POST", path, body, client.request_json("POST", path, json_body=body, parse=False))
        payload = parse_json(raw.content, what)
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise SourceError(f"{what}: response has no results list")
        rows += [(row, raw, i) for i, row in enumerate(payload["results"])]
        if not (payload.get("page_metadata") or {}).get("hasNext"):
            return rows
    raise SourceError(f"{what}: more than {max_pages} pages")


def fetch_transactions(client: ApiClient, award_key: str) -> list[tuple[dict[str, Any], Raw, int]]:
    """Every contract action of an award (usually one page of up to 5000), each with its response and index."""

    def body(page: int) -> dict[str, Any]:
        return {"award_id": award_key, "page": page, "limit": TRANSACTION_PAGE, "sort": "action_date", "order": "desc"}

    return fetch_pages(client, TRANSACTIONS_PATH, body, f"transactions of {award_key}")


# ---------------------------------------------------------------- the transaction-level walk

TRANSACTION_SEARCH_PATH = "/api/v2/search/spending_by_transaction/"
#: The transaction index's fields we read (enum-checked by the API: a wrong name is a 400).
TRANSACTION_FIELDS = [
    "Award ID",
    "Mod",
    "Action Date",
    "Transaction Amount",
    "Transaction Description",
    "Recipient Name",
    "Recipient UEI",
    "Awarding Sub Agency",
    "Funding Sub Agency",
]
#: Page mode only, 100 rows a page; page 500 of 100 is a 503 (usaspending issue #3218), so stop at 499.
TRANSACTION_MAX_PAGES = 499
AWARD_IDS_PER_REQUEST = 100


def transaction_plan(watch: Watch) -> list[Query]:
    """The transaction-level walks: the award walks' terms and roles, every award group at once.

    The award index holds only the base description and moves an award's Last Modified Date
    only with its latest action (traps 20, 21); the transaction index holds every action's
    description and its own modification date, so these walks see what the award walks cannot.
    """
    seen: dict[tuple[str, str], Query] = {}
    for q in plan(watch):
        seen.setdefault((q.role, q.mode), Query("transactions", q.role, q.mode, q.terms))
    return list(seen.values())


def transaction_body(watch: Watch, query: Query, today: date) -> dict[str, Any]:
    """The spending_by_transaction request for a walk's first page: by each action's own modification date."""
    award_body = search_body(watch, Query(watch.award_types[0], query.role, query.mode, query.terms), today, 100)
    filters = award_body["filters"]
    filters["award_type_codes"] = [c for group in watch.award_types for c in AWARD_TYPE_CODES[group]]
    return {
        "filters": filters,
        "fields": TRANSACTION_FIELDS,
        "sort": "Action Date",  # must be one of the fields (400 otherwise)
        "order": "desc",
        "limit": 100,
        "page": 1,
    }


def walk_transactions(
    client: ApiClient, body: dict[str, Any], label: str, warnings: list[str]
) -> Iterator[tuple[list[dict[str, Any]], Raw]]:
    """Yield each page of a spending_by_transaction walk (page mode: it has no cursor).

    A walk still full at page 499 stops there with a warning rather than asking for page
    500, which the real API answers with an empty 503.
    """
    for page in range(1, TRANSACTION_MAX_PAGES + 1):
        sent = {**body, "page": page}
        what = f"spending_by_transaction {label} page {page}"
        raw = Raw(
            "POST",
            TRANSACTION_SEARCH_PATH,
            sent,
            client.request_json("POST", TRANSACTION_SEARCH_PATH, json_body=sent, parse=False),
        )
        payload = parse_json(raw.content, what)
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise SourceError(f"{what}: response has no results list")
        for message in payload.get("messages") or []:
            # Every keywords answer carries a spurious "keyword_search not used" (trap 15); any other is real.
            if "not used" in str(message) and "keyword_search" not in str(message):
                raise SourceError(f"{what}: the API ignored part of the query: {message}")
        yield payload["results"], raw
        if not (payload.get("page_metadata") or {}).get("hasNext"):
            return
    warnings.append(
        f"spending_by_transaction {label}: more than {TRANSACTION_MAX_PAGES * 100:,} actions in the window;"
        " the rest cannot be paged (the API fails at page 500): shorten lookback_days"
    )


def award_ids_body(
    group: str, piids: list[str], page_size: int, window: tuple[date, date] | None = None
) -> dict[str, Any]:
    """A spending_by_award request for named awards (modified within ``window``, if given): the
    award rows of awards that only the transaction walk finds.

    PIIDs go unquoted (a quoted id is a 503, trap 22); unquoted, each is a regexp on the whole
    ``display_award_id``, which for a plain PIID is an exact, case-sensitive match.
    """
    filters: dict[str, Any] = {"award_type_codes": AWARD_TYPE_CODES[group], "award_ids": piids}
    if window:
        start, end = window
        filters["time_period"] = [
            {"start_date": start.isoformat(), "end_date": end.isoformat(), "date_type": "last_modified_date"}
        ]
    return {
        "filters": filters,
        "fields": SEARCH_FIELDS[group],
        "sort": "Last Modified Date",
        "order": "desc",
        "limit": page_size,
        "page": 1,
    }
