"""The static site from the demo database: pages, links, feeds, downloads, atomic and incremental builds, attacks."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from watcher.cli import cli

pytestmark = pytest.mark.slow
PALANTIR_ICM = "CONT_AWD_70CTD022FR0000170_7012_GS35F0086U_4730"
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
EVIL_KEY = "../../evil<script>/CONT_AWD_X"


def site(db: Path, out: Path, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["--config", str(ROOT / "queries.yaml"), "--db", str(db), "site", "--out", str(out), *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


def copy_db(src: Path, dest: Path) -> Path:
    a, b = sqlite3.connect(src), sqlite3.connect(dest)
    a.backup(b)
    a.close()
    b.close()
    return dest


def touch_awards(db: Path, keys: list[str], text: str = "AMENDED DESCRIPTION") -> None:
    """What a poll does to changed awards: new state, one change each."""
    with sqlite3.connect(db) as conn:
        (run,) = conn.execute("SELECT max(id) FROM runs").fetchone()
        for key in keys:
            (old,) = conn.execute("SELECT description FROM awards WHERE award_key = ?", [key]).fetchone()
            conn.execute("UPDATE awards SET description = ? WHERE award_key = ?", [text, key])
            conn.execute(
                "INSERT INTO changes (run_id, detected_at, kind, entity_key, award_key, diff, amount_delta, source)"
                " VALUES (?, '2026-08-23T12:00:00Z', 'award_changed', ?, ?,"
                " json_object('description', json_array(?, ?)), 0, 'usaspending')",
                [run, key, key, old, text],
            )


@pytest.fixture(scope="module")
def built(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("site")
    db = copy_db(demo_db, tmp / "w.db")
    out = tmp / "site"
    assert "full build" in site(db, out)
    return db, out


def test_every_page_exists_and_every_link_inside_the_site_resolves(built) -> None:
    _, out = built
    for rel in (
        "index.html",
        "about.html",
        "search.html",
        "feed.xml",
        "vendors/palantir.html",
        "vendors/palantir.xml",
        "agencies/ice.html",
        "watches/dhs-big-tech.html",
        f"awards/{PALANTIR_ICM}.html",
        "downloads/awards.csv",
        "downloads/changes.json",
        "downloads/watcher.db",
        "pagefind-0/pagefind-ui.js",
    ):
        assert (out / rel).is_file(), rel
    pages = list(out.rglob("*.html"))
    # the demo's awards: 162 of dhs-big-tech and 57 more of dhs-surveillance-data (the second shipped watch)
    assert len(list((out / "awards").glob("*.html"))) == 219
    broken = []
    for page in pages:
        if "pagefind" in page.parts:
            continue
        text = page.read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")  # no external resources
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', text)
        for href in re.findall(r'(?:href|src)="([^"#]+)"', text):
            if href.startswith(("https://", "mailto:", "data:")):
                continue
            if not (page.parent / href).resolve().exists():
                broken.append(f"{page.relative_to(out)} -> {href}")
    assert broken == []


def test_award_page_has_fields_actions_timeline_and_why(built) -> None:
    _, out = built
    html = (out / f"awards/{PALANTIR_ICM}.html").read_text()
    assert "70CTD022FR0000170: PALANTIR TECHNOLOGIES INC." in html
    assert "Contract actions (" in html and "P00015" in html
    assert "total obligated $145M → $150.7M" in html  # the change timeline, old and new values
    assert "matches Palantir Technologies alias" in html  # why it matched
    assert f'href="https://www.usaspending.gov/award/{PALANTIR_ICM}"' in html
    assert "<div data-pagefind-body>" in html
    vendor = (out / "vendors/palantir.html").read_text()
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in vendor and "FY2026" in vendor
    assert "Awards (8)" in vendor
    amazon = (out / "vendors/amazon.html").read_text()
    assert "Bought through" in amazon and "FOUR POINTS TECHNOLOGY" in amazon  # the reseller


def test_a_primes_page_lists_its_subawards_and_their_changes(built) -> None:
    _, out = built
    # the demo's SYNTHESIZED subaward reports (watcher/fakes/demo_subawards.py) under Palantir's ERO order
    html = (out / "awards/CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001.html").read_text()
    assert "Subawards (2)" in html
    assert "DEMO SUBCONTRACTOR ONE LLC (SYNTHESIZED)" in html and "DEMO-PLTR-0002" in html
    assert "$1,250,000.00" in html
    assert "New subaward" in html and "DEMO SUBCONTRACTOR TWO INC (SYNTHESIZED): new subaward of $480,000.00" in html
    # a watched vendor as sub-recipient under Four Points' order, reported twice: one row, on the home timeline too
    four = (out / "awards/CONT_AWD_70CTD025FC0000024_7012_70CTD022A00000004_7012.html").read_text()
    assert "Subawards (1)" in four and "AMAZON WEB SERVICES, INC." in four and "(2 reports)" in four
    assert "AMAZON WEB SERVICES, INC.: new subaward of $2,400,000.00" in (out / "index.html").read_text()
    assert "No subawards reported under this award." in (out / f"awards/{PALANTIR_ICM}.html").read_text()


def test_feeds_parse_with_stable_unique_ids(built, tmp_path: Path) -> None:
    db, out = built
    feeds = sorted(out.rglob("*.xml"))
    assert len(feeds) >= 1 + 3 + 1  # site-wide, vendors, agencies, watch
    ids = {}
    for f in feeds:
        parsed = feedparser.parse(f.read_bytes())
        assert parsed.bozo == 0, (f, parsed.get("bozo_exception"))
        assert 0 < len(parsed.entries) <= 50 or "agencies" in f.parts or f.name == "notices.xml"
        entry_ids = [e.id for e in parsed.entries]
        assert len(entry_ids) == len(set(entry_ids))
        ids[f.relative_to(out)] = entry_ids
    site_feed = feedparser.parse((out / "feed.xml").read_bytes())
    assert site_feed.entries[0].title.endswith("moved no money") or site_feed.entries[0].title
    # A second, independent full build of the same data gives the same entry ids: readers see each change once.
    other = tmp_path / "again"
    site(db, other)
    for rel, entry_ids in ids.items():
        again = [e.id for e in feedparser.parse((other / rel).read_bytes()).entries]
        assert again == entry_ids, rel


def test_downloads_are_complete_safe_and_private(built) -> None:
    db, out = built
    with (out / "downloads/awards.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 219  # both shipped watches' awards
    copy = sqlite3.connect(out / "downloads/watcher.db")
    assert copy.execute("SELECT count(*) FROM awards").fetchone() == (219,)
    assert copy.execute("SELECT count(*) FROM deliveries").fetchone() == (0,)  # subscribers' addresses stay private
    assert copy.execute("SELECT count(*) FROM subscribers").fetchone() == (0,)
    assert b"campaigns@example.org" not in (out / "downloads/watcher.db").read_bytes()
    copy.close()


def test_full_builds_swap_atomically_and_keep_one_previous(demo_db: Path, tmp_path: Path) -> None:
    db = copy_db(demo_db, tmp_path / "w.db")
    out = tmp_path / "site"
    targets = []
    for _ in range(3):
        site(db, out, "--full")
        assert out.is_symlink()
        targets.append(out.resolve())
    assert len(set(targets)) == 3
    builds = sorted(p.resolve() for p in (tmp_path / ".site-builds").iterdir())
    assert builds == sorted(targets[1:])  # the current build and the one before it
    (tmp_path / "mine").mkdir()
    result = CliRunner().invoke(
        cli, ["--config", str(ROOT / "queries.yaml"), "--db", str(db), "site", "--out", str(tmp_path / "mine")]
    )
    assert result.exit_code == 1 and "was not made by `watcher site`" in result.output


def test_incremental_build_rewrites_only_what_changes_touch(demo_db: Path, tmp_path: Path) -> None:
    db = copy_db(demo_db, tmp_path / "w.db")
    out = tmp_path / "site"
    site(db, out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and "pagefind" not in p.parts}
    touch_awards(db, [PALANTIR_ICM])
    output = site(db, out)
    assert "incremental: 1 changed awards" in output
    after = {p: p.stat().st_mtime_ns for p in before}
    rewritten = sorted(str(p.relative_to(out)) for p in before if after[p] != before[p])
    assert f"awards/{PALANTIR_ICM}.html" in rewritten
    assert "vendors/palantir.html" in rewritten and "vendors/palantir.xml" in rewritten
    assert "vendors/amazon.html" not in rewritten and "vendors/microsoft.html" not in rewritten
    assert len([r for r in rewritten if r.startswith("awards/")]) == 1
    page = (out / f"awards/{PALANTIR_ICM}.html").read_text()
    assert "AMENDED DESCRIPTION" in page and "description now: AMENDED DESCRIPTION" in page
    feed = feedparser.parse((out / "vendors/palantir.xml").read_bytes())
    assert "description now: AMENDED DESCRIPTION" in feed.entries[0].summary
    # The changed award is searchable at once: a small index merged with the main one.
    assert (out / "pagefind-recent/pagefind.js").exists()
    assert "pagefind-recent/" in (out / "search.html").read_text()
    # Same pages as a full build of the same data (apart from the build time).
    full = tmp_path / "full"
    site(db, full)
    strip = re.compile(r"Built [0-9TZ:-]+|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    for rel in (f"awards/{PALANTIR_ICM}.html", "vendors/palantir.html", "index.html"):
        assert strip.sub("", (out / rel).read_text()) == strip.sub("", (full / rel).read_text()), rel
    assert "incremental: 0 changed awards" in site(db, out)


def test_hostile_ids_and_text_stay_inside_the_site_and_inert(demo_db: Path, tmp_path: Path) -> None:
    db = copy_db(demo_db, tmp_path / "w.db")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO awards (award_key, piid, recipient_name, description, total_obligation, awarding_subagency)"
            " VALUES (?, ?, ?, ?, 1, ?)",
            [EVIL_KEY, "=cmd|' /C calc'!A0", f"{XSS} CORP", f"{XSS} ]]></summary><entry>", "../../etc"],
        )
        conn.execute(
            "INSERT INTO matches (watch, entity_key, vendor, reason, evidence, matched_at)"
            " VALUES ('dhs-big-tech', ?, 'palantir', 'mention', ?, '2026-08-23T12:00:00Z')",
            [EVIL_KEY, XSS],
        )
        conn.execute(
            "INSERT INTO changes (run_id, detected_at, kind, entity_key, award_key, diff, amount_delta, source)"
            " VALUES (1, '2026-08-23T12:00:00Z', 'new_award', ?, ?, '{}', 0, 'usaspending')",
            [EVIL_KEY, EVIL_KEY],
        )
    out = tmp_path / "site"
    site(db, out)
    root = out.resolve()
    files = [p for p in root.rglob("*") if p.is_file()]
    assert all(root in p.resolve().parents for p in files)
    assert not (tmp_path / "evil<script>").exists() and not list(tmp_path.glob("**/etc*.html"))
    (page,) = [p for p in (root / "awards").glob("*evil*.html")]
    assert "/" not in page.name and "<" not in page.name
    html = page.read_text()
    assert "<script>window" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in html
    for feed in ("feed.xml", "vendors/palantir.xml"):
        parsed = feedparser.parse((root / feed).read_bytes())
        assert parsed.bozo == 0, feed
        assert any("<script>window.__xss = 1</script>" in e.title for e in parsed.entries)  # text, not markup
    with (root / "downloads/awards.csv").open(newline="") as fh:
        piids = [r["piid"] for r in csv.DictReader(fh)]
    assert "'=cmd|' /C calc'!A0" in piids  # a formula is written as text


def test_hostile_subaward_text_is_inert_and_an_unheld_prime_gets_no_broken_link(demo_db: Path, tmp_path: Path) -> None:
    db = copy_db(demo_db, tmp_path / "w.db")
    pal = "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001"
    unheld = "CONT_AWD_70CDCR26FC0000077_7012_-NONE-_-NONE-"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE subawards SET sub_recipient_name = ?, description = ? WHERE prime_award_key = ?",
                     [f"{XSS} LLC", f"{XSS} ]]></summary>", pal])  # fmt: skip
        conn.execute(
            "INSERT INTO subawards (subaward_key, prime_award_key, prime_piid, subaward_number, sub_recipient_name,"
            " amount, action_date, report_count, first_seen_at, last_seen_at)"
            " VALUES ('SUBAWD_EVIL', ?, '70CDCR26FC0000077', 'X-1', ?, 5, '2026-08-01', 1, '2026-08-23T12:00:00Z',"
            " '2026-08-23T12:00:00Z')",
            [unheld, f"{XSS} PALANTIR USG"],
        )
        conn.execute(
            "INSERT INTO matches (watch, entity_key, vendor, reason, evidence, matched_at)"
            " VALUES ('dhs-big-tech', 'SUBAWD_EVIL', 'palantir', 'recipient', ?, '2026-08-23T12:00:00Z')",
            [XSS],
        )
        conn.execute(
            "INSERT INTO changes (run_id, detected_at, kind, entity_key, award_key, diff, amount_delta, source)"
            " VALUES (1, '2026-08-23T12:00:00Z', 'new_subaward', 'SUBAWD_EVIL', ?, '{}', 5, 'usaspending')",
            [unheld],
        )
    out = tmp_path / "site"
    site(db, out)
    root = out.resolve()
    for rel in (f"awards/{pal}.html", "index.html"):
        html = (root / rel).read_text()
        assert "<script>window" not in html and "<img src=x" not in html, rel
        assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in html, rel
    home = (root / "index.html").read_text()
    assert f"awards/{unheld}.html" not in home  # no page for a prime no watch holds ...
    assert not (root / f"awards/{unheld}.html").exists()
    parsed = feedparser.parse((root / "feed.xml").read_bytes())
    assert parsed.bozo == 0
    entry = next(e for e in parsed.entries if "PALANTIR USG" in e.title)
    assert "<script>window.__xss = 1</script>" in entry.title  # text, not markup
    assert entry.link == f"https://www.usaspending.gov/award/{unheld}"  # ... the feed links to the official record


def test_bulk_downloads_follow_the_export_rules(demo_db: Path, tmp_path: Path) -> None:
    """The site's SQLite-side writer gives byte for byte what `watcher export` gives, formulas and cents included."""
    import io
    import json

    from watcher import store
    from watcher.site import export

    db_path = copy_db(demo_db, tmp_path / "w.db")
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE awards SET recipient_name = '=HYPERLINK(\"http://evil/\")', piid = '-1+1' WHERE rowid = 1")
        conn.execute("UPDATE transactions SET description = '@SUM(A1)', obligation = 0.1 + 0.2 WHERE rowid = 1")
    db = store.open_db(db_path)
    for what in export.EXPORTS:
        fast_csv, fast_json = io.StringIO(), io.StringIO()
        export.write_table(db, what, fast_csv, fast_json)
        slow_csv, slow_json = io.StringIO(), io.StringIO()
        export.write_csv(export.rows(db, what, export.Filters()), slow_csv)
        export.write_json(export.rows(db, what, export.Filters()), slow_json)
        assert fast_csv.getvalue() == slow_csv.getvalue(), what
        # Amounts are REAL: SQLite prints 15 significant digits (0.3), Python the shortest repr of the
        # double (0.30000000000000004). The same to the cent, which is what amounts are.
        cents = {"parse_float": lambda text: round(float(text), 2)}
        assert json.loads(fast_json.getvalue(), **cents) == json.loads(slow_json.getvalue(), **cents), what
    assert "'=HYPERLINK" in fast_csv.getvalue() or what != "awards"


def test_sam_notices_get_a_page_and_a_feed_and_deletions_read_as_words(demo_db: Path, tmp_path: Path) -> None:
    db = copy_db(demo_db, tmp_path / "w.db")
    award_key = "CONT_AWD_" + PALANTIR_ICM.removeprefix("CONT_AWD_")
    with sqlite3.connect(db) as conn:  # what the SAM.gov sources write (tests/test_sam.py drives them for real)
        conn.execute(
            "INSERT INTO notices (notice_id, type, title, agency_path, award_number, award_amount, awardee_name,"
            " award_key, source_url) VALUES ('abc123', 'Award Notice', 'ICM O&M <script>window.__x=1</script>',"
            " 'HOMELAND SECURITY, DEPARTMENT OF.US IMMIGRATION AND CUSTOMS ENFORCEMENT', '70CTD022FR0000170',"
            " 145000000.0, 'PALANTIR TECHNOLOGIES INC.', ?, 'https://sam.gov/opp/abc123/view')",
            [award_key],
        )
        conn.execute("INSERT INTO notices (notice_id, type, title) VALUES ('def456', 'Sources Sought', 'Case system')")
        for nid, key in (("abc123", award_key), ("def456", None)):
            conn.execute(
                "INSERT INTO changes (run_id, detected_at, kind, entity_key, award_key, diff, amount_delta, source)"
                " VALUES (1, '2026-08-23T12:00:00Z', 'new_notice', ?, ?, '{}', NULL, 'sam_opportunities')",
                [nid, key],
            )
        (tx, obligation) = conn.execute(
            "SELECT transaction_key, obligation FROM transactions WHERE award_key = ? LIMIT 1", [award_key]
        ).fetchone()
        conn.execute(
            "INSERT INTO changes (run_id, detected_at, kind, entity_key, award_key, diff, amount_delta, source)"
            " VALUES (1, '2026-08-24T12:00:00Z', 'deleted', ?, ?, ?, ?, 'sam_awards')",
            [tx, award_key, json.dumps({"obligation": [str(obligation), None]}), -obligation],
        )
    out = tmp_path / "site"
    site(db, out, "--full")
    page = (out / "notices.html").read_text()
    assert "Award Notice" in page and "Sources Sought" in page and "<script>window" not in page
    assert 'href="notices/abc123.html"' in page and 'href="https://sam.gov/opp/abc123/view"' in page
    notice = (out / "notices/abc123.html").read_text()  # its own page, linked to the award it announces
    assert f'href="../awards/{PALANTIR_ICM}.html"' in notice and "<script>window" not in notice
    assert "Case system" in (out / "notices/def456.html").read_text()
    assert 'href="notices.html"' in (out / "index.html").read_text()
    feed = feedparser.parse((out / "notices.xml").read_bytes())
    assert feed.bozo == 0 and len(feed.entries) == 2
    assert {e.link for e in feed.entries} == {"notices/abc123.html", "notices/def456.html"}  # every notice has a page
    assert "New notice" not in (out / "index.html").read_text()  # notices have their own page
    award_page = (out / f"awards/{PALANTIR_ICM}.html").read_text()
    assert "deleted from the official record" in award_page and "had obligated $" in award_page
