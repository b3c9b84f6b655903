"""The site's money figures: at least this much, per fiscal year and path, from the actions tied to vendors.

Every figure sums contract actions tied to a watched vendor (the ``attributions`` table and
its views, rules in watcher/attribution.py), never whole awards: an award that names a
vendor in one modification counts that modification only. So each figure is a lower
bound, and the pages say "at least". An action tied to two vendors counts for each on
their own pages, and once on agency, watch and home pages.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from markupsafe import Markup
from sqlite_utils import Database

from watcher.site.charts import Series, stacked_bars
from watcher.values import MAX_AMOUNT
from watcher.words import clean

RESELLER_BARS = 12

#: How the money reached a vendor, in the words the site uses (the order is the table's).
PATH_WORDS = {
    "direct": "To the vendor",
    "vehicle": "Under its vehicles",
    "reviewed": "Confirmed by review",
    "reseller": "Named in a reseller's order",
    "subaward": "As a subcontractor",
}
#: Each path's fill in the charts (distinct in hue and lightness, each at least 3:1 against white).
PATH_COLORS = {
    "direct": "#5a2a82",
    "vehicle": "#0b57a4",
    "reviewed": "#1a6b3c",
    "reseller": "#b35c00",
    "subaward": "#6b6b63",
}
FISCAL_YEAR = "(CAST(substr(t.action_date, 1, 4) AS INTEGER) + (CAST(substr(t.action_date, 6, 2) AS INTEGER) >= 10))"

YearSplit = tuple[int, Decimal, dict[str, Decimal]]


def by_fiscal_year(db: Database, where: str, args: list[Any], vendor: str | None = None) -> list[YearSplit]:
    """(fiscal year, total, {path: amount}) over the awards ``where`` selects (alias ``a``).

    For ``vendor``, the actions tied to that vendor; otherwise each action tied to any vendor, once.
    """
    tied = "(SELECT transaction_key, path FROM vendor_actions WHERE vendor = ?) v" if vendor else "tied_actions v"
    rows = db.execute(
        # Only possible money is summed: a database from before amounts were checked may hold Infinity.
        f"SELECT {FISCAL_YEAR} AS fy, v.path, sum(CASE WHEN abs(t.obligation) <= {MAX_AMOUNT} THEN t.obligation END)"
        f" FROM {tied}"
        " JOIN transactions t ON t.transaction_key = v.transaction_key JOIN awards a ON a.award_key = t.award_key"
        f" WHERE {where} AND t.action_date IS NOT NULL GROUP BY fy, v.path ORDER BY fy",
        [vendor, *args] if vendor else args,
    ).fetchall()
    if vendor:  # subawards to the vendor under primes whose actions do not already count for it
        rows += db.execute(
            f"SELECT {FISCAL_YEAR.replace('t.action_date', 'action_date')} AS fy, 'subaward', sum(amount)"
            " FROM vendor_subawards WHERE vendor = ? AND action_date IS NOT NULL GROUP BY fy",
            [vendor],
        ).fetchall()
    years: dict[int, dict[str, Decimal]] = {}
    for y, path, v in rows:
        years.setdefault(int(y), {})[path] = Decimal(str(round(v or 0, 2)))
    return [(y, sum(p.values(), Decimal(0)), p) for y, p in sorted(years.items())]


def path_series(paths: list[str]) -> list[Series]:
    """The chart layers for these paths, in the table's order."""
    return [Series(p, PATH_WORDS[p], PATH_COLORS[p]) for p in PATH_WORDS if p in paths]


def chart(fy: list[YearSplit], title: str, vendor_name: str | None, ident: str = "chart-fy") -> dict[str, Any] | None:
    """The listing's chart and table: total per year, and one column per path that has money."""
    if not fy:
        return None
    paths = [p for p in PATH_WORDS if any(p in split for _, _, split in fy)]
    who = vendor_name or "the watched vendors"
    return {
        "svg": stacked_bars(
            [(f"FY{y}", split) for y, _, split in fy],
            path_series(paths),
            ident=ident,
            title=f"{title}: money obligated by fiscal year, at least",
            desc="One bar per federal fiscal year, split by the path the money took; the numbers, including"
            " money taken back (not drawn), are in the table that follows.",
        ),
        "rows": [(y, total, [split.get(p) for p in paths]) for y, total, split in fy],
        "paths": [PATH_WORDS[p] for p in paths],
        "caption": f"At least this much: the sum of the contract actions tied to {who}, by federal fiscal year"
        " (October to September). An award that names a vendor in one modification counts that modification"
        " only; an action tied to two vendors counts once here.",
    }


def resellers_chart(rows: list[dict[str, Any]], vendor_name: str) -> Markup:
    """The resellers a vendor's money flows through, largest first: one bar each (the table has them all)."""
    bars = [
        (clean(r["recipient_name"], 36) or "unknown", {"reseller": Decimal(str(round(r["total"] or 0, 2)))})
        for r in rows[:RESELLER_BARS]
    ]
    return stacked_bars(
        bars,
        path_series(["reseller"]),
        ident="chart-resellers",
        title=f"Money tied to {vendor_name} through each reseller, at least",
        desc=f"One bar per recipient whose orders name {vendor_name}, largest first (at most {RESELLER_BARS});"
        " the table that follows has every reseller and the exact amounts.",
    )


def resellers(db: Database, vendor: str) -> list[dict[str, Any]]:
    """The money tied to ``vendor`` by text only (path reseller), per recipient: at least this much."""
    return list(
        db.query(
            "SELECT a.recipient_name, count(DISTINCT a.award_key) AS awards, sum(t.obligation) AS total"
            " FROM vendor_actions v JOIN transactions t ON t.transaction_key = v.transaction_key"
            " JOIN awards a ON a.award_key = t.award_key WHERE v.vendor = ? AND v.path = 'reseller'"
            " GROUP BY a.recipient_name ORDER BY total DESC",
            [vendor],
        )
    )
