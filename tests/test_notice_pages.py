"""Notice pages and sharing, in a real browser: a page per SAM.gov notice whose every link resolves,
listed on vendor and agency pages, rebuilt incrementally; canonical, Open Graph and Twitter metadata;
the printed layout.

The demo replays USAspending only (no DHS notice was ever recorded), so the notices here are
stored the way a poll stores them: the fake SAM.gov Opportunities server serves records in the
shape of the recorded 2026 sample (tests/test_sam.py), and the real SAM.gov source reads,
matches, links and saves them into a copy of the demo's database.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import date
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import pytest
from click.testing import CliRunner

from tests.conftest import CHROMIUM_ARGS, ROOT
from tests.test_sam import ICE_PATH, KEY, _notice
from tests.test_site import PALANTIR_ICM, XSS, copy_db
from watcher import links
from watcher.cli import cli
from watcher.config import load_config
from watcher.fakes.sam import SamReplay
from watcher.http import ApiClient
from watcher.site.notices import page_of
from watcher.sources.registry import run_all
from watcher.sources.sam.client import SamClient
from watcher.store import open_db

pytestmark = [pytest.mark.slow]
BROWSER = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium is not installed")
SITE_URL = "https://watch.example.org"
DAY = date(2026, 8, 23)
NOTICES = [
    _notice(
        "1" * 32,
        "Award Notice",
        "ICM OPERATIONS AND MAINTENANCE",
        "070.7012.70CDCT",
        ICE_PATH,
        "2026-08-22",
        number="70CTD022FR0000170",
        amount="145,000,000.00",
        awardee={"name": "PALANTIR TECHNOLOGIES INC."},
    ),
    _notice(
        "2" * 32, "Sources Sought", "AMAZON WEB SERVICES GOVCLOUD HOSTING", "070.7012.70CDCT", ICE_PATH, "2026-08-21"
    ),
    _notice("3" * 32, "Solicitation", f"PALANTIR LICENSES {XSS}", "070.7012.70CDCT", ICE_PATH, "2026-08-20"),
]


def config_with_site_url(tmp: Path) -> Path:
    cfg = tmp / "queries.yaml"
    cfg.write_text(
        (ROOT / "queries.yaml").read_text().replace("settings:\n", f"settings:\n  site_url: {SITE_URL}\n", 1)
    )
    return cfg


def poll_notices(db_path: Path, cfg: Path, notices: list[dict], day: date) -> None:
    """One SAM.gov Opportunities poll against the fake, as `watcher poll --source sam_opportunities` runs it."""
    config = load_config(cfg)
    sam = SamReplay(keys=[KEY], daily_quota=10_000)
    old = os.environ.get("WATCHER_SAM_URL")
    os.environ["WATCHER_SAM_URL"] = sam.start()
    try:
        sam.today = lambda: day
        sam.set_data(notices=notices)
        now = f"{day}T12:00:00Z"
        db = open_db(db_path)
        with (
            ApiClient("http://127.0.0.1:9", min_interval=0) as us,
            SamClient(config, db, key=KEY, clock=lambda: now) as c,
        ):
            results = run_all(db, config, us, sam=c, today=day, now=now, sources="sam_opportunities")
        db.conn.close()
        assert results and all(r.status == "ok" for r in results), results
    finally:
        sam.stop()
        if old is None:
            os.environ.pop("WATCHER_SAM_URL", None)
        else:
            os.environ["WATCHER_SAM_URL"] = old


def build(cfg: Path, db: Path, out: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", str(db), "site", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return result.output


def stored_notices(db: Path) -> dict[str, str | None]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT notice_id, award_key FROM notices"))


@pytest.fixture(scope="module")
def world(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("notices")
    db = copy_db(demo_db, tmp / "w.db")
    cfg = config_with_site_url(tmp)
    poll_notices(db, cfg, NOTICES, DAY)
    out = tmp / "site"
    build(cfg, db, out, "--full")
    return cfg, db, out


def test_the_poll_stored_the_notices_and_linked_the_award_notice(world) -> None:
    _, db, out = world
    got = stored_notices(db)
    assert set(got) == {"1" * 32, "2" * 32, "3" * 32} and got["1" * 32] == PALANTIR_ICM
    for nid in got:
        assert (out / page_of(nid)).is_file()
    page = (out / f"notices/{'1' * 32}.html").read_text()
    assert "ICM OPERATIONS AND MAINTENANCE" in page and "$145,000,000.00" in page and "PALANTIR TECHNOLOGIES" in page
    assert f'href="../awards/{PALANTIR_ICM}.html"' in page and f'href="https://sam.gov/opp/{"1" * 32}/view"' in page
    hostile = (out / f"notices/{'3' * 32}.html").read_text()
    assert "<script>window.__xss" not in hostile and "&lt;script&gt;" in hostile


def test_vendor_and_agency_pages_list_their_notices(world) -> None:
    _, _, out = world
    palantir = (out / "vendors/palantir.html").read_text()
    assert f'href="../notices/{"1" * 32}.html"' in palantir and f'href="../notices/{"3" * 32}.html"' in palantir
    assert f"notices/{'2' * 32}.html" not in palantir
    assert f'href="../notices/{"2" * 32}.html"' in (out / "vendors/amazon.html").read_text()
    ice = (out / "agencies/ice.html").read_text()
    assert all(f'href="../notices/{n * 32}.html"' in ice for n in "123")


def test_every_page_has_a_canonical_url_and_share_metadata(world) -> None:
    _, _, out = world
    root = out.resolve()
    pages = [p for p in root.rglob("*.html") if not p.name.startswith(".")]
    assert len(pages) > 20
    for p in pages:
        html = p.read_text()
        rel = p.relative_to(root).as_posix()
        assert f'<link rel="canonical" href="{SITE_URL}/{rel}">' in html, rel
        assert f'<meta property="og:url" content="{SITE_URL}/{rel}">' in html, rel
        for tag in ('property="og:title"', 'property="og:description"', 'name="twitter:description"'):
            assert f'<meta {tag} content="' in html and f'<meta {tag} content="">' not in html, (rel, tag)
        assert '<meta name="twitter:card" content="summary">' in html
    award = (root / f"awards/{PALANTIR_ICM}.html").read_text()
    assert '<meta property="og:description" content="ICE delivery order 70CTD022FR0000170 to PALANTIR' in award
    hostile = (root / f"notices/{'3' * 32}.html").read_text()
    assert 'content="PALANTIR LICENSES &lt;script&gt;' in hostile  # escaped inside the attribute too


def test_an_incremental_build_writes_the_changed_notice_and_the_pages_listing_it(world, tmp_path: Path) -> None:
    cfg, db0, out0 = world
    db = copy_db(db0, tmp_path / "w.db")
    out = tmp_path / "site"
    build(cfg, db, out, "--full")
    before = {p.relative_to(out.resolve()).as_posix(): p.stat().st_mtime_ns for p in out.resolve().rglob("*.html")}
    new = _notice("4" * 32, "Presolicitation", "MICROSOFT AZURE GOVERNMENT", "070.7012.70CDCT", ICE_PATH, "2026-08-24")
    changed = [dict(NOTICES[1], title="AMAZON WEB SERVICES GOVCLOUD HOSTING (AMENDED)")]
    poll_notices(db, cfg, [*changed, new], date(2026, 8, 25))
    build(cfg, db, out)
    after = {p.relative_to(out.resolve()).as_posix(): p.stat().st_mtime_ns for p in out.resolve().rglob("*.html")}
    rewritten = {k for k, v in after.items() if before.get(k) != v}
    assert {f"notices/{'2' * 32}.html", f"notices/{'4' * 32}.html", "vendors/amazon.html"} <= rewritten
    assert {"vendors/microsoft.html", "agencies/ice.html", "notices.html"} <= rewritten
    assert f"notices/{'1' * 32}.html" not in rewritten and f"awards/{PALANTIR_ICM}.html" not in rewritten
    amended = (out / f"notices/{'2' * 32}.html").read_text()
    assert "(AMENDED)" in amended
    # its timeline: both of its changes, newest first, worded as the digests word them
    assert "Notice changed" in amended and "New notice" in amended
    assert amended.index("Notice changed") < amended.index("New notice")
    assert "MICROSOFT AZURE GOVERNMENT" in (out / "vendors/microsoft.html").read_text()


# ---------------------------------------------------------------- in the browser


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def served(world) -> Iterator[str]:
    _, _, out = world
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out.resolve())))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def browser_page(served: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1000, "height": 900})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
        yield pg
        assert errors == []
        browser.close()


@BROWSER
@pytest.mark.browser
def test_a_notice_page_for_every_stored_notice_and_every_link_resolves(world, served: str, browser_page) -> None:
    _, db, _ = world
    pg = browser_page
    checked: dict[str, int] = {}
    for nid in stored_notices(db):
        url = f"{served}/notices/{links.safe_name(nid)}.html"
        assert pg.goto(url).status == 200, nid  # type: ignore[union-attr]
        assert pg.evaluate("window.__xss") is None
        hrefs = pg.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        assert any(h.startswith("https://sam.gov/opp/") for h in hrefs)
        for href in hrefs:
            target = urljoin(url, href).split("#")[0]
            if target.startswith(served):
                if target not in checked:
                    checked[target] = pg.request.get(target).status
                assert checked[target] == 200, (nid, href)
            else:
                assert target.startswith("https://sam.gov/opp/"), (nid, href)  # the only address outside the site
    assert f"{served}/awards/{PALANTIR_ICM}.html" in checked and f"{served}/vendors/palantir.html" in checked


@BROWSER
@pytest.mark.browser
def test_the_printed_page_drops_the_navigation_and_writes_out_link_addresses(served: str, browser_page) -> None:
    pg = browser_page
    pg.goto(f"{served}/notices/{'1' * 32}.html")
    assert pg.eval_on_selector("header", "e => getComputedStyle(e).display") != "none"
    pg.emulate_media(media="print")
    assert pg.eval_on_selector("header", "e => getComputedStyle(e).display") == "none"
    after = pg.eval_on_selector("main a[href^='https://sam.gov']", "e => getComputedStyle(e, '::after').content")
    assert f"https://sam.gov/opp/{'1' * 32}/view" in after
    inside = pg.eval_on_selector("main table", "e => getComputedStyle(e).breakInside")
    assert inside == "avoid"
    pg.emulate_media(media="screen")
    assert pg.eval_on_selector("main a[href^='https://sam.gov']", "e => getComputedStyle(e, '::after').content") in (
        "none",
        "normal",
    )
