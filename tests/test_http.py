"""The HTTP client: retries on 429/5xx/timeouts (honouring Retry-After), none on other 4xx."""

from __future__ import annotations

import httpx
import pytest
import respx

from watcher.errors import RetryableSourceError, SourceError
from watcher.http import ApiClient, _retry_hook, redact

BASE = "https://api.usaspending.gov"
PATH = "/api/v2/search/spending_by_award/"


def client() -> ApiClient:
    return ApiClient(BASE, attempts=4, min_interval=0)


@respx.mock
def test_retries_503_then_succeeds() -> None:
    route = respx.post(BASE + PATH).mock(
        side_effect=[httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"ok": 1.5})]
    )
    c = client()
    assert c.request_json("POST", PATH, json_body={}) == {"ok": pytest.approx(1.5)}
    assert route.call_count == 3 and c.requests == 3


@respx.mock
def test_429_retry_after_is_the_wait() -> None:
    respx.post(BASE + PATH).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={})]
    )
    with pytest.raises(RetryableSourceError) as err:
        ApiClient(BASE, attempts=1, min_interval=0).request_json("POST", PATH, json_body={})
    assert err.value.retry_after == 7.0
    assert _retry_hook(err.value) == 7.0  # stamina waits exactly this long before the next try


@respx.mock
def test_no_retry_on_400() -> None:
    route = respx.post(BASE + PATH).mock(return_value=httpx.Response(400, json={"detail": "Sort value 'x' not found"}))
    with pytest.raises(SourceError, match="HTTP 400: Sort value 'x' not found"):
        client().request_json("POST", PATH, json_body={})
    assert route.call_count == 1


@respx.mock
def test_500_is_retried_once_only() -> None:
    route = respx.post(BASE + PATH).mock(return_value=httpx.Response(500, text="<h1>Server Error (500)</h1>"))
    with pytest.raises(SourceError, match="HTTP 500: Server Error"):
        client().request_json("POST", PATH, json_body={})
    assert route.call_count == 2


@respx.mock
def test_timeouts_are_retried_then_reported() -> None:
    route = respx.post(BASE + PATH).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(RetryableSourceError, match="timed out"):
        client().request_json("POST", PATH, json_body={})
    assert route.call_count == 4


@respx.mock
def test_html_with_200_is_a_shape_error_and_user_agent_names_project() -> None:
    route = respx.post(BASE + PATH).mock(return_value=httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(SourceError, match="not JSON"):
        client().request_json("POST", PATH, json_body={})
    assert route.calls.last.request.headers["User-Agent"].startswith("watcher/")


def test_redact_hides_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAM_API_KEY", "MARKER-KEY-123")
    text = redact("GET https://api.sam.gov/x?api_key=abc&q=1 failed; key MARKER-KEY-123")
    assert "abc" not in text and "MARKER-KEY-123" not in text and "api_key=REDACTED" in text
