"""The replay's ``POST /api/v2/idvs/awards/``: the orders (or IDVs) placed under one IDV, as the real view lists them.

Rules from usaspending-api ``idvs/v2/views/awards.py`` (read at 13a1ee0f; docs/api/usaspending.md 4.3):

- the body is checked by TinyShield, rule by rule in this order: ``page`` (integer, at least 1),
  ``limit`` (integer, 1 to 100), ``sort`` (one of nine columns, default
  ``period_of_performance_start_date``), ``order`` (``asc`` | ``desc``, default ``desc``),
  ``award_id`` (required: an integer internal id, or any text, taken as a generated id after
  trimming spaces), ``type`` (``child_idvs`` default, ``child_awards``, ``grandchild_awards``);
  a missing ``award_id``, a number out of range or an ``award_id`` of another type is a 422,
  a value outside an enum or a non-number where a number goes is a 400; other keys are ignored;
- ``child_awards`` are the contracts whose parent is the IDV (the same PIID and agency that
  their generated id names), ``child_idvs`` the IDVs under it, ``grandchild_awards`` the
  contracts under those; the generated id is compared exactly (case matters), and an id
  naming nothing is a 200 with no rows;
- rows are sorted by the column, then by the internal id in the same direction, NULLs first
  when descending and last when ascending (PostgreSQL's order); page mode with ``limit + 1``
  rows read to set ``hasNext``;
- a row is the award's internal id, type in words, description, funding and awarding
  *toptier* agency names and ids, generated id, last date to order, total obligation
  (``obligated_amount``), current end and start dates, PIID, and the two agency slugs.

The replay has no IDV rows of its own (the recordings are contract actions), so an IDV exists
here when an order names it in its generated id, as in the real database every order's IDV does.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from watcher.fakes.server import ApiError
from watcher.fakes.usaspending_awards import ReplayAward
from watcher.fakes.usaspending_bulk import page_metadata
from watcher.sources.usaspending.parse import parse_award_key

SORTABLE = (
    "award_type",
    "description",
    "funding_agency",
    "awarding_agency",
    "last_date_to_order",
    "obligated_amount",
    "period_of_performance_current_end_date",
    "period_of_performance_start_date",
    "piid",
)
TYPES = ("child_idvs", "child_awards", "grandchild_awards")
INVALID_TYPE = "Invalid value in '{key}'. '{value}' is not a valid type ({type})"
#: TinyShield's "search" text rule removes these before comparing.
_SEARCH_REMAP = {ord(c): None for c in "\t\v\b\f\r\n"}


def _integer(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    """TinyShield's integer rule: an int or a string of digits; below ``low`` or above ``high`` is a 422."""
    value = body.get(key, default)
    if value == {}:  # TinyShield reads an empty object as "not given"
        value = default
    number: int | None = None
    if type(value) in (int, str):
        try:
            number = int(value)
        except ValueError:
            number = None
    if number is None:
        raise ApiError(400, {"detail": INVALID_TYPE.format(key=key, value=value, type="integer")})
    if number > high:
        raise ApiError(422, {"detail": f"Field '{key}' value '{number}' is above max '{high}'"})
    if number < low:
        raise ApiError(422, {"detail": f"Field '{key}' value '{number}' is below min '{low}'"})
    return number


def _enum(body: dict[str, Any], key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = body.get(key, default)
    if value == {}:
        value = default
    if value not in allowed:
        raise ApiError(400, {"detail": f"Field '{key}' is outside valid values {list(allowed)}"})
    return str(value)


def _award_id(value: Any) -> int | str:
    """The ``any`` rule over [integer, text]: the first that accepts the value wins, else a 422."""
    if type(value) in (int, str):
        try:
            return int(value)
        except ValueError:
            pass
    if isinstance(value, str) and 1 <= len(value) <= 5000:  # lengths checked before trimming, as TinyShield does
        return value.translate(_SEARCH_REMAP).strip()
    raise ApiError(422, {"detail": INVALID_TYPE.format(key="award_id", value=value, type="integer, text")})


class IdvAwards:
    """Mixin of the USAspending replay: the ``/api/v2/idvs/awards/`` view over its awards."""

    _awards: dict[str, ReplayAward]

    def idv_awards(self, body: dict[str, Any]) -> dict[str, Any]:
        if "award_id" not in body or body["award_id"] == {}:
            raise ApiError(422, {"detail": "Missing value: 'award_id' is a required field"})
        page = _integer(body, "page", 1, 1, 2**63 - 1)
        limit = _integer(body, "limit", 10, 1, 100)
        sort = _enum(body, "sort", "period_of_performance_start_date", SORTABLE)
        order = _enum(body, "order", "desc", ("asc", "desc"))
        award_id = _award_id(body["award_id"])
        kind = _enum(body, "type", "child_idvs", TYPES)
        rows = [self._idv_row(a) for a in self._related(award_id, kind)]
        present = [r for r in rows if r[sort] is not None]
        present.sort(key=lambda r: (_sort_value(r[sort]), r["award_id"]), reverse=order == "desc")
        absent = sorted((r for r in rows if r[sort] is None), key=lambda r: r["award_id"], reverse=order == "desc")
        ordered = absent + present if order == "desc" else present + absent
        chunk = ordered[(page - 1) * limit : page * limit + 1]
        return {"results": chunk[:limit], "page_metadata": page_metadata(page, len(chunk) > limit)}

    def _idv_of(self, award_id: int | str) -> tuple[str, str] | None:
        """(PIID, agency code) of the IDV an ``award_id`` names, if the replay knows it."""
        if isinstance(award_id, int):
            for a in self._awards.values():
                if a.group == "idvs" and int(a.row["internal_id"]) == award_id:
                    return _idv_parts(a.key)
            return None
        return _idv_parts(award_id)

    def _related(self, award_id: int | str, kind: str) -> list[ReplayAward]:
        idv = self._idv_of(award_id)
        if idv is None:
            return []
        if kind == "child_awards":
            return self._orders_under({idv})
        children = [a for a in self._awards.values() if a.group == "idvs" and _parent_of(a) == idv]
        if kind == "child_idvs":
            return children
        return self._orders_under({p for a in children if (p := _idv_parts(a.key))})

    def _orders_under(self, idvs: set[tuple[str, str]]) -> list[ReplayAward]:
        out = []
        for a in self._awards.values():
            parts = parse_award_key(a.key)
            if a.group == "contracts" and (parts["parent_piid"], parts["parent_agency"]) in idvs:
                out.append(a)
        return out

    @staticmethod
    def _idv_row(a: ReplayAward) -> dict[str, Any]:
        row = a.row
        funding, awarding = row.get("Funding Agency"), row.get("Awarding Agency")
        return {
            "award_id": int(row["internal_id"]),
            "award_type": row.get("Contract Award Type"),
            "description": row.get("Description"),
            "funding_agency": funding,
            "awarding_agency": awarding,
            # agency-table ids (not the toptier ids of spending_by_award): synthesized, stable per name
            "funding_agency_id": _agency_id(funding),
            "awarding_agency_id": _agency_id(awarding),
            "generated_unique_award_id": a.key,
            "last_date_to_order": row.get("Last Date to Order"),
            "obligated_amount": row.get("Award Amount") if row.get("Award Amount") is not None else Decimal(0),
            "period_of_performance_current_end_date": row.get("End Date"),
            "period_of_performance_start_date": row.get("Start Date"),
            "piid": row.get("Award ID"),
            "funding_agency_slug": _slug(funding),
            "awarding_agency_slug": _slug(awarding),
        }


def _idv_parts(key: str) -> tuple[str, str] | None:
    if not key.startswith("CONT_IDV_"):
        return None
    piid, _, agency = key[len("CONT_IDV_") :].rpartition("_")
    return (piid, agency) if piid and agency else None


def _parent_of(a: ReplayAward) -> tuple[str, str] | None:
    """An IDV's own parent, from its detail's ``parent_award`` (the replay's IDVs rarely have one)."""
    parent = a.detail.get("parent_award") or {}
    piid, agency = parent.get("piid"), parent.get("agency_id") or parent.get("agency")
    return (str(piid), str(agency)) if piid and agency else None


def _sort_value(value: Any) -> Any:
    return Decimal(str(value)) if isinstance(value, int | float | Decimal) else str(value)


def _agency_id(name: Any) -> int | None:
    return None if not name else 1000 + sum(map(ord, str(name))) % 9000


def _slug(name: Any) -> str | None:
    return re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-") if name else None
