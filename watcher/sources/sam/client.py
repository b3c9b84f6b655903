"""SAM.gov requests under a daily budget: every request is counted in the database before it is sent.

Keys without a role get 10 requests a day (docs/api/sam.md 1.3), so a request is a resource: it
is recorded in ``sam_requests`` (committed) before it goes out, which keeps the count
right across crashes, restarts and processes. A 429 blocks SAM until its
``nextAccessTime``; 401/403 means the key is invalid or expired. The key travels in the
URL (the API accepts it nowhere else), so it is added at the last moment and removed
from every message and from every answer (which may echo it) before it is read or stored.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlite_utils import Database

from watcher.errors import BudgetSpent, RetryableSourceError, SamKeyError, SamQuotaError, SourceError
from watcher.http import MB, ApiClient, Cap, api_url, error_detail, parse_json, redact, redact_bytes
from watcher.sources.sam.parse import no_data_found
from watcher.values import iso_utc, parse_utc

log = logging.getLogger(__name__)

DEFAULT_SAM_URL = "https://api.sam.gov"
KEY_ENV = "SAM_API_KEY"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: Attempts per logical request: a retry costs budget too, so one retry only, on 5xx or a timeout.
ATTEMPTS = 2


def sam_key() -> str | None:
    key = (os.environ.get(KEY_ENV) or "").strip()
    return key or None


def parse_next_access(value: Any) -> str | None:
    """``2026-May-23 00:00:00+0000 UTC`` -> ``2026-05-23T00:00:00Z`` (month names parsed without the locale)."""
    m = re.match(r"\s*(\d{4})-([A-Za-z]{3})-(\d{1,2})[ T](\d{2}):(\d{2}):(\d{2})", str(value or ""))
    if not m or m.group(2).title() not in _MONTHS:
        return None
    year, mon, dd, hh, mi, ss = m.groups()
    moment = datetime(int(year), _MONTHS.index(mon.title()) + 1, int(dd), int(hh), int(mi), int(ss), tzinfo=UTC)
    return iso_utc(moment)


def next_midnight(now: str) -> str:
    """The next 00:00 UTC after ``now``, when SAM.gov's quota window resets."""
    from datetime import timedelta

    moment = parse_utc(now) + timedelta(days=1)
    return moment.strftime("%Y-%m-%dT00:00:00Z")


class Budget:
    """The day's SAM.gov request budget, kept in ``sam_requests`` (UTC days, like SAM's own quota)."""

    def __init__(self, db: Database, daily: int) -> None:
        self.db, self.daily = db, daily

    def used(self, now: str) -> int:
        (n,) = self.db.execute("SELECT count(*) FROM sam_requests WHERE day = ?", [now[:10]]).fetchone()
        return int(n)

    def left(self, now: str) -> int:
        return max(0, self.daily - self.used(now))

    def blocked_until(self, now: str) -> str | None:
        """The nextAccessTime of a 429 that is still in the future, if any."""
        row = self.db.execute("SELECT max(next_access_at) FROM sam_requests WHERE next_access_at > ?", [now]).fetchone()
        return row[0] if row and row[0] else None

    def reserve(self, now: str, source: str, watch: str, query: str, page: int) -> int:
        """Count a request before it is sent (committed at once: a crash after sending still counts it)."""
        if self.db.conn.in_transaction:
            raise RuntimeError("SAM requests must be counted outside a write transaction")
        cur = self.db.execute(
            "INSERT INTO sam_requests (sent_at, day, source, watch, query, page) VALUES (?, ?, ?, ?, ?, ?)",
            [now, now[:10], source, watch, query, page],
        )
        return int(cur.lastrowid or 0)

    def settle(
        self, request_id: int, status: int | None, error: str | None = None, next_access: str | None = None
    ) -> None:
        self.db.execute(
            "UPDATE sam_requests SET status = ?, error = ?, next_access_at = ? WHERE id = ?",
            [status, redact(error)[:500] if error else None, next_access, request_id],
        )


class SamClient:
    """GET requests to api.sam.gov with the key added, counted against the budget, errors classified."""

    def __init__(
        self,
        config: Any,
        db: Database,
        *,
        key: str | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Any = None,
    ) -> None:
        s = config.settings.sam
        url = api_url("WATCHER_SAM_URL", DEFAULT_SAM_URL, "the API key travels in the URL")
        self.key = key if key is not None else sam_key()
        where = "settings.sam.max_response_mb"
        self.http = ApiClient(
            url,
            timeout=s.timeout_seconds,
            attempts=ATTEMPTS,
            min_interval=s.min_interval_seconds,
            transport=transport,
            deadline=s.deadline_seconds,
            caps=[Cap("^/contract-awards/", int(s.max_response_mb.contract_awards * MB), f"{where}.contract_awards")],
            default_cap=Cap("", int(s.max_response_mb.opportunities * MB), f"{where}.opportunities"),
            settings="settings.sam",
        )
        self.budget = Budget(db, s.daily_budget)
        self.clock = clock or (lambda: datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SamClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requests(self) -> int:
        return self.http.requests

    def get(
        self,
        path: str,
        params: dict[str, Any],
        *,
        source: str,
        watch: str,
        query: str,
        page: int,
        no_data_404: bool = False,
    ) -> tuple[Any, bytes]:
        """The parsed JSON of one request and its bytes (None and b"" for 204 No Content).

        ``no_data_404``: a 404 whose body says "No Data found" is an empty answer (None and
        its bytes), as Get Opportunities v2 answers an empty search (docs/api/sam.md 1.7).

        Raises BudgetSpent before sending when the day's budget is used, SamQuotaError on
        429 (and while an earlier 429 still holds), SamKeyError on 401/403, SourceError on
        other failures. One retry on 5xx or a timeout, if the budget allows.
        """
        if not self.key:
            raise SamKeyError(f"{KEY_ENV} is not set")
        what = f"SAM.gov {path} ({query}, page {page + 1})"
        for attempt in range(1, ATTEMPTS + 1):
            now = self.clock()
            blocked = self.budget.blocked_until(now)
            if blocked:
                raise SamQuotaError(f"SAM.gov's daily quota is spent until {blocked}", blocked)
            if self.budget.left(now) <= 0:
                raise BudgetSpent(
                    f"the daily budget of {self.budget.daily} SAM.gov requests is used up until {next_midnight(now)}"
                )
            request_id = self.budget.reserve(now, source, watch, query, page)
            try:
                resp = self.http.send("GET", path, params={**params, "api_key": self.key}, what=what, num=attempt)
            except RetryableSourceError as exc:
                self.budget.settle(request_id, None, str(exc))
                if attempt == ATTEMPTS:
                    raise SourceError(str(exc)) from None
                continue
            except SourceError as exc:  # past the deadline or over the size cap: not retried
                self.budget.settle(request_id, None, str(exc))
                raise
            status = resp.status_code
            if status >= 500 and attempt < ATTEMPTS:
                self.budget.settle(request_id, status, f"HTTP {status}")
                log.warning("%s: HTTP %s, retrying once", what, status)
                continue
            return self._answer(resp, request_id, what, now, no_data_404)
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(
        self, resp: httpx.Response, request_id: int, what: str, now: str, no_data_404: bool
    ) -> tuple[Any, bytes]:
        status = resp.status_code
        if status == 429:
            next_access = None
            try:
                body = json.loads(resp.content)
                next_access = parse_next_access(body.get("nextAccessTime")) if isinstance(body, dict) else None
            except ValueError:
                pass
            next_access = next_access or next_midnight(now)
            self.budget.settle(request_id, status, "quota exceeded", next_access)
            raise SamQuotaError(f"{what}: SAM.gov's daily quota is spent (HTTP 429) until {next_access}", next_access)
        if status in (401, 403):
            detail = error_detail(resp)
            self.budget.settle(request_id, status, detail)
            raise SamKeyError(redact(f"SAM.gov refused the API key (HTTP {status}: {detail}): key invalid or expired"))
        if status == 204:
            self.budget.settle(request_id, status)
            return None, b""
        # The answer may echo the key (``links[].href`` gives the request's URL): out before anything reads it.
        content = redact_bytes(resp.content, [self.key])
        if status == 404 and no_data_404 and no_data_found(content):
            self.budget.settle(request_id, status)
            return None, content
        if status >= 300:
            detail = error_detail(resp)
            self.budget.settle(request_id, status, detail)
            raise SourceError(redact(f"{what}: HTTP {status}: {detail}"))
        self.budget.settle(request_id, status)
        return parse_json(content, what), content


class _NoSam:
    """What ``sam_client_for`` gives when no watch uses SAM.gov: nothing to open or close."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def sam_client_for(config: Any, db: Database) -> Any:
    """A SamClient (a context manager) when a watch uses a SAM.gov source, else a context giving None."""
    if not any(s.startswith("sam_") for w in config.watches.values() for s in w.sources):
        return _NoSam()
    return SamClient(config, db)


def budget_report(db: Database, config: Any, now: str | None = None) -> dict[str, Any] | None:
    """For ``watcher status``: the day's budget, a 429 block, the key's state, and each query's progress."""
    if not any(s.startswith("sam_") for w in config.watches.values() for s in w.sources):
        return None
    s = config.settings.sam
    now = now or datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    budget = Budget(db, s.daily_budget)
    last_key_error = db.execute(
        "SELECT sent_at, status, error FROM sam_requests WHERE status IN (401, 403) AND id >"
        " coalesce((SELECT max(id) FROM sam_requests WHERE status BETWEEN 200 AND 299), 0) ORDER BY id DESC LIMIT 1"
    ).fetchone()
    expires = None
    if s.key_expires is not None:
        days = (s.key_expires - parse_utc(now).date()).days
        expires = {"date": s.key_expires.isoformat(), "days_left": days, "warn": days <= 14}
    walks = list(db.query("SELECT * FROM sam_walks ORDER BY source, query"))
    return {
        "key_set": sam_key() is not None,
        "day": now[:10],
        "budget": s.daily_budget,
        "used": budget.used(now),
        "left": budget.left(now),
        "blocked_until": budget.blocked_until(now),
        "resets_at": next_midnight(now),
        "key_error": dict(zip(("at", "status", "error"), last_key_error, strict=True)) if last_key_error else None,
        "key_expires": expires,
        "walks": walks,
    }
