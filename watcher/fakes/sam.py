"""A local stand-in for api.sam.gov that replays given Contract Awards and Opportunities records with the real rules.

It serves Contract Awards v1 (``/contract-awards/v1/search``) and Get Opportunities v2
(``/opportunities/v2/search``, ``/prod/opportunities/v2/search``) on 127.0.0.1 and enforces
what docs/api/sam.md documents: ``api_key`` required (403 JSON when missing, 403 HTML
for an unknown or expired key); a daily quota per key and UTC day shared by both APIs
(429 WSO2 body with ``nextAccessTime``); Contract Awards rejects unknown parameters,
forbidden characters, non ``MM/DD/YYYY`` dates and ``offset*limit`` past 400,000, honours
``~`` lists only on UEI/NAICS/PSC, pages by page index, returns string counts, 204 when
nothing matches and a bare JSON string on HTTP 200 for ``limit > 100``; Opportunities
requires ``postedFrom``/``postedTo`` (``MM/dd/yyyy``, at most 364 days apart), defaults
``limit`` to 1, silently ignores ``deptname``/``subtier`` and returns one stray record
for a page past the end (fakes/sam_opportunities.py), and answers a search that finds
nothing with 404 "No Data found" (``empty_404=False``: a 200 with ``totalRecords: 0``).
Switches turn on the rarer quirks seen live: ``null_totals`` (``"totalRecords": null``),
``shuffle_seed`` (Contract Awards results in an order that changes from one day to the next),
``echo_key`` (the request URL, key included, in ``links[].href`` of the answer and of each record).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from watcher.fakes import sam_opportunities as opportunities
from watcher.fakes import server as localserver
from watcher.fakes.sam_opportunities import DAY, mdy, record_day, to_int
from watcher.fakes.server import ApiError, Fault, Stream

AWARDS_PATH = "/contract-awards/v1/search"
OPPS_PATHS = ("/opportunities/v2/search", "/prod/opportunities/v2/search")
#: English month abbreviations, fixed so the 429 text never depends on the process locale.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HTML_404 = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
HTML_403 = b"<html><head><title>403 Forbidden</title></head><body><h1>API_KEY_INVALID</h1></body></html>"
KEY_MISSING = {
    "error": {"code": "API_KEY_MISSING", "message": "No api_key was supplied. Please submit with a valid API key."}
}

#: Contract Awards filters that compare one field exactly: parameter -> path in an awardSummary item.
_CONTRACTING = ("coreData", "federalOrganization", "contractingInformation")
_FUNDING = ("coreData", "federalOrganization", "fundingInformation")
_UEI = ("awardDetails", "awardeeData", "awardeeUEIInformation")
EXACT_FILTERS: dict[str, tuple[str, ...]] = {
    "contractingDepartmentCode": (*_CONTRACTING, "contractingDepartment", "code"),
    "contractingSubtierCode": (*_CONTRACTING, "contractingSubtier", "code"),
    "contractingOfficeCode": (*_CONTRACTING, "contractingOffice", "code"),
    "fundingDepartmentCode": (*_FUNDING, "fundingDepartment", "code"),
    "fundingSubtierCode": (*_FUNDING, "fundingSubtier", "code"),
    "piidSubtierCode": ("contractId", "subtier", "code"),
    "piid": ("contractId", "piid"),
    "modificationNumber": ("contractId", "modificationNumber"),
    "transactionNumber": ("contractId", "transactionNumber"),
    "referencedIdvPiid": ("contractId", "referencedIDVPiid"),
    "awardeeUniqueEntityId": (*_UEI, "uniqueEntityId"),
    "ultimateParentUniqueEntityId": (*_UEI, "awardeeUltimateParentUniqueEntityId"),
    "fiscalYear": ("awardDetails", "dates", "fiscalYear"),
    "productOrServiceCode": ("coreData", "productOrServiceInformation", "productOrService", "code"),
}
#: The only parameters where ``~`` means OR; elsewhere SAM's behaviour is undocumented, so it stays literal.
OR_LISTS = {"awardeeUniqueEntityId", "ultimateParentUniqueEntityId", "naicsCode", "productOrServiceCode"}
DATE_FILTERS = {
    "lastModifiedDate": ("awardDetails", "transactionData", "lastModifiedDate"),
    "dateSigned": ("awardDetails", "dates", "dateSigned"),
}
AWARD_PARAMS = {"api_key", "limit", "offset", "deletedStatus", "includeSections", "q", "awardeeLegalBusinessName"}
AWARD_PARAMS |= {"awardOrIDV", "naicsCode", *EXACT_FILTERS, *DATE_FILTERS}
SECTIONS = ("contractId", "coreData", "awardDetails", "awardeeData", "nasaSpecific")
FORBIDDEN = set("&|{}^\\")
_AWARD_DATE = re.compile(rf"(?P<one>{DAY})|\[(?P<lo>{DAY})?,(?P<hi>{DAY})?\]")
#: A date range from a Contract Awards date parameter; ``None`` is an open end.
Bounds = tuple[date | None, date | None]
DATE_MESSAGE = "Dates must be specified in the MM/DD/YYYY or [MM/DD/YYYY,MM/DD/YYYY] format."


def next_access_text(day: date) -> str:
    """SAM's ``nextAccessTime`` once ``day``'s quota is spent: next 00:00 UTC as ``2026-May-23 00:00:00+0000 UTC``."""
    nxt = day + timedelta(days=1)
    return f"{nxt.year:04d}-{MONTHS[nxt.month - 1]}-{nxt.day:02d} 00:00:00+0000 UTC"


DOC_LINK = "See https://open.gsa.gov/api/contract-awards/ for the parameters and their formats."


@dataclass
class DeletedAction:
    """A contract action SAM deleted: ``deletedStatus=yes`` lists it, ``lastModifiedDate`` filters on ``deleted_on``."""

    deleted_on: date
    record: dict[str, Any]


@dataclass(frozen=True)
class SamRequest:
    """One request as received, minus ``api_key`` (the key must never reach logs or test output)."""

    day: date
    path: str
    params: dict[str, list[str]] = field(hash=False)
    status: int


def _bad(message: str, detail: str = DOC_LINK) -> ApiError:
    """Contract Awards' 400 shape."""
    return ApiError(400, {"message": message, "detail": detail})


def _utc_today() -> date:
    return datetime.now(UTC).date()


def _get(record: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(record, dict) or part not in record:
            return None
        record = record[part]
    return record


def _strings(obj: Any) -> Iterator[str]:
    """Every string value anywhere in a JSON document (what ``q`` searches)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict | list):
        for v in obj.values() if isinstance(obj, dict) else obj:
            yield from _strings(v)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _echo(body: bytes, url: str) -> bytes:
    """The answer with ``links: [{"rel": "self", "href": url}]`` on it and on each of its records."""
    data = json.loads(body)
    if not isinstance(data, dict):
        return body
    link = [{"rel": "self", "href": url, "hreflang": None}]
    data["links"] = link
    for key in ("awardSummary", "opportunitiesData"):
        for record in data.get(key) or []:
            if isinstance(record, dict):
                record["links"] = link
    return _dumps(data)


class SamReplay(localserver.Served):
    """The fake api.sam.gov. ``start()`` returns its base URL; ``set_data()`` swaps the records between polls."""

    def __init__(
        self,
        actions: list[dict[str, Any]] | None = None,
        notices: list[dict[str, Any]] | None = None,
        deleted: list[DeletedAction] | None = None,
        *,
        keys: Iterable[str] = ("TESTKEY",),
        expired_keys: Iterable[str] = (),
        daily_quota: int = 10,
        today: Callable[[], date] | None = None,
        null_totals: bool = False,
        empty_404: bool = True,
        shuffle_seed: int | None = None,
        echo_key: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._actions: list[dict[str, Any]] = []
        self._notices: list[dict[str, Any]] = []
        self._deleted: list[DeletedAction] = []
        self.keys = set(keys)
        self.expired_keys = set(expired_keys)
        self.daily_quota = daily_quota
        self.today: Callable[[], date] = today or _utc_today
        self.faults: list[Fault] = []
        #: Answer ``"totalRecords": null`` on both APIs, as SAM.gov has been seen to (docs/api/sam.md 2.6).
        self.null_totals = null_totals
        #: Opportunities answers a search that finds nothing with 404 "No Data found", as documented (sam.md 1.7);
        #: False: with a 200 and ``totalRecords: 0``, the other form seen.
        self.empty_404 = empty_404
        #: Serve Contract Awards results in an order that is fixed for a UTC day and shuffled anew the next
        #: (seeded): SAM.gov promises no order, so a walk resumed another day may meet its pages reshuffled.
        self.shuffle_seed = shuffle_seed
        #: Echo the request URL with its ``api_key`` in ``links[].href`` (Opportunities' ``links`` give the request's
        #: URL, docs/api/sam.md 1.6; nothing promises the key is left out): a stored answer then holds the key.
        self.echo_key = echo_key
        self.requests: list[SamRequest] = []
        self._used: dict[tuple[date, str], int] = {}
        self._fault_counts: dict[str, int] = {}
        self.set_data(actions or [], notices or [], deleted or [])

    def set_data(
        self,
        actions: list[dict[str, Any]] | None = None,
        notices: list[dict[str, Any]] | None = None,
        deleted: list[DeletedAction] | None = None,
    ) -> None:
        """Replace whichever record lists are given; ``None`` keeps the current one."""
        with self._lock:
            if actions is not None:
                self._actions = list(actions)
            if notices is not None:
                self._notices = list(notices)
            if deleted is not None:
                self._deleted = list(deleted)

    def used(self, day: date, key: str | None = None) -> int:
        """Requests counted against the quota on ``day`` (UTC), for ``key`` or for all keys."""
        with self._lock:
            return sum(n for (d, k), n in self._used.items() if d == day and (key is None or k == key))

    # ------------------------------------------------------------ server
    def answer(self, method: str, target: str, body: bytes) -> tuple[int, bytes | Stream, str]:
        return self.handle(method, target)

    # ------------------------------------------------------------ dispatch
    def handle(self, method: str, target: str) -> tuple[int, bytes | Stream, str]:
        """Answer one request: (status, body, content type). Serialised, so the log and quota stay in order."""
        path, _, query = target.partition("?")
        params = parse_qs(query, keep_blank_values=True)
        with self._lock:
            day = self.today()
            try:
                status, body, ctype = self._dispatch(method, path, params, day)
                if self.echo_key and status == 200 and isinstance(body, bytes):
                    body = _echo(body, f"https://api.sam.gov{target}")
            except ApiError as err:
                raw = err.body if isinstance(err.body, bytes) else _dumps(err.body)
                status, body, ctype = err.status, raw, err.content_type
            logged = {k: list(v) for k, v in params.items() if k != "api_key"}
            self.requests.append(SamRequest(day, path, logged, status))
        return status, body, ctype

    def _dispatch(
        self, method: str, path: str, params: dict[str, list[str]], day: date
    ) -> tuple[int, bytes | Stream, str]:
        if path != AWARDS_PATH and path not in OPPS_PATHS:
            raise ApiError(404, HTML_404, "text/html")
        if method != "GET":
            raise ApiError(405, {"message": f"Method {method} not allowed"})
        key = (params.get("api_key") or [""])[0]
        if not key:
            raise ApiError(403, KEY_MISSING)
        if key not in self.keys or key in self.expired_keys:
            raise ApiError(403, HTML_403, "text/html")
        count = self._used.get((day, key), 0)
        if count >= self.daily_quota:
            when = next_access_text(day)
            raise ApiError(
                429,
                {
                    "code": "900804",
                    "message": "Message throttled out",
                    "description": f"You have exceeded your quota. You can access API after {when}",
                    "nextAccessTime": when,
                },
            )
        self._used[(day, key)] = count + 1
        for prefix in {f.path for f in self.faults if path.startswith(f.path)}:
            self._fault_counts[prefix] = self._fault_counts.get(prefix, 0) + 1
        for fault in self.faults:
            if path.startswith(fault.path) and self._fault_counts[fault.path] >= fault.nth and fault.times > 0:
                fault.times -= 1
                if fault.sleep:
                    time.sleep(fault.sleep)
                return fault.status, fault.body, fault.content_type
        if path == AWARDS_PATH:
            return self._awards(params, day)
        body = opportunities.search(self._notices, params)
        if self.empty_404 and body["totalRecords"] == 0:
            raise ApiError(404, opportunities.NO_DATA)
        if self.null_totals:
            body["totalRecords"] = None
        return 200, _dumps(body), "application/json"

    # ------------------------------------------------------------ Contract Awards v1
    def _awards(self, params: dict[str, list[str]], day: date) -> tuple[int, bytes, str]:
        for name in params:
            if name not in AWARD_PARAMS:
                raise _bad(f"The search parameter, {name} does not exist.")
        for name, values in params.items():
            if name != "api_key" and any(FORBIDDEN & set(v) for v in values):
                raise _bad("Invalid characters in the search parameters", "Values may not contain & | { } ^ \\")
        p = {name: values[0] for name, values in params.items()}
        for name in OR_LISTS & p.keys():
            if len(p[name].split("~")) > 100:
                raise _bad(f"A maximum of 100 values is allowed for {name}.")
        ranges = {name: self._date_range(p[name]) for name in DATE_FILTERS if name in p}
        limit = to_int(p.get("limit", "10"))
        if limit is not None and limit > 100:
            return 200, _dumps('Max value allowed for parameter "limit" is 100'), "application/json"
        offset = to_int(p.get("offset", "0"))
        if limit is None or limit < 1 or offset is None or offset < 0:
            raise _bad("limit/offset must be a positive number.")
        if offset * limit == 400_000:
            raise ApiError(500, {"message": "Internal Server Error"})
        if offset * limit > 400_000:
            raise _bad("You may only page through the first 400,000 records.", "Narrow the search or use extract mode.")
        status = p.get("deletedStatus", "no").lower()
        if status not in ("yes", "no"):
            raise _bad(f"Invalid value for deletedStatus: {p['deletedStatus']}")
        sections = None
        if "includeSections" in p:
            sections = [s.strip() for s in p["includeSections"].split(",")]
            for s in sections:
                if s not in SECTIONS:
                    raise _bad(f"Invalid section in includeSections: {s}", f"Allowed: {', '.join(SECTIONS)}")
        if status == "yes":  # deletions: lastModifiedDate means the day of deletion
            modified = ranges.pop("lastModifiedDate", None)
            hits = [
                d.record
                for d in self._deleted
                if self._in_range(d.deleted_on, modified) and self._award_matches(d.record, p, ranges, True)
            ]
        else:
            hits = [r for r in self._actions if self._award_matches(r, p, ranges, False)]
        if not hits:
            return 204, b"", "application/json"
        if self.shuffle_seed is not None:
            random.Random(f"{self.shuffle_seed}:{day.isoformat()}").shuffle(hits)
        page = hits[offset * limit : (offset + 1) * limit]
        if sections is not None:
            page = [self._project(r, sections) for r in page]
        total = None if self.null_totals else str(len(hits))
        body = {"awardSummary": page, "totalRecords": total, "limit": str(limit), "offset": str(offset)}
        return 200, _dumps(body), "application/json"

    @staticmethod
    def _date_range(text: str) -> Bounds:
        m = _AWARD_DATE.fullmatch(text)
        try:
            if m is None:
                raise ValueError(text)
            if m["one"]:
                one = mdy(m["one"])
                return one, one
            return (mdy(m["lo"]) if m["lo"] else None), (mdy(m["hi"]) if m["hi"] else None)
        except ValueError:
            raise _bad(DATE_MESSAGE, f"Invalid date: {text}") from None

    @staticmethod
    def _in_range(day: date | None, bounds: Bounds | None) -> bool:
        if bounds is None:
            return True
        lo, hi = bounds
        return day is not None and (lo is None or lo <= day) and (hi is None or day <= hi)

    def _award_matches(
        self, record: dict[str, Any], p: dict[str, str], ranges: dict[str, Bounds], lenient: bool
    ) -> bool:
        """AND of every filter given. ``lenient`` (deleted records, mostly bare ``contractId``) skips absent fields."""

        def check(value: Any, ok: Callable[[Any], bool]) -> bool:
            return (lenient and value is None) or (value is not None and ok(value))

        def within(bounds: Any) -> Callable[[Any], bool]:
            return lambda v: self._in_range(record_day(v), bounds)

        def one_of(wanted: set[str]) -> Callable[[Any], bool]:
            return lambda v: str(v) in wanted

        for name, bounds in ranges.items():
            if not check(_get(record, DATE_FILTERS[name]), within(bounds)):
                return False
        for name, path in EXACT_FILTERS.items():
            if name in p:
                wanted = set(p[name].split("~")) if name in OR_LISTS else {p[name]}
                if not check(_get(record, path), one_of(wanted)):
                    return False
        if "naicsCode" in p:
            naics = _get(record, ("coreData", "productOrServiceInformation", "principalNaics"))
            codes = set(p["naicsCode"].split("~"))
            if not check(naics, lambda v: any(isinstance(n, dict) and str(n.get("code")) in codes for n in v)):
                return False
        if "awardeeLegalBusinessName" in p:
            name = _get(record, ("awardDetails", "awardeeData", "awardeeHeader", "legalBusinessName"))
            if not check(name, lambda v: p["awardeeLegalBusinessName"].lower() in str(v).lower()):
                return False
        if "awardOrIDV" in p and not check(
            _get(record, ("coreData", "awardOrIDV")), lambda v: str(v).lower() == p["awardOrIDV"].lower()
        ):
            return False
        if p.get("q", "").strip():
            words = p["q"].split()
            pattern = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)", re.IGNORECASE)
            if not any(pattern.search(s) for s in _strings(record)):
                return False
        return True

    @staticmethod
    def _project(record: dict[str, Any], sections: list[str]) -> dict[str, Any]:
        """Keep only the requested sections; ``awardeeData`` alone comes back nested in ``awardDetails``."""
        out = {s: record[s] for s in SECTIONS if s in sections and s in record and s != "awardeeData"}
        awardee = _get(record, ("awardDetails", "awardeeData"))
        if "awardeeData" in sections and "awardDetails" not in out and awardee is not None:
            out["awardDetails"] = {"awardeeData": awardee}
        return out
