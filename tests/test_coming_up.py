"""The calendar ahead: the coming_up view's rules, ending_soon once per award and date, the digest section,
the site's Coming up page with its Atom and iCalendar feeds (parsed by real parsers), and the export."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import feedparser
import icalendar
import pytest

from tests.conftest import SEEDS
from watcher import store
from watcher.config import load_config
from watcher.digest import build as digest_build
from watcher.digest import render
from watcher.errors import ConfigError
from watcher.site import build as site_build
from watcher.site import export
from watcher.store.coming_up import count_upcoming, record_ending_soon, upcoming
from watcher.templating import environment

HOSTILE = 'ACME <script>alert(1)</script>, "QUOTED"; LLC\\ & CO'

#: award key -> (category, end_date, potential_end_date, last_date_to_order, recipient)
AWARDS: dict[str, tuple[str, str | None, str | None, str | None, str]] = {
    # options left: the current end date is the next option date, then the potential end
    "CONT_AWD_OPTIONS_7012_-NONE-_-NONE-": ("contract", "2026-09-18", "2027-09-17", None, "PALANTIR TECHNOLOGIES INC."),
    # no option left: end and potential end are the same day
    "CONT_AWD_ENDS_7014_-NONE-_-NONE-": ("contract", "2026-09-10", "2026-09-10", None, HOSTILE),
    # no potential end date known: the end date is the end
    "CONT_AWD_NOPOTENTIAL_7012_-NONE-_-NONE-": ("contract", "2026-12-01", None, None, "MICROSOFT CORPORATION"),
    # a stale potential end before the current end: the current end is the end
    "CONT_AWD_STALE_7012_-NONE-_-NONE-": ("contract", "2026-10-01", "2026-06-30", None, "MICROSOFT CORPORATION"),
    # a vehicle: last order date, potential end, no current end
    "CONT_IDV_VEHICLE_7012": ("idv", None, "2031-01-31", "2026-09-05", "AMAZON WEB SERVICES, INC."),
    # not held by any watch: never in the calendar
    "CONT_AWD_UNWATCHED_7012_-NONE-_-NONE-": ("contract", "2026-09-01", None, None, "SOMEONE ELSE"),
}
DAY1 = "2026-08-20T12:00:00Z"
DAY2 = "2026-08-21T12:00:00Z"
ENDS = "CONT_AWD_ENDS_7014_-NONE-_-NONE-"


def seed(db: Any) -> None:
    for key, (category, end, potential, last_order, recipient) in AWARDS.items():
        db.table("awards").insert(
            {
                "award_key": key,
                "piid": key.split("_")[2],
                "category": category,
                "award_type": "DELIVERY ORDER" if category == "contract" else "IDC",
                "recipient_name": recipient,
                "awarding_subagency": "U.S. Immigration and Customs Enforcement",
                "total_obligation": 1000000.5,
                "potential_value": 3000000.0,
                "start_date": "2025-09-18",
                "end_date": end,
                "potential_end_date": potential,
                "last_date_to_order": last_order,
                "description": f"SERVICES FOR {recipient}",
            }
        )
        if "UNWATCHED" not in key:
            db.table("matches").insert(
                {"watch": "w", "entity_key": key, "vendor": "palantir", "reason": "recipient", "evidence": "e"}
            )


def test_the_view_has_one_row_per_award_kind_and_date_by_the_documented_rules(memory_db: Any) -> None:
    seed(memory_db)
    rows = {
        (r["award_key"].split("_")[2], r["date_kind"], r["date"]) for r in memory_db.query("SELECT * FROM coming_up")
    }
    assert rows == {
        ("OPTIONS", "next_option", "2026-09-18"),
        ("OPTIONS", "potential_end", "2027-09-17"),
        ("ENDS", "end", "2026-09-10"),
        ("NOPOTENTIAL", "end", "2026-12-01"),
        ("STALE", "end", "2026-10-01"),
        ("VEHICLE", "last_order", "2026-09-05"),
        ("VEHICLE", "potential_end", "2031-01-31"),
    }
    soon = upcoming(memory_db, DAY1, 30)
    assert [(r["date"], r["date_kind"]) for r in soon] == [
        ("2026-09-05", "last_order"),
        ("2026-09-10", "end"),
        ("2026-09-18", "next_option"),
    ]
    assert soon[0]["vendors"] == "palantir" and soon[0]["watches"] == "w"
    # the site reads only what it shows: the soonest rows, and a count of all of them
    assert upcoming(memory_db, DAY1, 30, limit=2) == soon[:2]
    assert count_upcoming(memory_db, DAY1, 30) == 3 and count_upcoming(memory_db, DAY1, 365 * 5) == 7
    assert count_upcoming(memory_db, DAY1, 30, kinds=["end"]) == 1


def ending(db: Any) -> list[tuple[str, str, str]]:
    return [
        (r["award_key"].split("_")[2], json.loads(r["diff"])["ends_on"][1], r["detected_at"])
        for r in db.query("SELECT * FROM changes WHERE kind = 'ending_soon' ORDER BY id")
    ]


def test_ending_soon_is_recorded_once_per_award_and_date_and_a_moved_date_is_new(memory_db: Any) -> None:
    seed(memory_db)
    # The final dates and last order dates within 30 days; a next option date is not an ending.
    assert record_ending_soon(memory_db, DAY1) == 2
    assert ending(memory_db) == [("ENDS", "2026-09-10", DAY1), ("VEHICLE", "2026-09-05", DAY1)]
    assert record_ending_soon(memory_db, DAY1) == 0  # a rerun the same day
    assert record_ending_soon(memory_db, DAY2) == 0  # the next day
    memory_db.execute("UPDATE awards SET end_date = '2026-09-12', potential_end_date = '2026-09-12'"
                      " WHERE award_key = 'CONT_AWD_ENDS_7014_-NONE-_-NONE-'")  # fmt: skip
    assert record_ending_soon(memory_db, DAY2) == 1
    assert ending(memory_db)[-1] == ("ENDS", "2026-09-12", DAY2)
    # A --now before the latest change writes nothing (a digest's watermark is an id: ids must follow time);
    # the next run at a later time records it.
    memory_db.execute("UPDATE awards SET end_date = '2026-09-14', potential_end_date = '2026-09-14'"
                      " WHERE award_key = 'CONT_AWD_ENDS_7014_-NONE-_-NONE-'")  # fmt: skip
    assert record_ending_soon(memory_db, DAY1) == 0
    assert record_ending_soon(memory_db, DAY2) == 1
    # A date already past is never announced; one further than 30 days waits.
    assert record_ending_soon(memory_db, "2026-10-15T12:00:00Z") == 0
    assert record_ending_soon(memory_db, "2026-11-05T12:00:00Z") == 1  # NOPOTENTIAL ends 2026-12-01


CONFIG = """\
settings:
  seeds_dir: {seeds}
  site_url: https://watch.example.org
watches:
  w:
    agencies: [ice]
    vendors: [palantir]
subscribers:
  s:
    email: s@example.org
{extra}"""


def config_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "queries.yaml"
    path.write_text(CONFIG.format(seeds=SEEDS, extra=extra))
    return path


@pytest.mark.parametrize(("value", "words"), [("0", "greater than or equal to 1"), ("soon", "integer")])
def test_lookahead_days_mistakes_name_file_line_and_key(tmp_path: Path, value: str, words: str) -> None:
    path = config_file(tmp_path, f"    lookahead_days: {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}:11: subscribers.s.lookahead_days"), str(err.value)
    assert words in str(err.value)


def test_lookahead_days_is_off_by_default_and_kinds_accepts_ending_soon(tmp_path: Path) -> None:
    config = load_config(config_file(tmp_path, "    kinds: [ending_soon]\n"))
    assert config.subscribers["s"].lookahead_days is None
    assert config.subscribers["s"].kinds == ["ending_soon"]


def test_the_digest_says_the_alert_once_and_lists_the_coming_dates_escaped(memory_db: Any, tmp_path: Path) -> None:
    seed(memory_db)
    config = load_config(config_file(tmp_path, "    lookahead_days: 30\n"))
    sub = config.subscribers["s"]
    record_ending_soon(memory_db, DAY1)
    changes = digest_build.select_changes(memory_db, "s", sub, ["w"], 0, 10**9)
    dg = digest_build.build(memory_db, config, "s", sub, changes, now=DAY1)
    assert dg.summary.startswith("2 awards ending soon")
    assert sorted(i.headline for i in dg.items) == [
        f"{HOSTILE}: ICE delivery order ENDS ends on 2026-09-10, with no option left to extend it",
        "AMAZON WEB SERVICES, INC.: ICE IDC VEHICLE takes its last orders on 2026-09-05",
    ]
    assert [(c.date, c.date_kind) for c in dg.coming_up] == [
        ("2026-09-05", "last_order"),
        ("2026-09-10", "end"),
        ("2026-09-18", "next_option"),
    ]
    out = render.render(environment(), dg)
    text = " ".join(out.text.split())
    assert "Coming up in the next 30 days" in text
    assert "* 2026-09-18: current period ends: next option due: PALANTIR TECHNOLOGIES INC.: ICE delivery order" in text
    assert "in 29 days" in text and "vendor: Palantir Technologies" in text
    assert "<script>" not in out.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html
    assert out.html.count("ends on 2026-09-10") == 1  # the alert; the section lists the date, not the alert

    # Without lookahead_days there is no section; the alert still comes.
    plain = config.subscribers["s"].model_copy(update={"lookahead_days": None})
    dg = digest_build.build(memory_db, config, "s", plain, changes, now=DAY1)
    assert dg.coming_up == [] and "Coming up" not in render.render(environment(), dg).text
    assert len(dg.items) == 2


def build_site(tmp_path: Path, now: str, full: bool = True) -> Path:
    db_path = tmp_path / "w.db"
    db = store.open_db(db_path)
    if not db.execute("SELECT count(*) FROM awards").fetchone()[0]:
        seed(db)
    config = load_config(config_file(tmp_path))
    out = tmp_path / "site"
    site_build.build(db, config, out, now=now, full=full, search=False)
    return out


def events(ics: bytes) -> dict[str, Any]:
    cal = icalendar.Calendar.from_ical(ics)
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


def test_the_ics_feed_parses_has_all_day_events_with_stable_uids_and_escaped_text(tmp_path: Path) -> None:
    out = build_site(tmp_path, DAY1)
    first = events((out / "coming-up.ics").read_bytes())
    # one event per date from 90 days ago to two years ahead: all but the vehicle's 2031 potential end
    assert len(first) == 6
    assert "2031-01-31" not in {e.decoded("dtstart").isoformat() for e in first.values()}
    by_day = {(e.decoded("dtstart").isoformat(), str(e["summary"]).split(":")[0]): e for e in first.values()}
    hostile = by_day[("2026-09-10", "Ends (no option left)")]
    assert hostile.decoded("dtend").isoformat() == "2026-09-11"  # all-day: a date, ending the next day
    assert str(hostile["summary"]) == f"Ends (no option left): {HOSTILE}: ICE delivery order ENDS"
    assert "https://watch.example.org/awards/CONT_AWD_ENDS_7014_-NONE-_-NONE-.html" in str(hostile["description"])
    assert "days" not in str(hostile["description"])  # nothing relative to the build day: events stay as they are
    assert str(hostile["url"]) == "https://watch.example.org/awards/CONT_AWD_ENDS_7014_-NONE-_-NONE-.html"
    raw = (out / "coming-up.ics").read_text()
    assert "\\;" in raw and "\\," in raw  # RFC 5545 escaping of the text, not the raw punctuation
    # A later build (another day) keeps every UID; a moved date is a new event, the old one gone.
    db = store.open_db(tmp_path / "w.db")
    db.execute("UPDATE awards SET end_date = '2026-09-12', potential_end_date = '2026-09-12'"
               " WHERE award_key = 'CONT_AWD_ENDS_7014_-NONE-_-NONE-'")  # fmt: skip
    out = build_site(tmp_path, DAY2)
    second = events((out / "coming-up.ics").read_bytes())
    assert len(set(first) & set(second)) == 5
    assert [e.decoded("dtstart").isoformat() for u, e in second.items() if u not in first] == ["2026-09-12"]


def test_the_page_and_atom_feed_list_the_dates_escaped_and_stable(tmp_path: Path) -> None:
    out = build_site(tmp_path, DAY1)
    page = (out / "coming-up.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="coming-up.ics"' in page and 'href="coming-up.xml"' in page
    assert "In the next 30 days (3)" in page and "UNWATCHED" not in page
    assert 'href="../coming-up.html"' in (out / "awards" / "CONT_AWD_ENDS_7014_-NONE-_-NONE-.html").read_text()
    feed = feedparser.parse((out / "coming-up.xml").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    titles = [e.title for e in feed.entries]
    assert f"2026-09-10: ends (no option left): {HOSTILE}: ICE delivery order ENDS" in titles
    assert len(titles) == 5  # the dates of the next 180 days
    ids = {e.id for e in feed.entries}
    out = build_site(tmp_path, DAY2, full=False)  # an incremental build with no change rewrites the page
    again = feedparser.parse((out / "coming-up.xml").read_bytes())
    assert {e.id for e in again.entries} == ids
    assert "As of 2026-08-21." in (out / "coming-up.html").read_text()
    # The same day, an incremental build rewrites the page only when a change may have moved a date.
    db = store.open_db(tmp_path / "w.db")
    db.execute("UPDATE awards SET end_date = '2026-09-12', potential_end_date = '2026-09-12'"
               " WHERE award_key = 'CONT_AWD_ENDS_7014_-NONE-_-NONE-'")  # fmt: skip
    db.execute("INSERT INTO changes (detected_at, kind, entity_key, award_key, diff) VALUES (?, 'award_changed', ?, ?,"
               " '{\"description\": [\"A\", \"B\"]}')", [DAY2, ENDS, ENDS])  # fmt: skip
    build_site(tmp_path, "2026-08-21T13:00:00Z", full=False)
    assert "2026-09-12" not in (out / "coming-up.html").read_text()
    db.execute("INSERT INTO changes (detected_at, kind, entity_key, award_key, diff) VALUES (?, 'award_changed', ?, ?,"
               " '{\"end_date\": [\"2026-09-10\", \"2026-09-12\"]}')", [DAY2, ENDS, ENDS])  # fmt: skip
    build_site(tmp_path, "2026-08-21T14:00:00Z", full=False)
    assert "2026-09-12" in (out / "coming-up.html").read_text()


def test_export_coming_up_filters_on_the_date(memory_db: Any) -> None:
    seed(memory_db)
    buf = io.StringIO()
    n = export.export(memory_db, "coming_up", "csv", export.Filters(since="2026-09-01", until="2026-09-30"), buf)
    assert n == 3
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("award_key,date_kind,date,piid")
    assert {line.split(",")[2] for line in lines[1:]} == {"2026-09-05", "2026-09-10", "2026-09-18"}


def test_an_incremental_build_rewrites_the_calendar_only_when_an_event_changes(tmp_path: Path) -> None:
    """A new day's build leaves an unchanged .ics as it is (same bytes, DTSTAMP included: the time it was
    written); a moved date rewrites it, with the new event and a new digest of what the events say."""
    out = build_site(tmp_path, DAY1)
    ics = out / "coming-up.ics"
    before, stat = ics.read_bytes(), ics.stat()
    assert b"X-WATCHER-EVENTS:" in before
    out = build_site(tmp_path, DAY2, full=False)  # the next day, nothing changed
    assert ics.read_bytes() == before and ics.stat().st_ino == stat.st_ino
    db = store.open_db(tmp_path / "w.db")
    db.execute("UPDATE awards SET end_date = '2026-09-12', potential_end_date = '2026-09-12'"
               " WHERE award_key = ?", [ENDS])  # fmt: skip
    db.execute("INSERT INTO changes (detected_at, kind, entity_key, award_key, diff) VALUES (?, 'award_changed', ?, ?,"
               " '{\"end_date\": [\"2026-09-10\", \"2026-09-12\"]}')", [DAY2, ENDS, ENDS])  # fmt: skip
    build_site(tmp_path, "2026-08-21T14:00:00Z", full=False)
    after = ics.read_bytes()
    assert after != before and "2026-09-12" in {e.decoded("dtstart").isoformat() for e in events(after).values()}
    digest = [line for line in after.decode().replace("\r\n ", "").splitlines() if line.startswith("X-WATCHER-")]
    assert len(digest) == 1 and digest[0] not in before.decode().replace("\r\n ", "")
