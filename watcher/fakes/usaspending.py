"""A local stand-in for api.usaspending.gov that replays recorded rows with the real rules.

It serves ``spending_by_award`` (cursor and page mode; its subaward level and
``/api/v2/subawards/`` come from ``usaspending_subawards``), ``/api/v2/transactions/``,
``/api/v2/awards/<id>/`` and ``/api/v2/idvs/awards/`` on 127.0.0.1, and enforces the validation the real service
applies (docs/api/usaspending.md): limit at most 100, one award-type group per
request, sort among the requested fields, both cursor fields or neither, unknown
filters reported as "not used", each with the real status code and body. ``watcher
demo``, the tests and the benchmarks all poll it through the production client.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from watcher.fakes import server as localserver
from watcher.fakes.server import ApiError, Fault, Stream
from watcher.fakes.usaspending_awards import (
    HTML_500,
    KNOWN_FILTERS,
    TIME_PERIOD_MESSAGE,
    ReplayAward,
    check_time_periods,
    dumps,
    matches,
)
from watcher.fakes.usaspending_bulk import GROUPS, BulkSearches, page_metadata
from watcher.fakes.usaspending_idvs import IdvAwards
from watcher.fakes.usaspending_recipients import RecipientEndpoints
from watcher.fakes.usaspending_subawards import SubawardSearches

BULK_PATHS = {
    "/api/v2/search/spending_by_transaction/": "transaction_search",
    "/api/v2/search/spending_by_award_count/": "award_count",
    "/api/v2/search/spending_by_transaction_count/": "transaction_count",
    "/api/v2/idvs/awards/": "idv_awards",  # the orders under a contract vehicle (usaspending_idvs.py)
}
SORTABLE = {"Last Modified Date": "Last Modified Date", "Award ID": "Award ID", "Award Amount": "Award Amount"}
_EPOCH = date(1970, 1, 1).toordinal()

#: Cursor lookups: id(sorted hit list) -> (that list, internal_id -> position).
_POSITIONS: dict[int, tuple[list[Any], dict[int, int]]] = {}


@dataclass
class _Encoded:
    """Result rows already encoded as JSON (a page is mostly rows, and rows rarely change)."""

    parts: list[bytes]


class UsaspendingReplay(SubawardSearches, BulkSearches, IdvAwards, RecipientEndpoints, localserver.Served):
    """The fake API. ``start()`` returns its base URL; ``set_awards()`` swaps the data between polls."""

    def __init__(self, awards: list[ReplayAward] | None = None) -> None:
        self._lock = threading.Lock()
        self._awards: dict[str, ReplayAward] = {}
        self._cache: dict[str, tuple[list[tuple[Any, ...]], list[ReplayAward]]] = {}
        self._rows: dict[tuple[int, tuple[str, ...]], bytes] = {}
        self._responses: dict[tuple[str, str, bytes], bytes] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, Any]] = []
        self.log_bodies = True
        self.delay = 0.0  # seconds added to every answer (crash tests need a poll that takes a while)
        #: Agencies the autocomplete knows besides those in the awards: (toptier, subtier, code).
        self.extra_agencies: set[tuple[str, str, str]] = set()
        self._counts: dict[str, int] = {}
        #: Tests may rewrite each search response (to repeat a row, add a message, drift a field...).
        self.on_search: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
        self.set_awards(awards or [])

    # ------------------------------------------------------------ data
    def set_awards(self, awards: list[ReplayAward]) -> None:
        with self._lock:
            for a in awards:  # rows may have been edited in place since the last search
                a.__dict__.pop("search_text", None)
            self._awards = {a.key.upper(): a for a in awards}
            self._cache.clear()
            self.__dict__.pop("_bulk_cache", None)
            self._rows.clear()
            self._responses.clear()

    @property
    def awards(self) -> dict[str, ReplayAward]:
        return self._awards

    # ------------------------------------------------------------ server
    def answer(self, method: str, target: str, body: bytes) -> tuple[int, bytes | Stream, str]:
        return self.handle(method, target, body)

    # ------------------------------------------------------------ dispatch
    def handle(self, method: str, path: str, raw: bytes) -> tuple[int, bytes | Stream, str]:
        path, _, query = path.partition("?")
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self._counts[path] = self._counts.get(path, 0) + 1
            self.requests.append((method, path, raw if self.log_bodies else b""))
            hit = None
            for fault in self.faults:
                if path.startswith(fault.path) and self._counts[path] >= fault.nth and fault.times > 0:
                    fault.times -= 1
                    hit = fault
                    break
        if hit is not None:
            if hit.sleep:  # outside the lock: a slow answer (a client timeout) holds up no one else
                time.sleep(hit.sleep)
            return hit.status, hit.body, hit.content_type
        # Like the real API (docs/api/usaspending.md section 1), identical request bodies are answered
        # from a cache until the data changes.
        cache_key = (method, path, raw)
        if self.on_search is None and cache_key in self._responses:
            return 200, self._responses[cache_key], "application/json"
        try:
            if path.rstrip("/") == "/api/v2/search/spending_by_award":
                if method != "POST":
                    raise ApiError(405, {"detail": 'Method "GET" not allowed.'})
                body = self._json(raw)
                out = self.subaward_search(body) if self.subaward_level(body) else self.search(body)
                if isinstance(out.get("results"), _Encoded):
                    parts = out["results"].parts
                    if self.on_search is None:  # fast path: splice the pre-encoded rows in
                        page = dumps({**out, "results": "__ROWS__"})
                        page = page.replace(b'"__ROWS__"', b"[" + b",".join(parts) + b"]")
                        with self._lock:
                            self._responses[cache_key] = page
                        return 200, page, "application/json"
                    out["results"] = [json.loads(p, parse_float=Decimal) for p in parts]
                    out = self.on_search(body, out)
            elif m := re.fullmatch(r"/api/v2/autocomplete/(awarding|funding)_agency_office/", path):
                if method != "POST":
                    raise ApiError(405, {"detail": 'Method "GET" not allowed.'})
                out = self.autocomplete(self._json(raw), m.group(1))
            elif path in BULK_PATHS:
                if method != "POST":
                    raise ApiError(405, {"detail": 'Method "GET" not allowed.'})
                out = getattr(self, BULK_PATHS[path])(self._json(raw))
            elif path == "/api/v2/subawards/":
                if method != "POST":
                    raise ApiError(405, {"detail": 'Method "GET" not allowed.'})
                out = self.subaward_list(self._json(raw))
            elif path == "/api/v2/transactions/":
                if method != "POST":
                    raise ApiError(405, {"detail": 'Method "GET" not allowed.'})
                out = self.transactions(self._json(raw))
            elif m := re.fullmatch(r"/api/v2/awards/((?:CONT|ASST)_(?:AWD|IDV|NON|AGG)_.+)/", path):
                out = self.detail(unquote(m.group(1)))
            elif path.startswith(("/api/v2/recipient/", "/api/v2/autocomplete/recipient/")):  # usaspending_recipients
                out = self.recipient_route(method, path, self._json(raw) if method == "POST" else None, query)
            else:
                raise ApiError(404, b"<h1>Not Found</h1>", "text/html")
        except ApiError as err:
            body_bytes = err.body if isinstance(err.body, bytes) else dumps(err.body)
            return err.status, body_bytes, err.content_type
        return 200, dumps(out), "application/json"

    @staticmethod
    def _json(raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw or b"{}", parse_float=Decimal)
        except ValueError:
            raise ApiError(400, {"detail": "JSON parse error"}) from None
        if not isinstance(body, dict):
            raise ApiError(400, {"detail": "JSON parse error"})
        return body

    # ------------------------------------------------------------ spending_by_award
    def _group(self, codes: Any) -> str:
        if not isinstance(codes, list) or not codes:
            raise ApiError(422, {"detail": "Missing value: 'filters|award_type_codes' is a required field"})
        groups = {g for g, members in GROUPS.items() if set(codes) <= members}
        if not groups:
            known = set().union(*GROUPS.values())
            if not set(codes) <= known:
                raise ApiError(
                    400, {"detail": f"Field 'filters|award_type_codes' is outside valid values {sorted(known)}"}
                )
            raise ApiError(
                422,
                {
                    "message": "'award_type_codes' must only contain types from one group.",
                    "award_type_groups": {g: sorted(m) for g, m in GROUPS.items()},
                },
            )
        return groups.pop()

    def _validate_search(self, body: dict[str, Any]) -> tuple[str, list[str], list[str]]:
        if "fields" not in body:
            raise ApiError(422, {"detail": "Missing value: 'fields' is a required field"})
        if "filters" not in body:
            raise ApiError(422, {"detail": "Missing value: 'filters' is a required field"})
        fields = body["fields"]
        if not isinstance(fields, list) or not fields:
            raise ApiError(422, {"detail": f"Field 'fields' value '{fields}' is below min '1' items"})
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or limit > 100:
            raise ApiError(422, {"detail": f"Field 'limit' value '{limit}' is above max '100'"})
        if limit < 1:
            raise ApiError(422, {"detail": f"Field 'limit' value '{limit}' is below min '1'"})
        if body.get("page", 1) == 0 or body.get("order", "desc") not in ("asc", "desc"):
            raise ApiError(500, HTML_500, "text/html")
        sort = body.get("sort", fields[0])
        if sort not in fields:
            raise ApiError(400, {"detail": f"Sort value '{sort}' not found in requested fields: {fields}"})
        if sort not in SORTABLE:
            raise ApiError(
                400, {"detail": f"Sort value '{sort}' not found in Contract Award mappings: {sorted(SORTABLE)}"}
            )
        if ("last_record_unique_id" in body) != ("last_record_sort_value" in body):
            raise ApiError(500, HTML_500, "text/html")
        filters = body["filters"]
        group = self._group(filters.get("award_type_codes"))
        unused = sorted(set(filters) - KNOWN_FILTERS)
        messages = [TIME_PERIOD_MESSAGE]
        if unused:
            messages.append(
                f"The following filters from the request were not used: {set(unused)}. "
                "See https://api.usaspending.gov/docs/endpoints for a list of appropriate filters"
            )
        for kw in filters.get("keywords") or []:
            if len(str(kw)) < 3:
                raise ApiError(422, {"detail": "Field 'filters|keywords' value is below min '3' characters"})
        for agency in filters.get("agencies") or []:
            extra = set(agency) - {"type", "tier", "name", "toptier_name"}
            if extra:
                raise ApiError(400, {"detail": f"Unexpected field '{extra.pop()}' in parameter filters|agencies"})
            if "name" not in agency:
                raise ApiError(422, {"detail": "Missing value: 'filters' is a required field"})
            if agency.get("type") not in ("awarding", "funding") or agency.get("tier") not in ("toptier", "subtier"):
                raise ApiError(500, HTML_500, "text/html")
        check_time_periods(filters)
        return group, fields, messages

    def _sorted(
        self, group: str, filters: dict[str, Any], sort: str, order: str
    ) -> tuple[list[tuple[Any, ...]], list[ReplayAward]]:
        cache_key = json.dumps([group, filters, sort, order], sort_keys=True, default=str)
        with self._lock:
            hit = self._cache.get(cache_key)
            if hit:
                return hit
            hits = [a for a in self._awards.values() if a.group == group and matches(a, filters)]

        def sort_key(a: ReplayAward) -> tuple[Any, ...]:
            value = a.row.get(sort)
            if sort == "Last Modified Date":
                # epoch milliseconds (UTC), like Elasticsearch's sort value for a date
                value = (date.fromisoformat(str(value)[:10]).toordinal() - _EPOCH) * 86_400_000 if value else 0
            elif sort == "Award Amount":
                value = Decimal(str(value or 0))
            return (value, str(a.row["Award ID"]), int(a.row["internal_id"]))

        hits.sort(key=sort_key, reverse=(order == "desc"))
        keys = [sort_key(a) for a in hits]
        with self._lock:
            self._cache[cache_key] = (keys, hits)
        return keys, hits

    @staticmethod
    def _after_cursor(
        body: dict[str, Any], sort: str, order: str, keys: list[tuple[Any, ...]], hits: list[ReplayAward]
    ) -> int:
        """search_after: the index just past the cursor record (or past its sort value if it left)."""
        last_id = int(body["last_record_unique_id"])
        positions = _POSITIONS.get(id(hits))
        if positions is None or positions[0] is not hits:
            positions = _POSITIONS[id(hits)] = (hits, {int(a.row["internal_id"]): i for i, a in enumerate(hits)})
        if last_id in positions[1]:
            return positions[1][last_id] + 1
        raw = str(body["last_record_sort_value"])
        value: Any = int(raw) if sort == "Last Modified Date" else Decimal(raw) if sort == "Award Amount" else raw
        for i, k in enumerate(keys):
            if (k[0] < value) if order == "desc" else (k[0] > value):
                return i
        return len(keys)

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        group, fields, messages = self._validate_search(body)
        sort, order = body.get("sort", fields[0]), body.get("order", "desc")
        limit, page = body.get("limit", 10), body.get("page", 1)
        keys, hits = self._sorted(group, body["filters"], sort, order)
        if "last_record_unique_id" in body:
            start = self._after_cursor(body, sort, order, keys, hits)
        else:
            if (page - 1) * limit >= 50000:
                raise ApiError(
                    422,
                    {
                        "detail": f"Page #{page} with limit {limit} is over the maximum result limit 50000. "
                        "Please provide the 'last_record_sort_value' and 'last_record_unique_id' "
                        "to paginate sequentially."
                    },
                )
            start = (page - 1) * limit
        chunk = hits[start : start + limit + 1]
        has_next = len(chunk) > limit
        chunk = chunk[:limit]
        results = _Encoded([self._encode_row(a, tuple(fields)) for a in chunk])
        last = chunk[-1] if chunk and has_next else None
        sort_value = None
        if last is not None:
            k = keys[start + len(chunk) - 1][0]
            sort_value = str(k)
        return {
            "spending_level": "awards",
            "limit": limit,
            "results": results,
            "page_metadata": {
                "page": page,
                "hasNext": has_next,
                "last_record_unique_id": last.row["internal_id"] if last else None,
                "last_record_sort_value": sort_value if last else "None",
            },
            "messages": messages,
        }

    def prewarm(self, group: str, fields: list[str]) -> None:
        """Encode every row of ``group`` for ``fields`` now, so serving pages costs little later."""
        for a in self._awards.values():
            if a.group == group:
                self._encode_row(a, tuple(fields))

    def _encode_row(self, a: ReplayAward, fields: tuple[str, ...]) -> bytes:
        cache_key = (id(a), fields)
        hit = self._rows.get(cache_key)
        if hit is None:
            out = {"internal_id": a.row["internal_id"]}
            for f in fields:
                out[f] = a.row.get(f)
            out["generated_internal_id"] = a.row["generated_internal_id"]
            if "Awarding Agency" in fields:
                out["awarding_agency_id"] = a.row.get("awarding_agency_id", 1173)
                out["agency_slug"] = a.row.get("agency_slug", "department-of-homeland-security")
            hit = self._rows[cache_key] = dumps(out)
        return hit

    # ------------------------------------------------------------ agencies
    def agency_names(self, role: str | None = None) -> set[tuple[str, str, str]]:
        """(toptier name, subtier name, subtier code) of the agencies with data in ``role`` (or any role).

        Like the real autocompletes (``has_awarding_data`` / ``has_funding_data``), an agency
        that only funds is missing from the awarding one (docs/api/usaspending.md trap 23).
        """
        out = set(self.extra_agencies)
        prefixes = ("Awarding", "Funding") if role is None else (role.capitalize(),)
        for a in self._awards.values():
            for prefix in prefixes:
                top, sub = a.row.get(f"{prefix} Agency"), a.row.get(f"{prefix} Sub Agency")
                if top and sub:
                    out.add((str(top), str(sub), str(a.row.get(f"{prefix} Sub Agency Code") or "")))
        return out

    def autocomplete(self, body: dict[str, Any], role: str = "awarding") -> dict[str, Any]:
        text = str(body.get("search_text") or "")
        if not text:
            raise ApiError(422, {"detail": "Missing value: 'search_text' is a required field"})
        limit = int(body.get("limit", 10))
        needle = text.lower()
        known = sorted(self.agency_names(role))
        toptiers = sorted({top for top, _, _ in known if needle in top.lower()})
        subtiers = [(top, sub, code) for top, sub, code in known if needle in sub.lower()]
        return {
            "results": {
                "toptier_agency": [
                    {"abbreviation": None, "code": None, "name": top, "subtier_agencies": [], "offices": []}
                    for top in toptiers[:limit]
                ],
                "subtier_agency": [
                    {
                        "abbreviation": None,
                        "code": code,
                        "name": sub,
                        "offices": [],
                        "toptier_agency": {"abbreviation": None, "code": None, "name": top},
                    }
                    for top, sub, code in subtiers[:limit]
                ],
                "office": [],
            },
            "messages": [],
        }

    # ------------------------------------------------------------ awards and transactions
    def detail(self, award_id: str) -> dict[str, Any]:
        a = self._awards.get(award_id.upper())
        if a is None:
            raise ApiError(
                404, {"detail": f"No Award found with: {{'generated_unique_award_id_legacy': '{award_id}'}}"}
            )
        return {**a.detail, **self.subaward_totals(a.key)}

    def transactions(self, body: dict[str, Any]) -> dict[str, Any]:
        limit, page = body.get("limit", 10), body.get("page", 1)
        if not isinstance(limit, int) or not 1 <= limit <= 5000:
            raise ApiError(422, {"detail": f"Field 'limit' value '{limit}' is above max '5000'"})
        if "award_id" not in body:
            raise ApiError(422, {"detail": "Missing value: 'award_id' is a required field"})
        a = self._awards.get(str(body["award_id"]).upper())
        rows = list(a.transactions) if a else []
        rows.sort(
            key=lambda t: (t.get("action_date") or "", t.get("id") or ""), reverse=body.get("order", "desc") == "desc"
        )
        chunk = rows[(page - 1) * limit : page * limit]
        has_next = len(rows) > page * limit
        return {
            "page_metadata": page_metadata(page, has_next),
            "results": chunk,
        }
