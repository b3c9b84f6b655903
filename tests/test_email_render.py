"""What a digest looks like: golden text and HTML parts, hostile API text, and the HTML in a real browser.

Regenerate the golden files after an intended change with
``WATCHER_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_email_render.py``.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import CHROMIUM_ARGS
from watcher.cli import cli

GOLDEN = Path(__file__).resolve().parent / "golden"
ONE = """\
  everything:
    email: everything@example.org
    cadence: daily
    timezone: America/New_York
"""
JULY = "2026-07-08T12:00:00Z"
AWARD = "CONT_AWD_70CTD023FR0000003_7012_70CTD022D00000010_7012"
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
FORMULA = '=HYPERLINK("http://evil.example/","click")'


def _written(
    cfg: Path, db: Path, outbox: Path, now: str = JULY, subscriber: str = "everything"
) -> email.message.EmailMessage:
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", str(db), "digest", "--now", now])
    assert result.exit_code == 0, result.output
    (path,) = sorted(outbox.glob(f"*-{subscriber}-*.eml"))
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def test_golden_text_and_html(digest_env, tmp_path: Path) -> None:
    cfg, db = digest_env(ONE)
    msg = _written(cfg, db, tmp_path / "outbox")
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # SMTP line endings
    html = msg.get_body(("html",)).get_content().replace("\r\n", "\n")
    if os.environ.get("WATCHER_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / "digest.txt").write_text(text)
        (GOLDEN / "digest.html").write_text(html)
    assert text == (GOLDEN / "digest.txt").read_text()
    assert html == (GOLDEN / "digest.html").read_text()


@pytest.fixture
def hostile(digest_env, tmp_path: Path):
    """The demo database with one award's API text replaced by attacks, and a change to report."""
    cfg, db = digest_env(ONE)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE awards SET recipient_name = ?, description = ?, piid = ? WHERE award_key = ?",
            [
                f"{XSS} EVIL CORP\r\nBcc: victim@example.org",
                f"{FORMULA} \x1b[2J\x00 {'A' * 20000}",
                "70CTD023FR0000003\r\nX-Injected: 1",
                AWARD,
            ],
        )
        conn.execute(
            "UPDATE matches SET evidence = ? WHERE entity_key = ?", [f"mentions 'MICROSOFT': {XSS}\r\nTo: x", AWARD]
        )
        conn.execute(
            "UPDATE transactions SET description = ? WHERE award_key = ?",
            [f"{XSS}\r\n\r\n<b>bold</b>{'B' * 5000}", AWARD],
        )
        diff = json.dumps({"end_date": ["2026-09-30", f"2027-09-30\r\nX-Injected: 2 {XSS}"]})
        conn.execute(
            "INSERT INTO changes (run_id, detected_at, kind, entity_key, award_key, diff, amount_delta, source)"
            " VALUES (4, '2026-07-08T12:00:00Z', 'award_changed', ?, ?, ?, 0, 'usaspending')",
            [AWARD, AWARD, diff],
        )
    return _written(cfg, db, tmp_path / "outbox")


def test_hostile_text_is_escaped_and_headers_stay_intact(hostile) -> None:
    msg = hostile
    assert msg["X-Injected"] is None and msg["Bcc"] is None and msg["To"] == "everything@example.org"
    assert "\n" not in msg["Subject"] and "<" not in msg["Subject"]
    html = msg.get_body(("html",)).get_content()
    assert "<script" not in html and "<img" not in html and "<b>bold" not in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in html
    assert "\x1b" not in html and "\x00" not in html
    assert len(html.encode()) < 100_000
    text = msg.get_body(("plain",)).get_content()
    assert "\x1b" not in text and "\x00" not in text
    lines = text.splitlines()
    # CR/LF from the API never starts a line of its own, and very long text is cut short.
    assert not any(line.startswith(("Bcc:", "X-Injected", "To: x")) for line in lines)
    assert max(len(line) for line in lines) < 700
    assert any("EVIL CORP" in line and "<script>" in line for line in lines)  # text stays readable, verbatim


def test_hostile_subaward_text_is_escaped_and_worded(digest_env, tmp_path: Path) -> None:
    cfg, db = digest_env(ONE)
    with sqlite3.connect(db) as conn:  # the demo's synthesized AWS subaward (found 2026-07-08), its text replaced
        conn.execute(
            "UPDATE subawards SET sub_recipient_name = ?, description = ?, subaward_number = ?"
            " WHERE subaward_number = 'DEMO-4PT-0001'",
            [f"{XSS} SUB CORP\r\nBcc: victim@example.org", f"{XSS}\r\n<b>bold</b>", "N1\r\nX-Injected: 1"],
        )
    msg = _written(cfg, db, tmp_path / "outbox")
    assert msg["X-Injected"] is None and msg["Bcc"] is None
    html = msg.get_body(("html",)).get_content()
    assert "<script" not in html and "<b>bold" not in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in html and "new subaward of $2,400,000.00" in html
    text = msg.get_body(("plain",)).get_content()
    assert not any(line.startswith(("Bcc:", "X-Injected")) for line in text.splitlines())
    assert "SUB CORP Bcc: victim@example.org: new subaward of $2,400,000.00 under FOUR POINTS" in text


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium is not installed")
def test_the_html_part_in_a_real_browser(hostile, digest_env, tmp_path: Path) -> None:
    """No horizontal scroll on a phone (375 px) or a laptop (800 px); no script runs; nothing is fetched."""
    from playwright.sync_api import sync_playwright

    cfg, db = digest_env(ONE.replace("everything", "phone"))
    # The biggest digest the demo makes: the first day, 158 new awards.
    first_day = _written(cfg, db, tmp_path / "outbox", "2026-03-24T12:00:00Z", subscriber="phone")
    parts = {
        "hostile": hostile.get_body(("html",)).get_content(),
        "first-day": first_day.get_body(("html",)).get_content(),
    }
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for width in (375, 800):
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.on("request", lambda r: requests.append(r.url))
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("dialog", lambda d: errors.append(f"dialog {d.message}"))
                for name, html in parts.items():
                    page.set_content(html)
                    page.wait_for_timeout(50)
                    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                    assert scroll <= inner, f"{name} at {width}px scrolls sideways ({scroll} > {inner})"
                    assert page.evaluate("window.__xss") is None, name
                    assert "<script>window.__xss = 1</script>" in page.inner_text("body") or name != "hostile"
                    if width == 375 and name == "first-day":
                        page.screenshot(path=str(tmp_path / "digest-375.png"), full_page=True)
                page.close()
        finally:
            browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("about:", "data:"))] == []
