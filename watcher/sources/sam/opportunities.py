"""SAM.gov Get Opportunities v2: the one notices query, its pages, and which watch a notice belongs to.

Rules from docs/api/sam.md 1.4-1.8: ``postedFrom`` and ``postedTo`` are mandatory, ``MM/dd/yyyy``, at
most 364 days apart; ``limit`` defaults to 1 (always sent); ``offset`` is a page index;
a page past the end returns one stray record, so walks stop by page count. There is no
server-side agency or awardee filter that works (``deptname``/``subtier`` are ignored), so
one query serves every watch and the agency is checked here, on ``fullParentPathCode`` /
``fullParentPathName``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from watcher.config import Agency, Watch
from watcher.sources.sam.awards import Query, sam_date
from watcher.sources.sam.parse import path_codes

SEARCH_PATH = "/opportunities/v2/search"
SOURCE = "sam_opportunities"
#: Department (CGAC) codes as they start fullParentPathCode, for FPDS department codes.
_SQUASH = re.compile(r"[^A-Z0-9]+")


def plan(watches: list[Watch], notice_types: list[str]) -> list[Query]:
    """One query for all watches (the agency filter runs here, not at SAM.gov)."""
    if not watches:
        return []
    ptype = ",".join(dict.fromkeys(notice_types))
    params = (("ptype", ptype),)
    return [
        Query(
            SOURCE, f"{SOURCE}?ptype={ptype}", f"notices ({ptype})", tuple(w.name for w in watches), params, "notices"
        )
    ]


def page_params(query: Query, start: date, end: date, page: int, limit: int) -> dict[str, str]:
    params = dict(query.params)
    params |= {"postedFrom": sam_date(start), "postedTo": sam_date(end), "limit": str(limit), "offset": str(page)}
    return params


def _squash(text: str | None) -> str:
    return _SQUASH.sub("", (text or "").upper())


def _words(text: str | None) -> set[str]:
    return {w for w in re.split(r"[^A-Z0-9]+", (text or "").upper()) if w and w not in ("OF", "THE", "AND", "U", "S")}


def agency_of(notice: dict[str, Any], agencies: tuple[Agency, ...]) -> Agency | None:
    """The watched agency that posted the notice, by path code (070.7012.…) or, failing that, by name."""
    codes = path_codes(notice.get("agency_code"))
    segments = [s for s in (notice.get("agency_path") or "").split(".") if s]
    for agency in agencies:
        if agency.tier == "subtier" and agency.code and len(codes) > 1 and codes[1] == agency.code:
            return agency
        if agency.tier == "toptier" and agency.code and codes and codes[0] == agency.code:
            return agency
    for agency in agencies:
        if agency.tier == "subtier" and len(segments) > 1 and _squash(segments[1]) == _squash(agency.name):
            return agency
        if agency.tier == "toptier" and segments and _words(agency.name) == _words(segments[0]):
            return agency
    return None
