"""One polite HTTP client: explicit timeouts, paced requests, retries on 429/5xx, secrets redacted.

Every request the watcher sends goes through ``ApiClient``, which counts them (the
``runs.requests`` column and the benchmarks rely on that count) and parses JSON with
exact decimals.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import stamina

from watcher import __version__
from watcher.capture import Recorder
from watcher.errors import ConfigError, RetryableSourceError, SourceError

log = logging.getLogger(__name__)

USER_AGENT = f"watcher/{__version__} (open-source DHS procurement watcher; python-httpx)"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 300.0
_SECRET_PARAMS = re.compile(r"(?i)((?:api_key|apikey|api-key|password|token)=)[^&\s\"']+")


def redact(text: str) -> str:
    """Remove secrets (query-string keys and any secret value in the environment) from text."""
    text = _SECRET_PARAMS.sub(r"\1REDACTED", text)
    secrets = [os.environ.get(name) for name in ("SAM_API_KEY", "WATCHER_SMTP_PASSWORD")]
    for name, value in os.environ.items():  # Apprise URLs carry tokens: every one of them is secret
        if name.startswith("WATCHER_APPRISE_"):
            secrets += [value, *value.replace(",", " ").split()]
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "REDACTED")
    return text


def parse_json(content: bytes, what: str) -> Any:
    """JSON with every non-integer number as an exact Decimal (never a float)."""
    try:
        return json.loads(content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        snippet = content[:200].decode("utf-8", "replace").strip()
        raise SourceError(f"{what}: response is not JSON: {snippet!r}") from None


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            delta = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
        return min(max(delta, 0.0), MAX_RETRY_AFTER)


def _retry_hook(exc: Exception) -> bool | float:
    if isinstance(exc, RetryableSourceError):
        return exc.retry_after if exc.retry_after is not None else True
    return False


def error_detail(resp: httpx.Response) -> str:
    try:
        body = json.loads(resp.content)
    except ValueError:
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", resp.text)).strip()
        return text[:200] or "(empty body)"
    if isinstance(body, dict):
        for key in ("detail", "message", "error", "errorMessage"):
            if key in body:
                return str(body[key])[:500]
    return json.dumps(body)[:500]


class ApiClient:
    """A paced, retrying JSON client for one API host."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        attempts: int = 4,
        min_interval: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.min_interval = min_interval
        self.requests = 0
        #: With ``--record DIR``: every response is also saved there (watcher.capture), secrets redacted.
        self.recorder: Recorder | None = None
        self._last = 0.0
        self._lock = threading.Lock()  # one request at a time, whichever thread asks
        self.client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport or httpx.HTTPTransport(retries=1),
            follow_redirects=False,
        )

    def record_to(self, root: Path | None, source: str) -> None:
        """Save every response from now on under ``root/source`` (``--record``); None stops recording."""
        self.recorder = Recorder(root, source, redact) if root is not None else None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pace(self) -> None:
        wait = self._last + self.min_interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()

    def request_json(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        parse: bool = True,
        stop: threading.Event | None = None,
    ) -> Any:
        """Send one logical request (retried on 429/502/503/504/timeouts, once on 500).

        Returns the parsed JSON, or with ``parse=False`` the body's bytes (for the caller
        to parse in another thread). Once ``stop`` is set, no further attempt is sent.
        """
        what = f"{method} {path}"
        for attempt in stamina.retry_context(
            on=_retry_hook, attempts=self.attempts, timeout=None, wait_initial=1.0, wait_max=60.0
        ):
            with attempt:
                if stop is not None and stop.is_set():
                    raise SourceError(f"{what}: cancelled")
                return self._once(method, path, json_body, params, what, attempt.num, parse)
        raise AssertionError("unreachable")  # pragma: no cover

    def send(
        self, method: str, path: str, *, json_body: Any = None, params: Any = None, what: str = "", num: int = 1
    ) -> httpx.Response:
        """One paced, counted attempt; transport failures become RetryableSourceError, statuses are not checked."""
        what = what or f"{method} {path}"
        with self._lock:
            self._pace()
            self.requests += 1
            try:
                resp = self.client.request(method, path, json=json_body, params=params)
                if self.recorder is not None:
                    ctype = resp.headers.get("content-type", "")
                    self.recorder.record(method, path, params, json_body, resp.status_code, ctype, resp.content)
                return resp
            except httpx.TimeoutException as exc:
                log.warning("%s: timed out (attempt %s of %s)", what, num, self.attempts)
                raise RetryableSourceError(f"{what}: timed out ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                log.warning("%s: connection failed (attempt %s of %s): %s", what, num, self.attempts, redact(str(exc)))
                raise RetryableSourceError(redact(f"{what}: connection failed: {exc}")) from None

    def _once(
        self, method: str, path: str, json_body: Any, params: dict[str, Any] | None, what: str, num: int, parse: bool
    ) -> Any:
        resp = self.send(method, path, json_body=json_body, params=params, what=what, num=num)
        self._check(resp, what, num)
        return parse_json(resp.content, what) if parse else resp.content

    @staticmethod
    def _check(resp: httpx.Response, what: str, num: int) -> None:
        status = resp.status_code
        if status in RETRY_STATUSES or (status == 500 and num == 1):
            log.warning("%s: HTTP %s (attempt %s)", what, status, num)
            raise RetryableSourceError(redact(f"{what}: HTTP {status}: {error_detail(resp)}"), _retry_after(resp))
        if status >= 400 or status in (301, 302, 303, 307, 308):
            raise SourceError(redact(f"{what}: HTTP {status}: {error_detail(resp)}"))


DEFAULT_USASPENDING_URL = "https://api.usaspending.gov"


def api_url(env: str, default: str, why_https: str) -> str:
    """The API base from ``env`` (default the real service): https, or plain http only to this machine (a fake)."""
    url = os.environ.get(env, default)
    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme.lower() != "https" and not (parts.scheme.lower() == "http" and local):
        raise ConfigError(
            f"{env}={url}: use https ({why_https}; plain http is only allowed for a server on this machine)"
        )
    return url


def usaspending_client(config: Any) -> ApiClient:
    """The client for WATCHER_USASPENDING_URL (default the real API), with the config's timeouts and pacing."""
    url = api_url(
        "WATCHER_USASPENDING_URL", DEFAULT_USASPENDING_URL, "USAspending turns POSTs to http:// into GETs, answered 405"
    )
    s = config.settings.usaspending
    return ApiClient(url, timeout=s.timeout_seconds, attempts=s.attempts, min_interval=s.min_interval_seconds)
