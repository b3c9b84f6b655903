"""The Coming up page in a real browser (Debian chromium via Playwright): reached from the nav, read, followed."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM_ARGS, ROOT
from tests.test_site import copy_db
from watcher import store
from watcher.config import load_config
from watcher.site import build as site_build

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium is not installed"),
]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def served(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo's site as of its last day (its synthesized end dates, watcher/fakes/demo_dates.py, are ahead)."""
    tmp = tmp_path_factory.mktemp("coming")
    db = store.open_db(copy_db(demo_db, tmp / "w.db"))
    out = tmp / "site"
    site_build.build(db, load_config(ROOT / "queries.yaml"), out, now="2026-08-22T12:00:00Z", search=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out.resolve())))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_from_the_nav_to_the_coming_up_page_to_the_award(served: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{served}/index.html")
        page.get_by_role("navigation", name="Site").get_by_role("link", name="Coming up").click()
        page.wait_for_url("**/coming-up.html")
        assert page.locator("h1").inner_text() == "Coming up"
        soon = page.get_by_role("region", name="In the next 30 days")
        rows = soon.locator("tbody tr")
        assert rows.count() == 2
        first = rows.nth(0).inner_text()
        assert "2026-09-10" in first and "in 19 days" in first and "Ends (no option left)" in first
        assert "Current period ends: next option due" in rows.nth(1).inner_text()
        # The feeds are where the page says they are.
        assert page.request.get(f"{served}/coming-up.ics").text().startswith("BEGIN:VCALENDAR")
        assert "<feed" in page.request.get(f"{served}/coming-up.xml").text()
        soon.get_by_role("link", name="PALANTIR TECHNOLOGIES INC.: ICE delivery order 70CTD022FR0000170").click()
        page.wait_for_url("**/awards/CONT_AWD_70CTD022FR0000170_7012_GS35F0086U_4730.html")
        assert page.locator("h1").inner_text() == "70CTD022FR0000170: PALANTIR TECHNOLOGIES INC."
        browser.close()
        assert errors == []
