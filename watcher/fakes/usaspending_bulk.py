"""The replay's bulk endpoints for backfills: spending_by_transaction and the two count endpoints.

Rules from docs/api/usaspending.md section 3: spending_by_transaction pages by ``page``
(no cursor), ``limit`` at most 100, refuses pages past 50,000 rows (422) and answers an
empty 503 to a page whose rows overrun that window (page 500 of 100, issue #3218); ``sort``
must be one of ``fields`` (400); award groups may be mixed; ``time_period`` reads each
action's own date (its modification date with ``last_modified_date``); ``keywords`` searches the
transaction's text and always draws the bogus "keyword_search not used" message; there is
no per-transaction id and no tie-breaker in the sort. The counts answer with the same
filters, per award group.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

from watcher.fakes.server import ApiError
from watcher.fakes.usaspending_awards import ReplayAward, award_id_pattern, keyword_pattern, matches

GROUPS: dict[str, set[str]] = {
    "contracts": {"A", "B", "C", "D"},
    "idvs": {"IDV_A", "IDV_B", "IDV_B_A", "IDV_B_B", "IDV_B_C", "IDV_C", "IDV_D", "IDV_E"},
    "grants": {"02", "03", "04", "05", "F001", "F002"},
    "loans": {"07", "08", "F003", "F004"},
}


KEYWORD_MESSAGE = (
    "The following filters from the request were not used: {'keyword_search'}. "
    "See https://api.usaspending.gov/docs/endpoints for a list of appropriate filters"
)
TRANSACTION_FIELDS = {
    "Action Date",
    "Action Type",
    "Award ID",
    "Award Type",
    "Awarding Agency",
    "Awarding Sub Agency",
    "Funding Agency",
    "Funding Sub Agency",
    "generated_internal_id",
    "internal_id",
    "Mod",
    "naics_description",
    "product_or_service_description",
    "Recipient Name",
    "Recipient UEI",
    "Transaction Amount",
    "Transaction Description",
}
COUNT_KEYS = {"contracts": "contracts", "idvs": "idvs", "grants": "grants", "loans": "loans"}


def page_metadata(page: int, has_next: bool) -> dict[str, Any]:
    """Page mode's metadata, as the API shapes it for page-numbered endpoints."""
    return {
        "page": page,
        "next": page + 1 if has_next else None,
        "previous": page - 1 if page > 1 else None,
        "hasNext": has_next,
        "hasPrevious": page > 1,
    }


def _in_period(a: ReplayAward, tx: dict[str, Any], period: dict[str, Any]) -> bool:
    """One ``time_period`` entry on the transaction index (docs/api/usaspending.md section 3).

    No ``date_type`` or ``action_date``: the action date; ``last_modified_date``: the
    transaction's own; ``date_signed``: the award's signing date; ``new_awards_only``: both
    the action and the signing date.
    """
    kind = period.get("date_type") or "action_date"
    action, signed = str(tx.get("action_date"))[:10], str(a.row.get("Start Date") or "")[:10]
    days = {
        "action_date": [action],
        "last_modified_date": [a.last_modified(tx)],
        "date_signed": [signed],
        "new_awards_only": [action, signed],
    }.get(kind)
    if days is None:
        raise ApiError(400, {"detail": f"Field 'filters|time_period|date_type' value '{kind}' is outside valid values"})
    return all(period["start_date"] <= d <= period["end_date"] for d in days)


class BulkSearches:
    """Mixed into UsaspendingReplay (which provides ``_awards`` and ``ApiError`` handling)."""

    _awards: dict[str, ReplayAward]

    def _bulk_filters(self, body: dict[str, Any], require_codes: bool) -> tuple[dict[str, Any], set[str]]:

        filters = body.get("filters")
        if not isinstance(filters, dict):
            raise ApiError(422, {"detail": "Missing value: 'filters' is a required field"})
        codes = filters.get("award_type_codes")
        if codes is None and require_codes:
            raise ApiError(422, {"detail": "Missing value: 'filters|award_type_codes' is a required field"})
        groups = {g for g, members in GROUPS.items() if set(codes or []) & members} if codes else set(GROUPS)
        for tp in filters.get("time_period") or []:
            if date.fromisoformat(str(tp.get("start_date"))) < date(2007, 10, 1):
                raise ApiError(422, {"detail": "start_date must be on or after 2007-10-01"})
        return filters, groups

    def _award_hits(self, filters: dict[str, Any], groups: set[str]) -> list[Any]:
        award_filters = {k: v for k, v in filters.items() if k != "award_type_codes"}
        return [a for a in self._awards.values() if a.group in groups and matches(a, award_filters)]

    def _transaction_rows(self, filters: dict[str, Any], groups: set[str]) -> list[tuple[Any, dict[str, Any]]]:
        """The filter's rows, computed once per filter set (pages of one walk reuse them; set_awards clears it)."""
        cache: dict[str, Any] = self.__dict__.setdefault("_bulk_cache", {})
        key = json.dumps([filters, sorted(groups)], sort_keys=True, default=str)
        if key not in cache:
            cache[key] = self._compute_rows(filters, groups)
        return cache[key]

    def _compute_rows(self, filters: dict[str, Any], groups: set[str]) -> list[tuple[Any, dict[str, Any]]]:

        periods = filters.get("time_period") or []
        base = {
            k: v for k, v in filters.items() if k not in ("award_type_codes", "time_period", "keywords", "award_ids")
        }
        # award_ids (usaspending-api common/query_with_filters.py _AwardIds): a quoted value becomes a
        # term query Elasticsearch refuses, so the API answers 503 with an empty body (docs/api/usaspending.md
        # trap 22); an unquoted one is a case-sensitive regexp matching the whole PIID (award_id_pattern).
        ids = [str(i) for i in filters.get("award_ids") or []]
        if any(i.startswith('"') and i.endswith('"') for i in ids):
            raise ApiError(503, b"")
        patterns = [award_id_pattern(i) for i in ids]
        exact = {literal for literal, _ in patterns if literal is not None}
        keywords = filters.get("keywords")
        pattern = keyword_pattern(tuple(keywords)) if keywords else None
        out = []
        candidates: Iterable[ReplayAward] = self._awards.values()
        if ids and all(literal is not None for literal, _ in patterns):  # plain PIIDs: look up, not scan
            index = self.__dict__.setdefault("_bulk_cache", {}).get("__piids__")
            if index is None:
                index = {}
                for a in candidates:
                    index.setdefault(str(a.row.get("Award ID") or ""), []).append(a)
                self.__dict__["_bulk_cache"]["__piids__"] = index
            candidates = [a for p in sorted(exact) for a in index.get(p, [])]
        for a in candidates:
            if a.group not in groups or not matches(a, base):
                continue
            piid = str(a.row.get("Award ID") or "")
            if ids and piid not in exact and not any(p.fullmatch(piid) for _, p in patterns):
                continue
            for tx in a.transactions:
                if periods and not any(_in_period(a, tx, p) for p in periods):
                    continue
                text = " ".join(
                    str(x or "") for x in (tx.get("description"), a.row.get("Recipient Name"), a.row.get("Award ID"))
                )
                if pattern is not None and not pattern.search(text.upper()):
                    continue
                out.append((a, tx))
        # Sorted by action date only: equal dates keep the data's order (the real API has no tie-breaker).
        out.sort(key=lambda at: str(at[1].get("action_date")), reverse=True)
        return out

    def transaction_search(self, body: dict[str, Any]) -> dict[str, Any]:

        fields = body.get("fields")
        if not isinstance(fields, list) or not fields:
            raise ApiError(422, {"detail": "Missing value: 'fields' is a required field"})
        if "sort" not in body:
            raise ApiError(422, {"detail": "Missing value: 'sort' is a required field"})
        outside = [f for f in fields if f not in TRANSACTION_FIELDS]
        if outside:
            raise ApiError(400, {"detail": f"Field 'fields' value '{outside[0]}' is outside valid values"})
        if body["sort"] not in fields:  # checked after the enum, as the real view does
            raise ApiError(400, {"detail": f"Sort value not found in fields: {body['sort']}"})
        limit, page = body.get("limit", 10), body.get("page", 1)
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise ApiError(422, {"detail": f"Field 'limit' value '{limit}' is outside valid values [1, 100]"})
        if (page - 1) * limit >= 50000:
            raise ApiError(422, {"detail": f"Page #{page} of size {limit} is over the maximum result limit (50000)."})
        if page * limit >= 50000:  # the rows asked for overrun the 50,000 window: Elasticsearch fails (issue #3218)
            raise ApiError(503, b"")
        filters, groups = self._bulk_filters(body, require_codes=True)
        rows = self._transaction_rows(filters, groups)
        chunk = rows[(page - 1) * limit : page * limit + 1]
        results = []
        for a, tx in chunk[:limit]:
            full = {
                "Action Date": tx.get("action_date"),
                "Action Type": tx.get("action_type"),
                "Award ID": a.row.get("Award ID"),
                "Award Type": a.row.get("Contract Award Type"),
                "Awarding Agency": a.row.get("Awarding Agency"),
                "Awarding Sub Agency": a.row.get("Awarding Sub Agency"),
                "Funding Agency": a.row.get("Funding Agency"),
                "Funding Sub Agency": a.row.get("Funding Sub Agency"),
                "Mod": tx.get("modification_number"),
                "naics_description": (a.row.get("NAICS") or {}).get("description"),
                "product_or_service_description": (a.row.get("PSC") or {}).get("description"),
                "Recipient Name": a.row.get("Recipient Name"),
                "Recipient UEI": a.row.get("Recipient UEI"),
                "Transaction Amount": tx.get("federal_action_obligation"),
                "Transaction Description": tx.get("description"),
            }
            row = {f: full.get(f) for f in fields if f not in ("generated_internal_id", "internal_id")}
            row |= {"generated_internal_id": a.key, "internal_id": a.row["internal_id"]}
            results.append(row)
        messages = [KEYWORD_MESSAGE] if filters.get("keywords") else []
        has_next = len(chunk) > limit
        return {
            "limit": limit,
            "results": results,
            "page_metadata": page_metadata(page, has_next),
            "messages": messages,
        }

    def _group_counts(self, items: list[Any]) -> dict[str, Any]:
        out = {"contracts": 0, "direct_payments": 0, "grants": 0, "idvs": 0, "loans": 0, "other": 0}
        for a in items:
            out[COUNT_KEYS.get(a.group, "other")] += 1
        return out

    def award_count(self, body: dict[str, Any]) -> dict[str, Any]:
        filters, groups = self._bulk_filters(body, require_codes=False)
        return {
            "results": self._group_counts(self._award_hits(filters, groups)),
            "spending_level": "awards",
            "messages": [],
        }

    def transaction_count(self, body: dict[str, Any]) -> dict[str, Any]:
        filters, groups = self._bulk_filters(body, require_codes=False)
        return {"results": self._group_counts([a for a, _ in self._transaction_rows(filters, groups)]), "messages": []}
