"""The site's SVG charts and front-page figures as pure functions: accessible, escaped, drawing the numbers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

from watcher.site import award_view, front
from watcher.site.charts import Series, Step, stacked_bars, step_chart
from watcher.words import AWARD_LABELS

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert(1)</script>"&'


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # well-formed XML, or this raises


def test_stacked_bars_are_named_and_carry_each_amount_escaped() -> None:
    series = [Series("direct", "To the vendor", "#5a2a82"), Series("reseller", EVIL, "#b35c00")]
    rows = [
        (f"{EVIL} FY2026", {"direct": Decimal("10.50"), "reseller": Decimal("2.25")}),
        ("FY2025", {"direct": Decimal("-3.00"), "reseller": Decimal("7")}),
    ]
    svg = stacked_bars(rows, series, ident="c1", title=f"Title {EVIL}", desc="Desc")
    assert "<script>" not in svg
    root = _parse(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").text == f"Title {EVIL}"
    drawn = {(r.get("data-row"), r.get("data-series")): r.get("data-value") for r in root.iter(f"{SVG}rect")}
    drawn.pop((None, None), None)  # legend swatches carry no value
    assert drawn == {
        (f"{EVIL} FY2026", "direct"): "10.50",
        (f"{EVIL} FY2026", "reseller"): "2.25",
        ("FY2025", "reseller"): "7.00",  # money taken back (-3.00) is in the table, not drawn
    }
    widths = {r.get("data-value"): float(r.get("width")) for r in root.iter(f"{SVG}rect") if r.get("data-value")}
    assert widths["10.50"] > widths["7.00"] > widths["2.25"]  # longer bars for more money


def test_stacked_bars_of_nothing_draw_nothing() -> None:
    assert stacked_bars([], [], ident="x", title="t", desc="d") == ""


def test_step_chart_climbs_at_each_action_and_draws_the_ceiling() -> None:
    steps = [
        Step(date(2024, 1, 1), "base", Decimal(100), Decimal(100)),
        Step(date(2024, 6, 1), "P00001", Decimal(50), Decimal(150)),
        Step(date(2025, 1, 1), EVIL, Decimal(-30), Decimal(120)),
    ]
    root = _parse(step_chart(steps, Decimal(400), ident="a", title="t", desc="d"))
    dots = [c for c in root.iter(f"{SVG}circle")]
    assert [c.get("data-value") for c in dots] == ["100.00", "150.00", "120.00"]
    ys = [float(c.get("cy")) for c in dots]
    assert ys[1] < ys[2] < ys[0]  # higher totals are drawn higher
    xs = [float(c.get("cx")) for c in dots]
    assert xs == sorted(xs)
    (ceiling,) = [e for e in root.iter(f"{SVG}line") if e.get("data-series") == "ceiling"]
    assert ceiling.get("data-value") == "400.00" and float(ceiling.get("y1")) < min(ys)
    assert dots[2].find(f"{SVG}title").text.startswith(EVIL)


def test_fiscal_years_start_in_october() -> None:
    assert front.fiscal_year("2025-09-30") == 2025
    assert front.fiscal_year("2025-10-01T00:00:00Z") == 2026


def test_headline_gives_this_and_last_year_per_vendor_with_their_paths() -> None:
    years = {
        "pal": [
            (2026, Decimal(5), {"direct": Decimal(5)}),
            (2025, Decimal(9), {"direct": Decimal(4), "reseller": Decimal(5)}),
        ],
        "aws": [(2024, Decimal(1), {"reseller": Decimal(1)})],
    }
    tables = front.headline(years, {"pal": "Palantir", "aws": "Amazon"}, "2026-08-22T12:00:00Z")
    assert [t["fy"] for t in tables] == [2026, 2025] and tables[0]["so_far"] and not tables[1]["so_far"]
    this, last = tables
    assert [(r["vendor"], r["total"]) for r in this["rows"]] == [("Amazon", None), ("Palantir", Decimal(5))]
    assert last["paths"] == ["To the vendor", "Named in a reseller's order"]
    assert last["rows"][1] == {
        "vendor": "Palantir",
        "href": "vendors/pal.html#fy-2025",
        "total": Decimal(9),
        "paths": [Decimal(4), Decimal(5)],
    }


def test_award_fields_are_labelled_and_formatted_one_way() -> None:
    a = {c: None for c in AWARD_LABELS}
    a.update(
        award_key="CONT_AWD_X",
        total_obligation=1234.5,
        end_date="2027-09-30",
        first_seen_at="2026-08-22T12:00:00Z",
        category="idv",
    )
    shown = {label: (column, value) for label, column, value in award_view.fields(a)}
    assert shown["Total obligated"] == ("total_obligation", "$1,234.50")
    assert shown["Ends"] == ("end_date", "2027-09-30")
    assert shown["First seen here"] == ("first_seen_at", "2026-08-22 12:00:00 UTC")
    assert shown["Parent company"] == ("parent_name", "not reported")
    assert shown["Contract or vehicle"][1].startswith("Vehicle")
    assert not any(re.search(r"[a-z]_[a-z]", label) for label in shown)  # no column name as a label


def test_biggest_changes_are_the_last_30_days_largest_amounts_either_way(memory_db) -> None:
    memory_db["matches"].insert_all(
        [{"watch": "w", "entity_key": k, "vendor": "pal", "reason": "uei"} for k in ("A", "B", "C", "D")],
        alter=True,
    )
    rows = [
        ("2026-08-20T00:00:00Z", "A", 5_000.0),
        ("2026-08-10T00:00:00Z", "B", -90_000.0),  # money taken back counts by its size
        ("2026-07-01T00:00:00Z", "C", 1_000_000.0),  # older than 30 days
        ("2026-08-21T00:00:00Z", "D", 0.0),  # moved nothing
        ("2026-08-21T00:00:00Z", "UNWATCHED", 7_000_000.0),  # no page on the site
        ("2026-08-23T00:00:00Z", "A", 9_000_000.0),  # after the build's clock
    ]
    memory_db["changes"].insert_all(
        [
            {"detected_at": at, "kind": "new_transaction", "entity_key": k, "award_key": k, "amount_delta": v}
            for at, k, v in rows
        ]
    )
    got = front.biggest_changes(memory_db, "2026-08-22T12:00:00Z")
    assert [(c["award_key"], c["amount_delta"]) for c in got] == [("B", -90_000.0), ("A", 5_000.0)]


def test_freshness_says_when_each_source_last_answered_and_why_its_last_poll_failed(memory_db) -> None:
    runs = [
        ("w", "usaspending", "2026-08-20T12:00:00Z", "ok", None),
        ("w", "usaspending", "2026-08-21T12:00:00Z", "error", "HTTP 503 <b>down</b>"),
        ("w", "sam_opportunities", "2026-08-21T12:00:00Z", "ok", None),
        ("other", "sam_awards", "2026-08-21T12:00:00Z", "ok", None),  # a watch no longer configured
    ]
    memory_db["runs"].insert_all(
        [
            {"watch": w, "source": s, "started_at": at, "finished_at": at, "status": st, "error": e}
            for w, s, at, st, e in runs
        ]
    )
    got = {f["source"]: f for f in front.freshness(memory_db, ["w"], "2026-08-22T12:00:00Z")}
    assert set(got) == {"USAspending", "SAM.gov"}
    assert got["USAspending"]["as_of"] == "2026-08-20 12:00:00 UTC"
    assert (
        got["USAspending"]["failed"] and got["USAspending"]["error"] == "HTTP 503 <b>down</b>"
    )  # escaped by the template
    assert got["SAM.gov"] == {
        "source": "SAM.gov",
        "as_of": "2026-08-21 12:00:00 UTC",
        "last_poll": "2026-08-21 12:00:00 UTC",
        "failed": False,
        "error": "",
    }


def test_money_over_time_is_drawn_only_when_there_is_a_story_over_time() -> None:
    """One action and no ceiling: nothing to draw (the contract actions table has it); two actions, or a ceiling,
    draw the steps, with a table row per dated action."""
    money_over_time = award_view.money_over_time
    base = {"action_date": "2021-06-21", "modification_number": "0", "obligation": 100.0}
    mod = {"action_date": "2022-01-05", "modification_number": "P00001", "obligation": 50.0}
    award = {"award_key": "CONT_AWD_X", "piid": "X", "potential_value": None}
    assert money_over_time(award, [base]) is None
    assert money_over_time(award, []) is None
    two = money_over_time(award, [mod, base])
    assert two is not None and [r[3] for r in two["rows"]] == [100, 150] and "<svg" in str(two["svg"])
    capped = money_over_time({**award, "potential_value": 400.0}, [base])
    assert capped is not None and capped["ceiling"] == 400 and len(capped["rows"]) == 1
