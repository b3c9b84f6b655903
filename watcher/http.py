"""One polite HTTP client: explicit timeouts, paced requests, retries on 429/5xx, secrets redacted.

Every request the watcher sends goes through ``ApiClient``, which counts them (the
``runs.requests`` column and the benchmarks rely on that count) and parses JSON with
exact decimals. Every answer is bounded while it streams in: a total deadline per
request (not only per read: a server sending a byte a second never times out a read) and
a largest size per endpoint (an endless or huge answer is cut off, never held whole).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import stamina

from watcher import __version__
from watcher.capture import Recorder
from watcher.errors import ConfigError, RetryableSourceError, SourceError

log = logging.getLogger(__name__)

USER_AGENT = f"watcher/{__version__} (open-source DHS procurement watcher; python-httpx)"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 300.0
#: Without a ``deadline_seconds`` setting, a request may take this many times its read timeout in all.
DEADLINE_FACTOR = 3
#: The largest answer an endpoint without a cap of its own may send.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MB = 1024 * 1024
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


def redact_bytes(content: bytes, secrets: Sequence[str | None] = ()) -> bytes:
    """``redact`` for a response body kept at rest (SAM.gov may echo the key in ``links[].href``).

    Bytes that are not UTF-8 pass through unchanged (surrogateescape), so only secrets change.
    ``secrets`` adds values the environment may not hold (a key given to the client directly).
    """
    text = content.decode("utf-8", "surrogateescape")
    clean = redact(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            clean = clean.replace(secret, "REDACTED")
    return content if clean == text else clean.encode("utf-8", "surrogateescape")


def parse_json(content: bytes, what: str) -> Any:
    """JSON with every non-integer number as an exact Decimal (never a float)."""
    try:
        return json.loads(content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        snippet = content[:200].decode("utf-8", "replace").strip()
        raise SourceError(f"{what}: response is not JSON: {snippet!r}") from None


def _retry_after(resp: httpx.Response) -> float | None:
    """The wait a ``Retry-After`` asks for (seconds or an HTTP date), at most MAX_RETRY_AFTER.

    Anything else (``NaN``, ``inf``, a date out of range, text) is ignored: the usual backoff
    applies. A NaN once reached stamina's sleep and ended the run.
    """
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


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


@dataclass(frozen=True)
class Cap:
    """The largest answer (bytes, decompressed) the endpoints whose path matches ``pattern`` may send.

    ``setting`` names where it is configured, for the error message.
    """

    pattern: str
    max_bytes: int
    setting: str


def _bounded(timeout: float | None, remaining: float | None, error: type[Exception]) -> float | None:
    """A socket operation's timeout cut to what is left of the request's deadline (raises once none is left)."""
    if remaining is None:
        return timeout
    if remaining <= 0:
        raise error("past the request's deadline")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write waits at most what is left of the current request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, remaining: Callable[[], float | None]) -> None:
        self._stream, self._remaining = stream, remaining

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, self._remaining(), httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, self._remaining(), httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        wait = _bounded(timeout, self._remaining(), httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, wait), self._remaining)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own sockets, wrapped so the status line and headers are bounded too (a drip never ends a read)."""

    def __init__(self, remaining: Callable[[], float | None]) -> None:
        self._backend, self._remaining = httpcore.SyncBackend(), remaining

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        wait = _bounded(timeout, self._remaining(), httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._backend.connect_tcp(host, port, wait, local_address, socket_options), self._remaining
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        wait = _bounded(timeout, self._remaining(), httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, wait, socket_options), self._remaining)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def deadline_transport(remaining: Callable[[], float | None]) -> httpx.HTTPTransport:
    """httpx's transport (one connection retry) on sockets bounded by ``remaining()`` seconds, when not None."""
    transport = httpx.HTTPTransport(retries=1)
    transport._pool = httpcore.ConnectionPool(  # the same pool httpx makes, with our network backend
        ssl_context=httpx.create_ssl_context(), retries=1, network_backend=_DeadlineBackend(remaining)
    )
    return transport


#: Headers about how the body travelled, which no longer hold for the decoded copy ``send`` returns.
_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class ApiClient:
    """A paced, retrying JSON client for one API host, every answer bounded in time and size while it streams."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        attempts: int = 4,
        min_interval: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        deadline: float | None = None,
        caps: Sequence[Cap] = (),
        default_cap: Cap | None = None,
        settings: str = "",
    ) -> None:
        """``timeout`` bounds each read; ``deadline`` (default DEADLINE_FACTOR x timeout) the whole request, from
        sending it to the last byte; ``caps`` (the first whose pattern matches the path) or else ``default_cap``
        the size of an answer.
        ``settings`` (like ``settings.usaspending``) is where the user sets them, named in errors."""
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.min_interval = min_interval
        self.requests = 0
        self.deadline = deadline if deadline is not None else DEADLINE_FACTOR * timeout
        self.caps = [(re.compile(c.pattern), c) for c in caps]
        self.default_cap = default_cap or Cap("", DEFAULT_MAX_BYTES, "the client's default")
        self.settings = settings
        #: With ``--record DIR``: every response is also saved there (watcher.capture), secrets redacted.
        self.recorder: Recorder | None = None
        self._last = 0.0
        self._lock = threading.Lock()  # one request at a time, whichever thread asks
        self._ends_at: float | None = None  # the request in progress must be over by then (time.monotonic)
        self.client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport or deadline_transport(self._remaining),
            follow_redirects=False,
        )

    def _remaining(self) -> float | None:
        ends = self._ends_at
        return None if ends is None else ends - time.monotonic()

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
        """One paced, counted attempt; transport failures become RetryableSourceError, statuses are not checked.

        The answer is read as it streams in and must be whole within the deadline and no larger
        than the endpoint's cap: past either, reading stops and it is a SourceError (not retried:
        the same server would send the same again, and a retry would double the wait).
        """
        what = what or f"{method} {path}"
        with self._lock:
            self._pace()
            self.requests += 1
            self._ends_at = time.monotonic() + self.deadline
            try:
                with self.client.stream(method, path, json=json_body, params=params) as streamed:
                    content = self._read(streamed, path, what)
                # Decoded already: the copy carries no Content-Encoding (httpx would decode it again).
                headers = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() not in _FRAMING]
                resp = httpx.Response(streamed.status_code, headers=headers, content=content, request=streamed.request)
                if self.recorder is not None:
                    ctype = resp.headers.get("content-type", "")
                    self.recorder.record(method, path, params, json_body, resp.status_code, ctype, resp.content)
                return resp
            except httpx.TimeoutException as exc:
                if (self._remaining() or 0.0) <= 0:
                    raise self._overdue(what) from None
                log.warning("%s: timed out (attempt %s of %s)", what, num, self.attempts)
                raise RetryableSourceError(f"{what}: timed out ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                log.warning("%s: connection failed (attempt %s of %s): %s", what, num, self.attempts, redact(str(exc)))
                raise RetryableSourceError(redact(f"{what}: connection failed: {exc}")) from None
            finally:
                self._ends_at = None

    def cap_for(self, path: str) -> Cap:
        """The size cap of the endpoint at ``path``."""
        for pattern, cap in self.caps:
            if pattern.search(path):
                return cap
        return self.default_cap

    def _read(self, streamed: httpx.Response, path: str, what: str) -> bytes:
        cap = self.cap_for(path)
        declared = streamed.headers.get("content-length", "")
        if declared.isdigit() and "content-encoding" not in streamed.headers and int(declared) > cap.max_bytes:
            raise self._too_large(what, cap, f"it announced {int(declared) / MB:,.1f} MB")
        body = bytearray()
        for chunk in streamed.iter_bytes():
            body += chunk
            if len(body) > cap.max_bytes:
                raise self._too_large(what, cap, f"stopped reading at {len(body) / MB:,.1f} MB")
            if (self._remaining() or 0.0) <= 0:
                raise self._overdue(what)
        return bytes(body)

    def _too_large(self, what: str, cap: Cap, how: str) -> SourceError:
        limit = f"{cap.max_bytes / MB:g} MB"
        log.warning("%s: the answer is larger than %s (%s)", what, limit, how)
        return SourceError(
            f"{what}: the answer is larger than the {limit} this endpoint may send ({how});"
            f" raise {cap.setting} if it is genuine"
        )

    def _overdue(self, what: str) -> SourceError:
        log.warning("%s: no complete answer within %g s", what, self.deadline)
        where = f"{self.settings}.deadline_seconds" if self.settings else "the deadline"
        return SourceError(f"{what}: no complete answer within {self.deadline:g} s ({where}); stopped waiting")

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


#: USAspending's endpoints by path, with their size caps' keys under settings.usaspending.max_response_mb.
USASPENDING_ENDPOINTS = (
    (r"^/api/v2/search/spending_by_(award|transaction)/$", "search"),
    (r"^/api/v2/transactions/$", "transactions"),
    (r"^/api/v2/awards/", "award"),
)


def usaspending_client(config: Any) -> ApiClient:
    """The client for WATCHER_USASPENDING_URL (default the real API), with the config's timeouts, caps and pacing."""
    url = api_url(
        "WATCHER_USASPENDING_URL", DEFAULT_USASPENDING_URL, "USAspending turns POSTs to http:// into GETs, answered 405"
    )
    s = config.settings.usaspending
    mb = s.max_response_mb
    where = "settings.usaspending.max_response_mb"
    caps = [Cap(p, int(getattr(mb, key) * MB), f"{where}.{key}") for p, key in USASPENDING_ENDPOINTS]
    return ApiClient(
        url,
        timeout=s.timeout_seconds,
        attempts=s.attempts,
        min_interval=s.min_interval_seconds,
        deadline=s.deadline_seconds,
        caps=caps,
        default_cap=Cap("", int(mb.other * MB), f"{where}.other"),
        settings="settings.usaspending",
    )
