"""The demo's site as a reader sees it, in Debian chromium: the front page's figures against the database,
each chart against its table, plain labels on award pages, and axe-core on every page type."""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import axe_playwright_python
import pytest

from tests.conftest import CHROMIUM_ARGS
from tests.test_site import PALANTIR_ICM
from watcher.site.money import PATH_WORDS
from watcher.words import AWARD_LABELS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium is not installed"),
]
#: axe-core's axe.min.js as the axe-playwright-python package ships it (a test dependency, so pip installs it).
AXE = Path(axe_playwright_python.__file__).parent / "axe.min.js"
#: The demo's clock (its site is built "now" = the last replayed poll): FY2026 is the current year.
DEMO_FY = 2026
WORDS_PATH = {v: k for k, v in PATH_WORDS.items()}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def demo_site(demo_db: Path) -> Iterator[str]:
    """The site `watcher demo` built, served from 127.0.0.1."""
    root = (demo_db.parent / "demo-site").resolve()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)  # axe is injected inline
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert errors == []


def money(text: str) -> Decimal:
    """A figure as the site prints it ($1,234.56, -$7.00) back to an exact amount."""
    text = text.strip()
    assert re.fullmatch(r"-?\$[\d,]+\.\d\d", text), text
    return Decimal(text.replace("$", "").replace(",", ""))


def fiscal_year(day: str) -> int:
    return int(day[:4]) + (int(day[5:7]) >= 10)


def db_sums(db: Path) -> dict[tuple[str, int], dict[str, Decimal]]:
    """Money per (vendor, fiscal year) and path, summed here in Python from the rows, not from the site's views."""
    sums: dict[tuple[str, int], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    conn = sqlite3.connect(db)
    for vendor, path, day, amount in conn.execute(
        "SELECT v.vendor, v.path, t.action_date, t.obligation FROM vendor_actions v"
        " JOIN transactions t ON t.transaction_key = v.transaction_key"
        " WHERE t.action_date IS NOT NULL AND t.obligation IS NOT NULL"
        " AND t.award_key IN (SELECT entity_key FROM matches m WHERE m.vendor = v.vendor)"
    ):
        sums[vendor, fiscal_year(day)][path] += Decimal(str(amount))
    for vendor, day, amount in conn.execute(
        "SELECT vendor, action_date, amount FROM vendor_subawards WHERE action_date IS NOT NULL"
    ):
        sums[vendor, fiscal_year(day)]["subaward"] += Decimal(str(amount))
    conn.close()
    return sums


def table(page, selector: str) -> tuple[list[str], list[list[dict]]]:
    """A table's header texts and, per body row, each cell's text and link."""
    return page.evaluate(
        """sel => {
            const t = document.querySelector(sel);
            const head = [...t.querySelectorAll('thead th')].map(th => th.innerText.trim());
            const rows = [...t.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(c => ({
                text: c.innerText.trim(), href: c.querySelector('a') ? c.querySelector('a').getAttribute('href') : null
            })));
            return [head, rows];
        }""",
        selector,
    )


def test_home_headline_figures_equal_the_sums_in_the_database(page, demo_site: str, demo_db: Path) -> None:
    sums = db_sums(demo_db)
    page.goto(f"{demo_site}/index.html")
    checked = 0
    for fy in (DEMO_FY, DEMO_FY - 1):  # the current and the previous fiscal year
        caption = page.locator(f"#headline-fy{fy} caption").inner_text()
        assert caption.startswith(f"Fiscal year {fy} (October {fy - 1} to September {fy})")
        head, rows = table(page, f"#headline-fy{fy}")
        assert head[1] == "Obligated, at least"
        paths = [WORDS_PATH[h] for h in head[2:]]
        assert rows
        for cells in rows:
            vendor = cells[1]["href"].split("/")[-1].split(".html")[0]
            expect = sums.get((vendor, fy), {})
            if not expect:
                assert cells[1]["text"] == "none recorded"
                continue
            assert cells[1]["href"] == f"vendors/{vendor}.html#fy-{fy}"
            assert money(cells[1]["text"]) == sum(expect.values()), (vendor, fy)
            for path, cell in zip(paths, cells[2:], strict=True):
                if path in expect:
                    assert money(cell["text"]) == expect[path], (vendor, fy, path)
                else:
                    assert cell["text"] == "–"
            checked += 1
    assert checked >= 3  # the demo has money for several vendors in these years


def test_every_home_figure_links_to_the_row_it_sums(page, demo_site: str) -> None:
    page.goto(f"{demo_site}/index.html")
    head, rows = table(page, f"#headline-fy{DEMO_FY}")
    figures = [(c["href"], money(c["text"])) for cells in rows for c in cells[1:2] if c["href"] and "#" in c["href"]]
    assert figures
    for href, amount in figures:
        page.goto(f"{demo_site}/{href}")
        anchor = href.split("#")[1]
        row = page.locator(f"tr#{anchor}")
        assert row.count() == 1, href
        assert money(row.locator("td").nth(1).inner_text()) == amount, href


def test_home_lists_the_biggest_recent_changes_and_the_freshness_of_each_source(page, demo_site: str) -> None:
    page.goto(f"{demo_site}/index.html")
    assert page.locator("#biggest").inner_text() == "Biggest changes of the last 30 days"
    biggest = page.locator("section[aria-labelledby=biggest] .timeline > li")
    assert biggest.count() >= 1
    for href in biggest.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))"):
        assert (page.request.get(f"{demo_site}/{href}")).ok, href
    fresh = page.locator("#freshness tbody tr")
    assert fresh.count() >= 1
    assert "USAspending" in fresh.first.inner_text() and "2026-08-22" in fresh.first.inner_text()


def _chart_segments(page, ident: str) -> dict[tuple[str, str], Decimal]:
    marks = page.evaluate(
        """id => [...document.querySelectorAll('#' + id + ' [data-value]')].map(e =>
            [e.getAttribute('data-row'), e.getAttribute('data-series'), e.getAttribute('data-value')])""",
        ident,
    )
    return {(row, series): Decimal(v) for row, series, v in marks}


def _assert_accessible_svg(page, ident: str) -> None:
    svg = page.locator(f"svg#{ident}")
    assert svg.get_attribute("role") == "img"
    title_id, desc_id = svg.get_attribute("aria-labelledby").split()
    assert page.locator(f"#{title_id}").text_content().strip()
    assert page.locator(f"#{desc_id}").text_content().strip()
    # the numbers follow as a table in the same section
    assert svg.evaluate("s => !!s.closest('figure').nextElementSibling.querySelector('table')")


def test_home_chart_draws_the_numbers_of_its_table(page, demo_site: str) -> None:
    page.goto(f"{demo_site}/index.html")
    _assert_accessible_svg(page, "chart-vendors")
    drawn = _chart_segments(page, "chart-vendors")
    head, rows = table(page, "#chart-vendors-table")
    paths = [WORDS_PATH[h] for h in head[3:]]
    expect = {}
    for cells in rows:
        label = f"{cells[0]['text']} {cells[1]['text']}"
        for path, cell in zip(paths, cells[3:], strict=True):
            if cell["text"] != "–" and money(cell["text"]) > 0:
                expect[label, path] = money(cell["text"])
    assert expect and drawn == expect


def test_vendor_charts_draw_the_numbers_of_their_tables(page, demo_site: str) -> None:
    page.goto(f"{demo_site}/vendors/amazon.html")
    _assert_accessible_svg(page, "chart-fy")
    _assert_accessible_svg(page, "chart-resellers")
    head, rows = table(page, "figure:has(#chart-fy) + div table")
    paths = [WORDS_PATH[h] for h in head[2:]]
    expect = {
        (cells[0]["text"], path): money(cell["text"])
        for cells in rows
        for path, cell in zip(paths, cells[2:], strict=True)
        if cell["text"] != "–" and money(cell["text"]) > 0
    }
    assert expect and _chart_segments(page, "chart-fy") == expect
    head, rows = table(page, "figure:has(#chart-resellers) + div table")
    assert head[0] == "Recipient (reseller)"
    resellers = [(cells[0]["text"], money(cells[2]["text"])) for cells in rows[:12]]
    drawn = _chart_segments(page, "chart-resellers")
    assert resellers and sorted(drawn.values()) == sorted(v for _, v in resellers if v > 0)
    for (label, series), value in drawn.items():  # each bar is the reseller of the same amount (names cut at 36)
        assert series == "reseller"
        assert any(name.startswith(label.rstrip("…")) and v == value for name, v in resellers), label


def test_award_chart_steps_through_each_modification_to_the_total(page, demo_db: Path, tmp_path: Path) -> None:
    """The demo's awards carry no ceiling (its recordings have no award detail): one is given one here."""
    from tests.test_site import copy_db, site

    db = copy_db(demo_db, tmp_path / "w.db")
    conn = sqlite3.connect(db)
    (key,) = conn.execute(
        "SELECT award_key FROM transactions WHERE award_key IN (SELECT entity_key FROM matches)"
        " GROUP BY award_key ORDER BY count(*) DESC, award_key LIMIT 1"
    ).fetchone()
    with conn:
        conn.execute("UPDATE awards SET potential_value = 987654321.09 WHERE award_key = ?", [key])
    amounts = [
        Decimal(str(v))
        for (v,) in conn.execute(
            "SELECT obligation FROM transactions WHERE award_key = ? AND action_date IS NOT NULL"
            " ORDER BY action_date, modification_number",
            [key],
        )
    ]
    conn.close()
    site(db, tmp_path / "site", "--full")
    page.goto((tmp_path / "site" / "awards" / f"{key}.html").resolve().as_uri())
    _assert_accessible_svg(page, "chart-award")
    steps = page.evaluate(
        "[...document.querySelectorAll('#chart-award circle[data-value]')].map(c => c.getAttribute('data-value'))"
    )
    running = [sum(amounts[: i + 1], Decimal(0)) for i in range(len(amounts))]
    assert len(running) > 5 and [Decimal(s) for s in steps] == running
    _, rows = table(page, "#chart-award-table")
    assert [money(r[3]["text"]) for r in rows] == running
    ceiling = page.locator("#chart-award [data-series=ceiling]").get_attribute("data-value")
    assert Decimal(ceiling) == Decimal("987654321.09")
    assert "$987,654,321.09" in page.locator("figure:has(#chart-award) figcaption").inner_text()


def test_award_page_shows_no_raw_column_name_outside_the_in_the_data_note(page, demo_site: str, demo_db: Path) -> None:
    conn = sqlite3.connect(demo_db)
    columns = {
        name
        for table_name in ("awards", "transactions", "matches", "changes", "subawards")
        for (_, name, *_rest) in conn.execute(f"PRAGMA table_info({table_name})")
        if "_" in name
    }
    conn.close()
    page.goto(f"{demo_site}/awards/{PALANTIR_ICM}.html")
    notes = page.locator(".in-data").all_inner_texts()
    text = page.evaluate(
        "() => { const m = document.querySelector('main').cloneNode(true);"
        " m.querySelectorAll('.in-data').forEach(n => n.remove()); return m.innerText; }"
    )
    leaked = sorted(c for c in columns if re.search(rf"\b{re.escape(c)}\b", text))
    assert leaked == []
    labels = page.locator("table.fields th").evaluate_all("ths => ths.map(th => th.firstChild.textContent.trim())")
    assert labels == list(AWARD_LABELS.values())
    assert {f"in the data: awards.{c}" for c in AWARD_LABELS} <= {n.strip() for n in notes}
    fields = dict(zip(labels, page.locator("table.fields td").all_inner_texts(), strict=True))
    assert fields["Awarded by"] == "U.S. Immigration and Customs Enforcement"
    assert re.fullmatch(r"\$[\d,]+\.\d\d", fields["Total obligated"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", fields["Starts"])
    with sqlite3.connect(demo_db) as conn:
        ends, parent = conn.execute(
            "SELECT end_date, parent_name FROM awards WHERE award_key = ?", [PALANTIR_ICM]
        ).fetchone()
    assert fields["Ends"] == (ends[:10] if ends else "not reported")  # the stored day, or said missing: never blank
    assert parent is None and fields["Parent company"] == "not reported"  # the demo's recordings name no parent
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", fields["First seen here"])


def _page_types(demo_db: Path) -> list[str]:
    conn = sqlite3.connect(demo_db)
    (award,) = conn.execute(
        "SELECT award_key FROM matches m JOIN awards a ON a.award_key = m.entity_key"
        " WHERE m.reason = 'mention' ORDER BY total_obligation DESC LIMIT 1"
    ).fetchone()
    conn.close()
    root = demo_db.parent / "demo-site"
    agency = sorted((root / "agencies").glob("*.html"))[0].name
    watch = sorted((root / "watches").glob("*.html"))[0].name
    return [
        "index.html",
        "vendors/amazon.html",
        f"agencies/{agency}",
        f"watches/{watch}",
        f"awards/{PALANTIR_ICM}.html",
        f"awards/{award}.html",
        "notices.html",
        "about.html",
        "search.html",
    ]


@pytest.mark.parametrize("width", [375, 1280])
def test_axe_finds_no_serious_or_critical_violation_on_any_page_type(
    page, demo_site: str, demo_db: Path, width: int
) -> None:
    """axe-core (from the axe-playwright-python package) in chromium, on each page type at phone and desk width."""
    page.set_viewport_size({"width": width, "height": 900})
    found = {}
    for rel in _page_types(demo_db):
        assert (demo_db.parent / "demo-site" / rel).exists(), rel
        page.goto(f"{demo_site}/{rel}")
        page.wait_for_load_state("networkidle")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        assert result["passes"] is not None and result["testEngine"]["name"] == "axe-core"
        bad = [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:3]]}
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        if bad:
            found[rel] = bad
    assert found == {}, json.dumps(found, indent=1)


def test_home_lists_what_is_coming_up_in_the_next_90_days_each_linking_to_its_award(
    page, demo_site: str, demo_db: Path
) -> None:
    """The home page's coming-up list equals the watched awards' dates of the next 90 days, read here from the
    awards and matches tables by the view's documented rules (not through the view), soonest first."""
    conn = sqlite3.connect(demo_db)
    (now,) = conn.execute("SELECT max(finished_at) FROM runs").fetchone()
    rows = conn.execute(
        "SELECT award_key, end_date, potential_end_date, last_date_to_order FROM awards"
        " WHERE award_key IN (SELECT entity_key FROM matches)"
    ).fetchall()
    conn.close()
    today = now[:10]
    horizon = (date.fromisoformat(today) + timedelta(days=90)).isoformat()
    expected = []
    for key, end, potential, last_order in rows:
        end, potential, last_order = (d[:10] if d else None for d in (end, potential, last_order))
        dates = []
        if end:
            dates.append(end)
        if potential and (not end or potential > end):
            dates.append(potential)
        if last_order:
            dates.append(last_order)
        expected += [(d, key) for d in dates if today <= d <= horizon]
    expected.sort()
    assert expected, "the demo has dates ahead (watcher/fakes/demo_dates.py)"
    page.goto(f"{demo_site}/index.html")
    items = page.locator("#coming-up li")
    shown = [
        (t.split(" ", 1)[0], h.rsplit("/", 1)[1].removesuffix(".html"))
        for t, h in zip(
            items.all_inner_texts(), items.locator("a").evaluate_all("as => as.map(a => a.href)"), strict=True
        )
    ]
    assert [d for d, _ in shown] == [d for d, _ in expected][:8]
    assert sorted(shown) == sorted(expected)[: len(shown)]
    for _, key in shown:  # each links to an award page that exists
        assert (demo_db.parent / "demo-site" / "awards" / f"{key}.html").exists()
