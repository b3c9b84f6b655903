"""The demo's site in a real browser (Debian chromium via Playwright), served from 127.0.0.1."""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM_ARGS
from tests.test_site import EVIL_KEY, PALANTIR_ICM, XSS, copy_db, site

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium is not installed"),
]
ARGS = CHROMIUM_ARGS


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def served(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("browse")
    db = copy_db(demo_db, tmp / "w.db")
    with sqlite3.connect(db) as conn:  # one award whose API text is an attack
        conn.execute(
            "INSERT INTO awards (award_key, piid, recipient_name, description, total_obligation, awarding_subagency)"
            " VALUES (?, 'EVIL0001', ?, ?, 1, 'U.S. Immigration and Customs Enforcement')",
            [EVIL_KEY, f"{XSS} CORP", XSS],
        )
        conn.execute(
            "INSERT INTO matches (watch, entity_key, vendor, reason, evidence, matched_at)"
            " VALUES ('dhs-big-tech', ?, 'palantir', 'mention', ?, '2026-08-23T12:00:00Z')",
            [EVIL_KEY, XSS],
        )
    out = tmp / "site"
    site(db, out)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out.resolve())))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def page(served: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        pg = browser.new_page(viewport={"width": 1000, "height": 900})
        pg.requests, pg.errors = [], []  # type: ignore[attr-defined]
        pg.on("request", lambda r: pg.requests.append(r.url))  # type: ignore[attr-defined]
        pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))  # type: ignore[attr-defined]
        pg.on("dialog", lambda d: pg.errors.append(f"dialog: {d.message}"))  # type: ignore[attr-defined]
        yield pg
        assert pg.errors == []  # type: ignore[attr-defined]
        assert [u for u in pg.requests if not u.startswith(served)] == []  # type: ignore[attr-defined]
        browser.close()


def test_home_to_vendor_to_award(page, served: str) -> None:
    page.goto(f"{served}/index.html")
    assert page.locator("h1").inner_text() == "DHS contracts with big tech: what changed"
    page.get_by_role("link", name="Palantir Technologies").first.click()
    page.wait_for_url("**/vendors/palantir.html")
    assert page.locator("h1").inner_text() == "Palantir Technologies"
    page.get_by_role("link", name="70CTD022FR0000170").first.click()
    page.wait_for_url(f"**/awards/{PALANTIR_ICM}.html")
    assert page.locator("h1").inner_text() == "70CTD022FR0000170: PALANTIR TECHNOLOGIES INC."


def test_keyboard_reaches_the_skip_link_first(page, served: str) -> None:
    page.goto(f"{served}/index.html")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


@pytest.mark.parametrize(
    ("query", "expect"),
    [("70CTD022FR0000170", "70CTD022FR0000170: PALANTIR TECHNOLOGIES INC."), ("Palantir", "PALANTIR TECHNOLOGIES")],
)
def test_search_finds_an_award_by_piid_and_by_vendor(page, served: str, query: str, expect: str) -> None:
    page.goto(f"{served}/search.html")
    page.locator(".pagefind-ui__search-input").fill(query)
    page.locator(".pagefind-ui__result-link").first.wait_for(timeout=10_000)
    titles = page.locator(".pagefind-ui__result-link").all_inner_texts()
    assert any(expect in t for t in titles), titles


def test_search_runs_under_the_content_security_policy_without_a_violation(page, served: str) -> None:
    """The search page's script is a file and pagefind's WebAssembly is allowed: chromium reports no violation."""
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.goto(f"{served}/search.html")
    page.locator(".pagefind-ui__search-input").fill("Palantir")
    page.locator(".pagefind-ui__result-link").first.wait_for(timeout=10_000)
    assert page.evaluate("window.__csp") == []
    assert not [e for e in page.errors if "Content Security Policy" in e]
    # and the policy is enforced: an inline script that got in some other way does not run
    page.evaluate(
        "const s = document.createElement('script'); s.textContent = 'window.__inline = 1';"
        " document.head.appendChild(s);"
    )
    assert page.evaluate("window.__inline") is None
    assert [v.split()[0] for v in page.evaluate("window.__csp")] == ["script-src-elem"]
    page.errors[:] = [e for e in page.errors if "Content Security Policy" not in e]  # the refusal we provoked


def test_hostile_description_renders_as_text_and_never_runs(page, served: str) -> None:
    page.goto(f"{served}/vendors/palantir.html")
    page.get_by_role("link", name="EVIL0001").click()
    page.wait_for_load_state()
    assert "<script>window.__xss = 1</script>" in page.locator("h1").inner_text()
    assert page.evaluate("window.__xss") is None
    assert page.locator("main img").count() == 0


def test_pages_fit_a_phone(page, served: str) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    for rel in ("index.html", "vendors/amazon.html", f"awards/{PALANTIR_ICM}.html", "about.html"):
        page.goto(f"{served}/{rel}")
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"{rel} scrolls sideways at 375 px ({scroll} > {inner})"


def test_an_award_changed_since_the_full_build_is_found_by_search(demo_db: Path, tmp_path: Path) -> None:
    """Incremental builds index the changed awards separately; the search page merges both indexes."""
    from playwright.sync_api import sync_playwright

    from tests.test_site import touch_awards

    db = copy_db(demo_db, tmp_path / "w.db")
    out = tmp_path / "site"
    site(db, out)
    touch_awards(db, [PALANTIR_ICM], "ZEBRAFISH TELEMETRY AMENDMENT")
    assert "incremental: 1 changed awards" in site(db, out)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out.resolve())))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            pg = browser.new_page()
            pg.goto(f"http://127.0.0.1:{server.server_address[1]}/search.html")
            pg.locator(".pagefind-ui__search-input").fill("zebrafish")
            pg.locator(".pagefind-ui__result-link").first.wait_for(timeout=10_000)
            titles = pg.locator(".pagefind-ui__result-link").all_inner_texts()
            assert titles == ["70CTD022FR0000170: PALANTIR TECHNOLOGIES INC."]
            browser.close()
    finally:
        server.shutdown()
