"""The replay's subawards: the subaward level of spending_by_award and ``/api/v2/subawards/``, with the real rules.

Rules read in usaspending-api (snapshot 13a1ee0f; docs/api/usaspending.md section 10):

- ``spending_by_award`` with ``spending_level: "subawards"`` (or the legacy ``subawards: true``):
  the award types must come from one of two groups, procurement (contracts and IDVs together)
  or assistance, else 422 with a body naming those two groups; any name is accepted in
  ``fields``, and one outside ``subaward_mapping`` comes back null; ``sort`` must be a
  ``subaward_mapping`` name and one of the fields (400); ``time_period.date_type`` is read by
  the request model first, which knows only the award-level values (``sub_action_date``, which
  the view's own validator would allow, is a 500), then ``action_date`` means the subaward's
  date and ``last_modified_date`` the prime's; ``new_awards_only`` has no subaward meaning (500).
- Its cursor: the tie-breaker is the prime's id, a ``keyword`` in the subaward index, so
  ``last_record_unique_id`` is answered as a string; the request model reads it as an integer
  (a non-integer string is a 422, a float a 400; "123" and 123 are the same cursor), and
  ``search_after`` skips every row equal to the cursor in (sort value, prime id).
- ``/api/v2/subawards/``: ``award_id`` a generated id (or an internal one), page mode only,
  ``limit`` 1-100, ``sort`` one of six columns (400 otherwise) with the report id as tie-breaker,
  no UEI in the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from watcher.fakes.server import ApiError
from watcher.fakes.usaspending_awards import (
    HTML_500,
    KNOWN_FILTERS,
    TIME_PERIOD_MESSAGE,
    award_id_pattern,
    check_time_periods,
    keyword_pattern,
)
from watcher.fakes.usaspending_bulk import GROUPS, page_metadata

PROCUREMENT = GROUPS["contracts"] | GROUPS["idvs"]
ASSISTANCE = (
    GROUPS["grants"] | GROUPS["loans"] | {"06", "10", "F006", "F007", "09", "F005", "11", "-1", "F008", "F009", "F010"}
)
#: usaspending-api ``subaward_mapping``: the API name of each subaward field -> the report's attribute.
SUBAWARD_MAPPING = {
    "Sub-Award ID": "number",
    "Sub-Award Type": "subaward_type",
    "Sub-Awardee Name": "name",
    "Sub-Award Date": "action_date",
    "Sub-Award Amount": "amount",
    "Awarding Agency": "awarding_toptier",
    "Awarding Sub Agency": "awarding_subtier",
    "Prime Award ID": "prime_piid",
    "Prime Recipient Name": "prime_recipient",
    "prime_award_recipient_id": "",
    "Sub-Award Description": "description",
    "subaward_description_sorted": "description",
    "Sub-Recipient UEI": "uei",
    "Prime Award Recipient UEI": "prime_recipient_uei",
}
#: Sort names the view lets through without checking them (object fields; they sort on nothing useful here).
UNCHECKED_SORTS = {
    "NAICS", "PSC", "Recipient Location", "Primary Place of Performance", "Assistance Listing",
    "Sub-Recipient Location", "Sub-Award Primary Place of Performance", "Recipient UEI", "Contract Award Type",
}  # fmt: skip
LIST_SORTS = {
    "id": "report_id",
    "subaward_number": "number",
    "description": "description",
    "action_date": "action_date",
    "amount": "amount",
    "recipient_name": "name",
}
_EPOCH = date(1970, 1, 1).toordinal()


@dataclass
class ReplaySubaward:
    """One subaward report the fake knows (a row of usaspending-api's ``subaward_search``)."""

    report_id: int  # broker_subaward_id: every filing is a row of its own
    prime_key: str  # unique_award_key: the prime's generated id
    prime_internal_id: int  # award_id: the prime's internal id, the cursor's tie-breaker (a keyword)
    prime_piid: str
    number: str
    action_date: str
    amount: Decimal
    name: str
    uei: str | None = None
    parent_name: str | None = None
    parent_uei: str | None = None
    description: str | None = None
    prime_type: str = "C"  # prime_award_type: the prime's award type code
    prime_recipient: str | None = None
    prime_recipient_uei: str | None = None
    awarding_toptier: str = "Department of Homeland Security"
    awarding_subtier: str = "U.S. Immigration and Customs Enforcement"
    funding_toptier: str = "Department of Homeland Security"
    funding_subtier: str = "U.S. Immigration and Customs Enforcement"
    prime_last_modified: str | None = None
    subaward_type: str = "sub-contract"
    extra: dict[str, Any] = field(default_factory=dict)

    def value(self, api_name: str) -> Any:
        attr = SUBAWARD_MAPPING.get(api_name)
        return getattr(self, attr) if attr else None


def _sort_value(s: ReplaySubaward, sort: str) -> Any:
    """The Elasticsearch sort value of a row: epoch milliseconds for a date, cents for the amount."""
    attr = SUBAWARD_MAPPING.get(sort)
    if not attr:
        return None
    value = getattr(s, attr)
    if attr == "action_date" and value:
        return (date.fromisoformat(value[:10]).toordinal() - _EPOCH) * 86_400_000
    if attr == "amount" and value is not None:
        return int(Decimal(value) * 100)
    return value


def _cursor_id(body: dict[str, Any]) -> int | None:
    """``last_record_unique_id`` as the request model reads it (pydantic ``int | None``, then TinyShield)."""
    value = body.get("last_record_unique_id")
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ApiError(
                422,
                {"detail": f"Invalid value in 'last_record_unique_id'. '{value}' is not a valid type (dictionary)."},
            ) from None
    if isinstance(value, float | bool) or not isinstance(value, int):
        raise ApiError(
            400, {"detail": f"Invalid value in 'last_record_unique_id'. '{value}' is not a valid type (integer)"}
        )
    return value


def _in_period(s: ReplaySubaward, tp: dict[str, Any]) -> bool:
    kind = tp.get("date_type") or "action_date"
    if kind == "new_awards_only":  # SubawardSearchTimePeriod has no mapping for it: a KeyError, a 500
        raise ApiError(500, HTML_500, "text/html")
    day = {"action_date": s.action_date, "last_modified_date": s.prime_last_modified}.get(kind)  # date_signed: none
    return bool(day) and tp["start_date"] <= str(day)[:10] <= tp["end_date"]


def sub_matches(s: ReplaySubaward, filters: dict[str, Any]) -> bool:
    """Whether a report passes the filters as usaspending-api's subaward queries apply them."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for agency in filters.get("agencies") or []:
        by_type.setdefault(agency["type"], []).append(agency)
    for role, agencies in by_type.items():  # same type ORed, awarding AND funding
        top, sub = (
            (s.awarding_toptier, s.awarding_subtier) if role == "awarding" else (s.funding_toptier, s.funding_subtier)
        )
        if not any(
            (sub if ag["tier"] == "subtier" else top) == ag["name"]
            and (ag["tier"] == "toptier" or "toptier_name" not in ag or top == ag["toptier_name"])
            for ag in agencies
        ):
            return False
    if not all(_in_period(s, tp) for tp in filters.get("time_period") or []):  # periods are ORed; ours hold one
        return False
    if s.prime_type not in filters["award_type_codes"]:
        return False
    unique = filters.get("award_unique_id")
    if unique is not None and str(unique) != s.prime_key:
        return False
    ids = filters.get("award_ids")
    if ids and not any(award_id_pattern(str(v))[1].fullmatch(t) for v in ids for t in (s.prime_piid, s.number)):
        return False
    terms = filters.get("recipient_search_text")
    # _RecipientSearchText at the subaward level: the sub-recipient's name (phrase prefix on a "contains"
    # field) or its UEI/DUNS; a quoted term keeps its quotes and matches nothing.
    if terms and not any(
        str(t).upper() in s.name.upper() or str(t).upper() == (s.uei or "").upper()
        for t in terms
        if not (str(t).startswith('"') and str(t).endswith('"'))
    ):
        return False
    keywords = [str(k) for k in filters.get("keywords") or []]
    if keywords:
        # _SubawardsKeywords: the sub-recipient's name, the PSC, the subaward's description and number
        # (phrase prefix), the prime's PIID, and a 12-character term as the sub-recipient's or its parent's UEI.
        text = " ".join(str(x or "") for x in (s.name, s.description, s.number)).upper()
        hit = bool(keyword_pattern(tuple(keywords)).search(text))
        hit = hit or any(k.upper() == s.prime_piid.upper() for k in keywords)
        hit = hit or any(len(k) == 12 and k.upper() in (s.uei, s.parent_uei) for k in keywords)
        if not hit:
            return False
    description = filters.get("description")
    return not description or bool(keyword_pattern((str(description),)).search((s.description or "").upper()))


def _validate(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The checks of the subaward level, in the view's order; returns the fields and the messages."""
    for key in ("fields", "filters"):
        if key not in body:
            raise ApiError(422, {"detail": f"Missing value: '{key}' is a required field"})
    filters, fields = body["filters"], body["fields"]
    if body.get("page", 1) == 0 or body.get("order", "desc") not in ("asc", "desc"):
        raise ApiError(500, HTML_500, "text/html")  # the pydantic error formatter fails on these
    check_time_periods(filters)
    _cursor_id(body)
    if not isinstance(fields, list) or not fields:
        raise ApiError(422, {"detail": f"Field 'fields' value '{fields}' is below min '1' items"})
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        raise ApiError(422, {"detail": f"Field 'limit' value '{limit}' is outside min '1' and max '100'"})
    for kw in filters.get("keywords") or []:
        if len(str(kw)) < 3:
            raise ApiError(422, {"detail": "Field 'filters|keywords' value is below min '3' characters"})
    for agency in filters.get("agencies") or []:
        extra = set(agency) - {"type", "tier", "name", "toptier_name"}
        if extra:
            raise ApiError(400, {"detail": f"Unexpected field '{extra.pop()}' in parameter filters|agencies"})
    codes = filters.get("award_type_codes")
    if not isinstance(codes, list) or not codes:
        raise ApiError(422, {"detail": "Missing value: 'filters|award_type_codes' is a required field"})
    if not set(codes) <= PROCUREMENT | ASSISTANCE:
        raise ApiError(400, {"detail": "Field 'filters|award_type_codes' is outside valid values"})
    if (set(codes) <= PROCUREMENT) == (set(codes) <= ASSISTANCE):  # api_helper: one of the two groups, XOR
        raise ApiError(
            422,
            {
                "message": "'award_type_codes' must only contain types from one group.",
                "award_type_groups": {"procurement": sorted(PROCUREMENT), "assistance": sorted(ASSISTANCE)},
            },
        )
    sort = body.get("sort") or fields[0]
    if sort not in UNCHECKED_SORTS:
        if sort not in SUBAWARD_MAPPING:
            raise ApiError(
                400, {"detail": f"Sort value '{sort}' not found in Sub-Award mappings: {list(SUBAWARD_MAPPING)}"}
            )
        if sort not in fields:
            raise ApiError(400, {"detail": f"Sort value '{sort}' not found in requested fields: {fields}"})
    if ("last_record_unique_id" in body) != ("last_record_sort_value" in body):
        raise ApiError(500, HTML_500, "text/html")  # search_after needs both: an unhandled exception
    messages = [TIME_PERIOD_MESSAGE]
    unused = sorted(set(filters) - KNOWN_FILTERS)
    if unused:
        messages.append(
            f"The following filters from the request were not used: {set(unused)}. "
            "See https://api.usaspending.gov/docs/endpoints for a list of appropriate filters"
        )
    return fields, messages


def _row(s: ReplaySubaward, fields: list[str]) -> dict[str, Any]:
    """A result row as ``construct_es_response_for_subawards`` builds it (ids null, as recorded live)."""
    row: dict[str, Any] = {"internal_id": None, "prime_award_internal_id": None}
    for f in fields:
        row[f] = s.value(f)
    for obj in ("NAICS", "PSC"):
        if obj in fields:
            row[obj] = {"code": None, "description": None}
    row["prime_award_generated_internal_id"] = s.prime_key
    return row


class SubawardSearches:
    """Mixed into UsaspendingReplay: its subaward reports, the subaward search level and ``/api/v2/subawards/``."""

    @property
    def subawards(self) -> list[ReplaySubaward]:
        return list(self.__dict__.get("_subaward_rows", []))

    def set_subawards(self, subawards: list[ReplaySubaward]) -> None:
        self.__dict__["_subaward_rows"] = list(subawards)
        responses = self.__dict__.get("_responses")
        if responses is not None:
            responses.clear()

    def subaward_totals(self, prime_key: str) -> dict[str, Any]:
        """What the award detail says of the prime's subawards: every report counted and summed."""
        mine = [s for s in self.subawards if s.prime_key == prime_key.upper()]
        total = sum((Decimal(s.amount) for s in mine), Decimal(0))
        return {"subaward_count": len(mine), "total_subaward_amount": total if mine else None}

    @staticmethod
    def subaward_level(body: dict[str, Any]) -> bool:
        """Which level a spending_by_award request asks for (an explicit ``spending_level`` wins)."""
        level = body.get("spending_level")
        if level is None:
            return body.get("subawards") is True
        if level not in ("awards", "subawards"):
            raise ApiError(500, HTML_500, "text/html")
        return level == "subawards"

    def subaward_search(self, body: dict[str, Any]) -> dict[str, Any]:
        fields, messages = _validate(body)
        filters = body["filters"]
        sort, order = body.get("sort") or fields[0], body.get("order", "desc")
        limit, page = body.get("limit", 10), body.get("page", 1)
        hits = [s for s in self.subawards if sub_matches(s, filters)]

        def key(s: ReplaySubaward) -> tuple[Any, ...]:
            value = _sort_value(s, sort)
            return (value is None, value if value is not None else 0, str(s.prime_internal_id))

        hits.sort(key=key, reverse=(order == "desc"))
        hits.sort(key=lambda s: _sort_value(s, sort) is None)  # missing values last, either order
        cursor = _cursor_id(body)
        if cursor is not None:
            raw = str(body["last_record_sort_value"])
            try:  # Elasticsearch parses a date's or a long's search_after value; text it cannot parse fails
                value: Any = int(raw) if sort in ("Sub-Award Date", "Sub-Award Amount") else raw
            except ValueError:
                raise ApiError(500, HTML_500, "text/html") from None
            after = (value, str(cursor))

            def past(s: ReplaySubaward) -> bool:
                mine = (_sort_value(s, sort), str(s.prime_internal_id))
                if mine[0] is None:
                    return True
                return mine < after if order == "desc" else mine > after

            chunk = [s for s in hits if past(s)][: limit + 1]
            has_next = len(chunk) > limit
        else:
            chunk = hits[(page - 1) * limit : page * limit]
            has_next = len(hits) - (page - 1) * limit > limit
        chunk = chunk[:limit]
        last = chunk[-1] if chunk and has_next else None
        return {
            "spending_level": "subawards",
            "limit": limit,
            "results": [_row(s, fields) for s in chunk],
            "page_metadata": {
                "page": page,
                "hasNext": has_next,
                "last_record_unique_id": str(last.prime_internal_id) if last else None,
                "last_record_sort_value": str(_sort_value(last, sort)) if last else "None",
            },
            "messages": messages,
        }

    def subaward_list(self, body: dict[str, Any]) -> dict[str, Any]:
        """``/api/v2/subawards/`` (awards/v2/views/subawards.py)."""
        page, limit = body.get("page", 1), body.get("limit", 10)
        for name, value, top in (("page", page, None), ("limit", limit, 100)):
            if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
                raise ApiError(400, {"detail": f"Invalid value in '{name}'. '{value}' is not a valid type (integer)"})
            if int(value) < 1:
                raise ApiError(422, {"detail": f"Field '{name}' value '{value}' is below min '1'"})
            if top is not None and int(value) > top:
                raise ApiError(422, {"detail": f"Field '{name}' value '{value}' is above max '{top}'"})
        page, limit = int(page), int(limit)
        sort, order = body.get("sort", "subaward_number"), body.get("order", "desc")
        if sort not in LIST_SORTS:
            raise ApiError(400, {"detail": f"Field 'sort' is outside valid values {list(LIST_SORTS)}"})
        if order not in ("asc", "desc"):
            raise ApiError(400, {"detail": "Field 'order' is outside valid values ['asc', 'desc']"})
        award_id = body.get("award_id")
        if award_id is not None and (isinstance(award_id, bool) or not isinstance(award_id, int | str)):
            raise ApiError(
                422, {"detail": f"Invalid value in 'award_id'. '{award_id}' is not a valid type (integer, text)"}
            )
        rows = self.subawards
        if isinstance(award_id, int) or (isinstance(award_id, str) and award_id.isdigit()):
            rows = [s for s in rows if s.prime_internal_id == int(award_id)]
        elif award_id is not None:
            rows = [s for s in rows if s.prime_key == award_id]
        column = LIST_SORTS[sort]
        present = [s for s in rows if getattr(s, column) is not None]
        missing = [s for s in rows if getattr(s, column) is None]
        present.sort(key=lambda s: (getattr(s, column), s.report_id), reverse=(order == "desc"))
        missing.sort(key=lambda s: s.report_id, reverse=(order == "desc"))
        ordered = present + missing if order == "desc" else missing + present  # desc nulls last, asc nulls first
        chunk = ordered[(page - 1) * limit : page * limit + 1]
        results = [
            {
                "id": s.report_id,
                "subaward_number": s.number,
                "description": s.description,
                "action_date": s.action_date,
                "amount": s.amount,
                "recipient_name": s.name,
            }
            for s in chunk[:limit]
        ]
        return {"page_metadata": page_metadata(page, len(chunk) > limit), "results": results}
