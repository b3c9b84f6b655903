"""The fake api.sam.gov's Get Opportunities v2 search: the real API's rules as one pure function.

docs/api/sam.md 1.4-1.7: ``postedFrom``/``postedTo`` are mandatory, ``MM/dd/yyyy``, at most 364
days apart; ``limit`` defaults to 1 and is 0-1000; ``offset`` is a page index; ``deptname``
and ``subtier`` are silently ignored; a page past the end returns one stray record; an
empty search is a 404 "No Data found" (the caller decides, see ``NO_DATA``). Also
holds the small date and number readers the Contract Awards half of the fake shares.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from watcher.fakes.server import ApiError

PTYPES = {
    "u": "Justification",
    "p": "Presolicitation",
    "a": "Award Notice",
    "r": "Sources Sought",
    "s": "Special Notice",
    "o": "Solicitation",
    "k": "Combined Synopsis/Solicitation",
    "g": "Sale of Surplus Property",
    "i": "Intent to Bundle Requirements (DoD-Funded)",
}
#: The answer to a search that finds nothing: HTTP 404 with this body (sam.md 1.7 documents 404 "No Data found";
#: no recorded body exists, so the shape is the ``{"error": {...}}`` one client fixtures use for other errors).
NO_DATA = {"error": {"code": "404", "message": "No Data found"}}
#: A request date, ``MM/dd/yyyy`` zero-padded (both SAM APIs).
DAY = r"\d{2}/\d{2}/\d{4}"


def record_day(value: Any) -> date | None:
    """Date part of SAM's mixed formats (``2025-06-11T07:18:02Z``, ``2025-02-20 00:00:00.000``...)."""
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def mdy(text: str) -> date:
    return datetime.strptime(text, "%m/%d/%Y").date()


def to_int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"-?\d+", text.strip()) else None


def _bad(message: str) -> ApiError:
    """Opportunities' 400 shape."""
    return ApiError(400, {"errorMessage": message})


def search(notices: list[dict[str, Any]], params: dict[str, list[str]]) -> dict[str, Any]:
    """The body of one ``/opportunities/v2/search`` answer; raises ApiError for what the real API refuses."""
    p = {name: values[0] for name, values in params.items()}
    if not p.get("postedFrom") or not p.get("postedTo"):
        raise _bad("PostedFrom and PostedTo are mandatory")
    try:
        if not (re.fullmatch(DAY, p["postedFrom"]) and re.fullmatch(DAY, p["postedTo"])):
            raise ValueError
        start, end = mdy(p["postedFrom"]), mdy(p["postedTo"])
    except ValueError:
        raise _bad("Invalid Date Entered. Expected date format is MM/dd/yyyy") from None
    if end < start:
        raise _bad("PostedFrom date must not be after PostedTo date")
    if (end - start).days > 364:
        raise _bad("Date range must be no more than 1 year apart")
    limit = to_int(p.get("limit", "1"))
    if limit is None or not 0 <= limit <= 1000:
        raise _bad("Limit valid range is 0-1000. Please provide valid input.")
    offset = to_int(p.get("offset", "0"))
    if offset is None or offset < 0:
        raise _bad("limit/offset must be a positive number.")
    codes = {c.strip().lower() for v in params.get("ptype", []) for c in v.split(",") if c.strip()}
    types = {PTYPES.get(c) for c in codes}
    hits = []
    for n in notices:
        posted = record_day(n.get("postedDate"))
        if posted is None or not start <= posted <= end:
            continue
        if codes and n.get("type") not in types:
            continue
        if "noticeid" in p and n.get("noticeId") != p["noticeid"]:
            continue
        if "solnum" in p and str(n.get("solicitationNumber") or "").strip() != p["solnum"].strip():
            continue
        if "title" in p and p["title"].lower() not in str(n.get("title") or "").lower():
            continue
        hits.append(n)  # deptname and subtier are deliberately ignored, as the live API does
    if limit == 0:
        page: list[dict[str, Any]] = []
    elif hits and offset >= math.ceil(len(hits) / limit):
        page = hits[:1]  # the live API's stray record past the last page
    else:
        page = hits[offset * limit : (offset + 1) * limit]
    query = urlencode(
        {"limit": limit, "offset": offset, "postedFrom": p["postedFrom"], "postedTo": p["postedTo"]}, safe="/"
    )
    return {
        "totalRecords": len(hits),
        "limit": limit,
        "offset": offset,
        "opportunitiesData": page,
        "links": [{"rel": "self", "href": f"https://api.sam.gov/prod/opportunities/v2/search?{query}"}],
    }
