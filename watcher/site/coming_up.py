"""The site's "Coming up" page: the watched awards' end, option and last order dates, with Atom and iCalendar feeds.

``coming-up.html`` lists the dates of the next year, by how soon; ``coming-up.xml`` (Atom) has
an entry per date of the next ``FEED_DAYS``; ``coming-up.ics`` has an all-day event per date
from ``ICS_PAST_DAYS`` ago on, so a campaign can subscribe to it in any calendar app.

Both feeds are pure functions of the database and the build's day: an entry's id and an
event's UID name the award, the kind of date and the date (``ahead.event_uid``), so a rebuild
changes neither, and a moved date is a new entry. Atom ``updated`` is the day the date
entered the feed's window (never the build time, which would make readers show it again).
The iCalendar text is written by the ``icalendar`` package, which escapes and folds it (RFC 5545).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import icalendar
from sqlite_utils import Database

from watcher import ahead, links
from watcher.store import coming_up

if TYPE_CHECKING:
    from watcher.site.pages import Site

#: The page lists this many days ahead, in these bands (days from today, inclusive).
PAGE_DAYS = 365
BANDS = ((0, 30, "In the next 30 days"), (31, 90, "In 31 to 90 days"), (91, 180, "In 91 to 180 days"),
         (181, PAGE_DAYS, "In 6 to 12 months"))  # fmt: skip
#: The page lists at most this many dates per band (the soonest); the rest are in the CSV download.
BAND_ROWS = 500
#: The Atom feed's window: a date appears as an entry once it is this close; at most FEED_ENTRIES (the soonest).
FEED_DAYS = 180
FEED_ENTRIES = 200
#: The calendar keeps dates this long after they passed (a calendar app would drop them otherwise).
ICS_PAST_DAYS = 90
#: The calendar's events run this far ahead, at most ICS_EVENTS of them (the earliest): writing an
#: event costs about 0.7 ms (bench/RESULTS.md), and no calendar app wants tens of thousands.
ICS_DAYS = 2 * 365
ICS_EVENTS = 2000
PRODID = "-//watcher//Coming up//EN"
#: The calendar's own property holding :func:`events_digest` (X- properties are ignored by calendar apps).
EVENTS_PROPERTY = "X-WATCHER-EVENTS"


def write(site: Site) -> None:
    """Write ``coming-up.html``, ``coming-up.xml`` and ``coming-up.ics`` into the build.

    Each reads only the rows it shows (the soonest, with a LIMIT) and counts the rest: at 100k
    awards, reading a year of dates as rows cost 1.6 s of the page's 3.6 s (bench/RESULTS.md).
    """
    today = site.now[:10]
    root_url = site.config.settings.site_url

    def words(rows: list[dict[str, Any]]) -> list[ahead.Coming]:  # only the rows shown are worded
        return [ahead.coming(r, site.abbr, root_url, today, site.vendor_names) for r in rows]

    day = date.fromisoformat(today)
    bands = []
    for lo, hi, label in BANDS:  # the soonest rows of each band, and how many it holds in all
        start = (day + timedelta(days=lo)).isoformat()
        band = coming_up.upcoming(site.db, start, hi - lo, limit=BAND_ROWS)
        bands.append((label, [_row(c) for c in words(band)], coming_up.count_upcoming(site.db, start, hi - lo)))
    site.render(
        "coming-up.html",
        "coming_up.html",
        title="Coming up",
        today=today,
        bands=bands,
        date_words=ahead.DATE_WORDS,
        feed="coming-up.xml",
        ics="coming-up.ics",
    )
    soon = coming_up.upcoming(site.db, today, FEED_DAYS, limit=FEED_ENTRIES)
    site.w.write("coming-up.xml", _atom(site, words(soon)))
    start = (day - timedelta(days=ICS_PAST_DAYS)).isoformat()
    events = words(coming_up.upcoming(site.db, start, ICS_PAST_DAYS + ICS_DAYS, limit=ICS_EVENTS))
    said = events_digest(events, root_url)
    if stored_digest(site.w.root / "coming-up.ics") != said:  # a new day alone seldom changes an event
        site.w.write("coming-up.ics", calendar(events, site.now, root_url, said))


def events_digest(events: list[ahead.Coming], site_url: str | None) -> str:
    """A hash of everything the calendar's events say: the feed is rewritten only when it changes.

    Writing 2,000 events costs about 0.7 s (``icalendar``), and a new day's first incremental
    build would otherwise spend it every day on an unchanged calendar (bench/RESULTS.md). An
    event's ``DTSTAMP`` stays the time its calendar was last written, as RFC 5545 has it.
    """
    said = [[c.uid, c.date, c.what, c.headline, c.facts, c.description, c.official_url, c.page_url] for c in events]
    return hashlib.sha256(json.dumps([site_url, said]).encode()).hexdigest()


def stored_digest(path: Path) -> str | None:
    """The events digest a written calendar carries (``X-WATCHER-EVENTS``, among its first lines), if any."""
    try:
        with path.open(encoding="utf-8") as fh:
            head = fh.read(2048)
    except OSError:
        return None
    for line in head.replace("\r\n ", "").replace("\n ", "").splitlines():  # unfold (RFC 5545 folds at 75)
        if line.startswith(f"{EVENTS_PROPERTY}:"):
            return line.split(":", 1)[1].strip()
    return None


def dates_changed(db: Database, since: int) -> bool:
    """Whether a change after ``since`` may have moved a date of the page: a new or deleted award, a date field.

    An incremental build rewrites the page when this says so, or on the first build of a new day
    (its "in N days" and its windows count from today); otherwise it costs nothing (at 100k
    awards the page and feeds take seconds, bench/RESULTS.md, and incremental builds aim at 3 s).
    """
    return (
        db.execute(
            "SELECT 1 FROM changes WHERE id > ? AND (kind IN ('new_award', 'deleted', 'ending_soon')"
            " OR diff LIKE '%end_date%' OR diff LIKE '%last_date_to_order%') LIMIT 1",
            [since],
        ).fetchone()
        is not None
    )


def _row(c: ahead.Coming) -> dict[str, Any]:
    return {**c.__dict__, "local_page": _local_page(c.award_key)}


def _local_page(award_key: str) -> str:
    return f"awards/{links.safe_name(award_key)}.html"


def _atom(site: Site, dates: list[ahead.Coming]) -> str:
    root_url = site.config.settings.site_url
    entries = []
    for c in dates:
        entered = (date.fromisoformat(c.date) - timedelta(days=FEED_DAYS)).isoformat() + "T00:00:00Z"
        page = c.page_url or (f"{root_url}/{_local_page(c.award_key)}" if root_url else _local_page(c.award_key))
        entries.append(
            {
                "headline": f"{c.date}: {c.what}: {c.headline}",
                "atom_id": f"urn:uuid:{c.uid.split('@')[0]}",
                "detected_at": min(entered, site.now),
                "url": page,
                "summary": "; ".join([*c.facts, c.description] if c.description else c.facts),
            }
        )
    entries.sort(key=lambda e: (e["detected_at"], e["atom_id"]), reverse=True)
    return site.templates["feed.xml"].render(
        title="watcher: coming up",
        feed_id="urn:uuid:" + ahead.event_uid("feed", "coming-up", "xml").split("@")[0],
        updated=entries[0]["detected_at"] if entries else site.now,
        self_url=f"{root_url}/coming-up.xml" if root_url else "coming-up.xml",
        page_url=f"{root_url}/coming-up.html" if root_url else "coming-up.html",
        entries=entries,
    )


def calendar(events: list[ahead.Coming], now: str, site_url: str | None, digest: str | None = None) -> str:
    """An iCalendar (RFC 5545) text with one all-day event per date; text escaped by ``icalendar``."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", "watcher: coming up")
    if digest:
        cal.add(EVENTS_PROPERTY.lower(), digest)
    stamp = icalendar.vDatetime.from_ical(now.replace("-", "").replace(":", ""))
    for c in events:
        day = date.fromisoformat(c.date)
        ev = icalendar.Event()
        ev.add("uid", c.uid)
        ev.add("dtstamp", stamp)
        ev.add("dtstart", day)
        ev.add("dtend", day + timedelta(days=1))
        ev.add("summary", f"{c.what[:1].upper()}{c.what[1:]}: {c.headline}")
        page = c.page_url or (f"{site_url}/{_local_page(c.award_key)}" if site_url else None)
        lines = [*c.facts, c.description, f"Official record: {c.official_url}"]
        if page:
            lines.append(f"On the site: {page}")
        ev.add("description", "\n".join(x for x in lines if x))
        ev.add("url", page or c.official_url)
        ev.add("transp", "TRANSPARENT")  # a reminder, not a busy day
        cal.add_component(ev)
    return cal.to_ical().decode("utf-8")
