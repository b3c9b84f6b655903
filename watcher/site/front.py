"""The home page as a front page: money per vendor this and last fiscal year, the biggest recent changes, what is
coming up, freshness.

Pure shaping of numbers the site already computes (``money.by_fiscal_year`` per vendor, the
same figures as the vendor pages, so the two always agree) plus two small reads: the
changes of the last days with the largest amounts, and the latest runs per source. Every
money figure is a lower bound (see watcher/site/money.py) and links to the vendor page's
table row it comes from.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from watcher import ahead, links
from watcher.site.charts import stacked_bars
from watcher.site.money import PATH_WORDS, YearSplit, path_series
from watcher.site.pages import FEED_ENTRIES, Site
from watcher.store import coming_up
from watcher.words import SOURCE_LABELS, clean, when

#: How far back "recent" reaches for the biggest changes, and how many are listed.
RECENT_DAYS = 30
BIGGEST = 8
#: How far ahead the home page looks for end, option and last order dates, and how many it lists
#: (the soonest; the Coming up page has them all).
AHEAD_DAYS = 90
AHEAD = 8
#: Fiscal years in the home chart (the current one and the ones before it).
CHART_YEARS = 5


def fiscal_year(day: str) -> int:
    """The federal fiscal year of an ISO date or timestamp: FY2026 runs 2025-10-01 to 2026-09-30."""
    return int(day[:4]) + (int(day[5:7]) >= 10)


def vendor_page(vendor: str) -> str:
    return f"vendors/{links.safe_name(vendor)}.html"


def headline(years: dict[str, list[YearSplit]], names: dict[str, str], now: str) -> list[dict[str, Any]]:
    """One table per fiscal year (the current one, then the previous): each vendor's total and its paths."""
    current = fiscal_year(now)
    tables = []
    for fy in (current, current - 1):
        splits = {v: next((split for y, _, split in ys if y == fy), {}) for v, ys in years.items()}
        paths = [p for p in PATH_WORDS if any(p in s for s in splits.values())]
        rows = [
            {
                "vendor": names.get(v, v),
                "href": f"{vendor_page(v)}#fy-{fy}",
                "total": sum(s.values(), Decimal(0)) if s else None,
                "paths": [s.get(p) for p in paths],
            }
            for v, s in sorted(splits.items(), key=lambda kv: (names.get(kv[0]) or kv[0]).lower())
        ]
        tables.append(
            {
                "fy": fy,
                "span": f"October {fy - 1} to September {fy}",
                "so_far": fy == current,
                "paths": [PATH_WORDS[p] for p in paths],
                "rows": rows,
            }
        )
    return tables


def vendor_chart(years: dict[str, list[YearSplit]], names: dict[str, str], now: str) -> dict[str, Any] | None:
    """Every vendor's money for the last few fiscal years, stacked by path, with the table of the same numbers."""
    first = fiscal_year(now) - CHART_YEARS + 1
    rows = []
    for v in sorted(years, key=lambda k: (names.get(k) or k).lower()):
        for y, total, split in years[v]:
            if first <= y <= fiscal_year(now):
                rows.append((names.get(v, v), y, total, split, f"{vendor_page(v)}#fy-{y}"))
    if not rows:
        return None
    paths = [p for p in PATH_WORDS if any(p in r[3] for r in rows)]
    return {
        "svg": stacked_bars(
            [(f"{name} FY{y}", split) for name, y, _, split, _ in rows],
            path_series(paths),
            ident="chart-vendors",
            title=f"Money obligated to each watched vendor, FY{first} to FY{fiscal_year(now)}, at least",
            desc="One bar per vendor and federal fiscal year, split by the path the money took; the numbers,"
            " including money taken back (not drawn), are in the table that follows.",
        ),
        "paths": [PATH_WORDS[p] for p in paths],
        "rows": [
            {"vendor": name, "fy": y, "total": total, "paths": [split.get(p) for p in paths], "href": href}
            for name, y, total, split, href in rows
        ],
    }


def biggest_changes(db: Database, now: str, days: int = RECENT_DAYS, limit: int = BIGGEST) -> list[dict[str, Any]]:
    """The changes to awards detected in the last ``days`` that moved the most money (either way)."""
    since = (datetime.fromisoformat(now.replace("Z", "+00:00")) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return list(
        db.query(
            "SELECT * FROM changes WHERE detected_at >= ? AND detected_at <= ? AND award_key IS NOT NULL"
            " AND amount_delta IS NOT NULL AND amount_delta != 0"
            " AND kind NOT IN ('new_notice', 'notice_changed')"
            " AND +award_key IN (SELECT entity_key FROM matches)"  # +: scan the window by date, not every watched award
            " ORDER BY abs(amount_delta) DESC, id DESC LIMIT ?",
            [since, now, limit],
        )
    )


def coming(db: Database, now: str, abbr: dict[str, str], site_url: str | None, names: dict[str, str]) -> dict[str, Any]:
    """The soonest dates of the next ``AHEAD_DAYS`` (the ``coming_up`` view, worded as the Coming up page does)."""
    rows = coming_up.upcoming(db, now[:10], AHEAD_DAYS, limit=AHEAD)
    shown = [ahead.coming(r, abbr, site_url, now[:10], names) for r in rows]
    return {
        "days": AHEAD_DAYS,
        "rows": [{**c.__dict__, "local_page": f"awards/{links.safe_name(c.award_key)}.html"} for c in shown],
        "more": max(0, coming_up.count_upcoming(db, now[:10], AHEAD_DAYS) - len(rows)),
    }


def freshness(db: Database, watches: list[str], now: str) -> list[dict[str, Any]]:
    """Per source: when it last answered, when it was last asked, and whether that last poll failed."""
    if not watches:
        return []
    marks = ",".join("?" * len(watches))
    out = []
    for source, ok_at, last_id in db.execute(
        f"SELECT source, max(CASE WHEN status = 'ok' THEN finished_at END), max(id) FROM runs"
        f" WHERE watch IN ({marks}) AND started_at <= ? GROUP BY source ORDER BY source",
        [*watches, now],
    ).fetchall():
        started, status, error = db.execute(
            "SELECT started_at, status, error FROM runs WHERE id = ?", [last_id]
        ).fetchone()
        out.append(
            {
                "source": SOURCE_LABELS.get(source, source),
                "as_of": when(ok_at) if ok_at else "no successful poll yet",
                "last_poll": when(started),
                "failed": status == "error",
                "error": clean(error, 160) if status == "error" else "",
            }
        )
    return out


def write_home(site: Site) -> None:
    """The front page: money per vendor this and last fiscal year, biggest recent changes, freshness, links."""
    changes = site.changes_for("1=1", [])
    site.feed("feed.xml", "watcher: every change", "index.html", changes[:FEED_ENTRIES])
    vendors = [r[0] for r in site.db.execute("SELECT DISTINCT vendor FROM matches WHERE vendor != '' ORDER BY 1")]
    agencies = site.held_agencies()
    counts = dict(site.db.execute("SELECT vendor, count(DISTINCT entity_key) FROM matches GROUP BY vendor"))
    watches = [(n, f"watches/{links.safe_name(n)}.html", w.description) for n, w in site.config.watches.items()]
    vendor_links = [
        (site.vendor_names.get(v, v), f"vendors/{links.safe_name(v)}.html", f"{counts.get(v, 0)} awards")
        for v in vendors
    ]
    (notices,) = site.db.execute("SELECT count(*) FROM notices").fetchone()
    nav = [
        ("Watches", watches),
        *(
            [("SAM.gov notices", [("Coming buys and award notices", "notices.html", f"{notices} notices")])]
            if notices
            else []
        ),
        ("Vendors", vendor_links),
        ("Agencies", [(clean(a), site.agency_page(a), "") for a in agencies]),
    ]
    years = {v: site.vendor_years(v) for v in vendors}
    site.render(
        "index.html",
        "front.html",
        title="DHS contracts with big tech: what changed",
        intro="New awards and every change to them, for the vendors and agencies watched here.",
        feed="feed.xml",
        headline=headline(years, site.vendor_names, site.now),
        chart=vendor_chart(years, site.vendor_names, site.now),
        biggest=site.entries(biggest_changes(site.db, site.now), ""),
        recent_days=RECENT_DAYS,
        coming=coming(site.db, site.now, site.abbr, site.config.settings.site_url, site.vendor_names),
        freshness=freshness(site.db, list(site.config.watches), site.now),
        links=nav,
        changes=site.entries(changes, ""),
    )
