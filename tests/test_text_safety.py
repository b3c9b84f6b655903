"""Issue 19, item 10: terminal escapes and bidirectional overrides from API text; a Content-Security-Policy.

API text is normalized at the edge (the parsers): no control character (ESC starts a terminal
escape sequence) and no bidi override or isolate (U+202E shows "txt.exe" as "exe.txt") is ever
stored, so none reaches a terminal, a page or an e-mail. Every page carries a CSP and no inline script.
"""

from __future__ import annotations

import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.test_poll_e2e import FOUR, PAL, awards_from, base_rows
from tests.test_site import copy_db, site
from watcher.cli import cli
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.sources.sam.parse import parse_action, parse_notice
from watcher.sources.usaspending.actions import action_from_row
from watcher.sources.usaspending.parse import award_from_search, transaction_from_api
from watcher.values import plain_text

#: What the tester sent: a colour escape that also clears the screen, a right-to-left override, isolates, a NUL.
HOSTILE = "PALANTIR \x1b[2J\x1b[31mRED\x1b[0m \u202eTXT.EXE\u202c \u2066ISO\u2069 A\x00B\x9b1m C\rD"
#: Everything a terminal, page or e-mail must never receive from API text.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
SUBSCRIBER = "subscribers:\n  desk:\n    email: desk@example.org\n    cadence: instant\n"


def test_plain_text_drops_controls_and_bidi_overrides_and_keeps_the_words() -> None:
    out = plain_text(HOSTILE)
    assert not UNSAFE.search(out)
    assert out == "PALANTIR [2J[31mRED[0m TXT.EXE ISO AB1m CD"
    assert plain_text("Línea 1\n\tLínea 2") == "Línea 1\n\tLínea 2"  # line breaks, tabs and accents stay
    assert plain_text("e\u0301") == "\u00e9"  # one form (NFC) for one text


def test_every_parser_normalizes_api_text_at_the_edge() -> None:
    row = {
        "Award ID": "70CTD026FC0000012",
        "generated_internal_id": PAL,
        "Recipient Name": HOSTILE,
        "Recipient UEI": None,
        "Award Amount": Decimal("1"),
        "Description": HOSTILE,
        "Start Date": "2026-01-01",
        "End Date": None,
        "Last Modified Date": "2026-01-02",
        "Contract Award Type": "DELIVERY ORDER",
        "Awarding Agency": "Department of Homeland Security",
        "Awarding Sub Agency": HOSTILE,
        "Funding Agency": None,
        "Funding Sub Agency": None,
        "NAICS": {"code": "1", "description": HOSTILE},
        "PSC": None,
    }
    award = award_from_search(row, "contracts")
    tx = transaction_from_api(
        {"id": "CONT_TX_1", "federal_action_obligation": 1, "action_date": "2026-01-01", "description": HOSTILE}, PAL
    )
    action = action_from_row(
        {"generated_internal_id": PAL, "Transaction Description": HOSTILE, "Recipient Name": HOSTILE}
    )
    sam = parse_action(
        {
            "contractId": {"subtier": {"code": "7012"}, "piid": "70CTD026FC0000012"},
            "awardDetails": {
                "awardeeData": {"awardeeHeader": {"awardeeName": HOSTILE}},
                "productOrServiceInformation": {"descriptionOfContractRequirement": HOSTILE},
            },
        }
    )
    notice = parse_notice({"noticeId": "n1", "title": HOSTILE, "award": {"awardee": {"name": HOSTILE}}})
    texts = [
        award.recipient_name,
        award.description,
        award.awarding_subagency,
        award.naics_description,
        tx.description,
        action.description if action else None,
        action.recipient_name if action else None,
        sam.award.recipient_name,
        sam.award.description,
        notice["title"],
        notice["awardee_name"],
    ]
    for text in texts:
        assert text and "TXT.EXE" in text and not UNSAFE.search(text), repr(text)


@pytest.fixture
def hostile_world(replay: UsaspendingReplay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    awards = awards_from(base_rows())
    replay.set_awards(awards)
    for a in replay.awards.values():
        if a.key == FOUR:  # a mention in the description, with everything the tester sent
            a.row["Description"] = a.row["Description"] + " " + HOSTILE
            a.transactions[0]["description"] = a.row["Description"]
    replay.set_awards(list(replay.awards.values()))
    config = write_config(extra=SUBSCRIBER)
    db = tmp_path / "w.db"

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *args])

    return run, db, tmp_path


def test_no_escape_or_override_reaches_the_terminal_a_page_or_an_e_mail(hostile_world) -> None:
    run, db, tmp = hostile_world
    assert run("poll").exit_code == 0
    with sqlite3.connect(db) as conn:
        stored = [
            d for (d,) in conn.execute("SELECT description FROM awards UNION ALL SELECT description FROM transactions")
        ]
    assert any("TXT.EXE" in (d or "") for d in stored) and not any(UNSAFE.search(d or "") for d in stored)
    history = run("history", FOUR)
    assert history.exit_code == 0 and "TXT.EXE" in history.output and not UNSAFE.search(history.output)
    assert run("site", "--out", str(tmp / "site")).exit_code == 0
    page = (tmp / "site" / "awards" / f"{FOUR}.html").read_text()
    assert "TXT.EXE" in page and not UNSAFE.search(page)
    assert run("digest").exit_code == 0
    (eml,) = (tmp / "outbox").glob("*.eml")
    assert "TXT.EXE" in eml.read_text() and not UNSAFE.search(eml.read_text().replace("\r\n", "\n"))


def test_history_of_a_database_stored_before_the_edge_rule_prints_no_escape(hostile_world) -> None:
    """A database written by an older watcher still holds the raw text: the terminal output is cleaned too."""
    run, db, _ = hostile_world
    assert run("poll").exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE awards SET description = ?, recipient_name = ? WHERE award_key = ?", [HOSTILE, HOSTILE, FOUR]
        )
        conn.execute("UPDATE transactions SET description = ? WHERE award_key = ?", [HOSTILE, FOUR])
    history = run("history", FOUR)
    assert history.exit_code == 0 and "TXT.EXE" in history.output and not UNSAFE.search(history.output)


CSP = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">')


def test_every_page_sends_a_content_security_policy_and_no_inline_script(demo_db: Path, tmp_path: Path) -> None:
    db = copy_db(demo_db, tmp_path / "w.db")
    site(db, tmp_path / "site")
    pages = list((tmp_path / "site").resolve().rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        html = page.read_text()
        (policy,) = CSP.findall(html)
        assert "script-src 'self'" in policy and "object-src 'none'" in policy and "base-uri 'none'" in policy
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0], policy
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert inline == [], (page.name, inline)
        assert not re.search(r"\son[a-z]+=", html), page.name  # no inline event handlers either
    assert (tmp_path / "site" / "assets" / "search.js").exists()


def test_errors_quoting_an_api_answer_reach_the_terminal_without_escapes() -> None:
    """SAM.gov sends some errors as a bare string (docs/api/sam.md): poll and status print it, cleaned."""
    from watcher.jobs import PollReport
    from watcher.ops.status import render
    from watcher.sources import RunResult

    failed = RunResult("w", "sam_awards", 1)
    failed.status, failed.error = "error", f"SAM.gov answered with an error: {HOSTILE}"
    lines = PollReport([failed]).lines()
    assert "TXT.EXE" in lines[0][0] and not UNSAFE.search(lines[0][0])
    run = {
        "watch": "w",
        "source": "sam_awards",
        "started_at": "2026-01-01T00:00:00Z",
        "status": "error",
        "requests": 1,
        "records": 0,
        "changes": 0,
        "last_success_at": None,
        "warnings": HOSTILE,
        "error": HOSTILE,
        "consecutive_failures": 1,
    }
    tables = {"awards": 0, "transactions": 0, "changes": 0, "matches": 0}
    text = render({"database": "w.db", "size_bytes": 1, "tables": tables, "changes_by_kind": {}, "runs": [run]})
    assert "TXT.EXE" in text and not UNSAFE.search(text.replace("\n", ""))
