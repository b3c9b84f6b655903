"""The second shipped watch (dhs-surveillance-data) on every real ICE/CBP row in seeds/ice.

The expected rows are computed here with the test's own rule (company and product names,
as plain regexes over recipient and description), not with the watch's aliases and mentions;
the watch's matcher must find exactly those rows.
"""

from __future__ import annotations

import csv
import re
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from watcher.config import default_seeds_dir, load_config
from watcher.match import build_matcher
from watcher.models import Award

WATCH = "dhs-surveillance-data"
#: The test's own rule: which names in a row's recipient or description mean each vendor.
NAMES = {
    "lexisnexis": r"LEXIS ?NEXIS|\bRELX\b|ACCURINT",
    "thomson_reuters": r"THOMSON REUTERS",
    "motorola_solutions": r"MOTOROLA",
    "clearview_ai": r"CLEARVIEW",
    "babel_street": r"BABEL STREET",
    "penlink": r"PEN-?LINK",
    "cellebrite": r"CELLEBRITE",
    "magnet_forensics": r"MAGNET (FORENSICS|AXIOM)",
    "grayshift": r"GRAY ?KEY|GRAYSHIFT",
    "sayari": r"SAYARI",
    "shadowdragon": r"SHADOW ?DRAGON|SOCIALNET",
    "fivecast": r"FIVECAST",
    "skopenow": r"SKOPENOW",
    "cobwebs": r"COBWEBS",
    "giant_oak": r"GIANT OAK",
    "transunion": r"TRANS ?UNION",
    "equifax": r"EQUIFAX",
    "dataminr": r"DATAMINR",
    "zignal": r"ZIGNAL",
}


AGENCIES = {"U.S. IMMIGRATION AND CUSTOMS ENFORCEMENT": "ICE", "U.S. CUSTOMS AND BORDER PROTECTION": "CBP"}


def _row(r: dict[str, str]) -> dict[str, str]:
    """A row of either layout in seeds/ice: the dashboard's flattened search rows, or the torn-apart
    file's full contract-transaction rows (USAspending download columns)."""
    if "Recipient Name" in r:
        return r
    piid = r["award_id_piid"]
    return {
        "Agency": AGENCIES.get(r["awarding_sub_agency_name"].upper(), r["awarding_sub_agency_name"]),
        "Award ID": piid,
        "Recipient Name": r["recipient_name"],
        "Federal Action Obligation": r["federal_action_obligation"],
        "Modification": r["modification_number"],
        "Transaction Description": r["award_description"],
        "Generated Award ID": f"CONT_AWD_{piid}_-NONE-_-NONE-_-NONE-",
    }


def _rows() -> list[dict[str, str]]:
    """Every distinct row of every CSV file in seeds/ice (the snapshots repeat rows)."""
    seen: set[tuple[str, ...]] = set()
    rows = []
    for path in sorted(Path(default_seeds_dir(), "ice").rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                ident = tuple(r.values())
                if ident not in seen:
                    seen.add(ident)
                    rows.append(_row(r))
    return rows


def _expected(row: dict[str, str]) -> set[str]:
    text = f"{row['Recipient Name']} || {row['Transaction Description']}".upper()
    return {v for v, pattern in NAMES.items() if re.search(pattern, text)}


def test_the_watch_finds_exactly_the_rows_that_name_its_vendors() -> None:
    config = load_config(ROOT / "queries.yaml")
    watch = config.watches[WATCH]
    assert set(watch.vendors) == set(NAMES)  # the test's rule covers every vendor of the watch
    assert {a.abbreviation for a in watch.agencies} == {"ICE", "CBP"}
    matcher = build_matcher(watch, config.resellers)
    rows = _rows()
    assert len(rows) > 5000
    expected: dict[int, set[str]] = {}
    found: dict[int, set[str]] = {}
    for i, r in enumerate(rows):
        assert r["Agency"] in ("ICE", "CBP")
        award = Award(
            award_key=r["Generated Award ID"],
            recipient_name=r["Recipient Name"],
            description=r["Transaction Description"],
            total_obligation=Decimal(r["Federal Action Obligation"] or "0"),
        )
        if want := _expected(r):
            expected[i] = want
        if got := {m.vendor for m in matcher.match(award)}:
            found[i] = got
    missed = {rows[i]["Award ID"] + " " + rows[i]["Modification"]: v for i, v in expected.items() if found.get(i) != v}
    extra = {rows[i]["Award ID"] + " " + rows[i]["Modification"]: v for i, v in found.items() if i not in expected}
    assert missed == {} and extra == {}
    # every vendor of the watch is shown by at least one real row, and the watch is not a trivial one
    assert set().union(*found.values()) == set(NAMES)
    assert len(found) >= 100


def test_every_new_vendor_cites_rows_that_exist() -> None:
    """Each cited award id of the watch's vendors is in the file its evidence names (W21..W26, A26)."""
    config = load_config(ROOT / "queries.yaml")
    base = Path(default_seeds_dir(), "ice", "wrags81_cbp_ice_dashboard")
    files = {
        f"W{y}": base / f"CBP_ICE_FY20{y}_Contract_Obligations__vendor_subset__commit15b1aa27.csv"
        for y in range(21, 27)
    }
    files["A26"] = base / "snapshots_fy2026" / "FY2026__ICE_all_rows__commit15b1aa27__2026-08-22.csv"
    cited = 0
    for key in NAMES:
        vendor = config.vendors[key]
        assert vendor.evidence, key
        for line in vendor.evidence:
            for tag, award_id in re.findall(r"\b(W2\d|A26),? ([0-9A-Z]{13,17})\b", line):
                assert award_id in files[tag].read_text(encoding="utf-8"), (key, tag, award_id)
                cited += 1
    assert cited >= len(NAMES)


def test_the_demo_runs_both_watches_and_the_site_shows_both(demo_db: Path) -> None:
    with sqlite3.connect(demo_db) as conn:
        ran = {w for (w,) in conn.execute("SELECT DISTINCT watch FROM runs WHERE status = 'ok'")}
        assert ran == {"dhs-big-tech", WATCH}
        found = {v for (v,) in conn.execute("SELECT DISTINCT vendor FROM matches WHERE watch = ?", [WATCH])}
    # the demo replays the vendor-subset captures, where these vendors appear through resellers' orders
    assert {"cellebrite", "penlink", "babel_street", "grayshift", "magnet_forensics"} <= found
    site = demo_db.parent / "demo-site"
    assert f'href="watches/{WATCH}.html"' in (site / "index.html").read_text()
    page = (site / "watches" / f"{WATCH}.html").read_text()
    assert "Babel Street" in page and "PenLink" in page
    assert (site / "vendors" / "cellebrite.html").exists()


def test_an_award_two_watches_hold_keeps_each_watchs_attributions_current(memory_db: Any) -> None:
    """Watch A rewrites an award's actions (it reads a reseller order that watch B matched): B's honest
    totals must include the new action, though B did not write this page."""
    from watcher import store
    from watcher.models import Match

    db = memory_db
    db["vendors"].insert({"vendor": "cellebrite", "name": "Cellebrite", "mentions": '["CELLEBRITE"]'})
    key = "CONT_AWD_70B06C21F00001052_7014_-NONE-_-NONE-"
    db["awards"].insert({"award_key": key, "recipient_name": "CARAHSOFT TECHNOLOGY CORP", "description": "LICENSES"})
    tx = {"award_key": key, "obligation": 100.0, "action_date": "2021-09-01"}
    db["transactions"].insert({**tx, "transaction_key": "T0", "modification_number": "0", "description": "CELLEBRITE"})
    store.replace_matches(db, WATCH, {key: [Match("cellebrite", "mention", "mentions 'CELLEBRITE'")]}, "2026-01-01")
    db["transactions"].insert(
        {**tx, "transaction_key": "T1", "modification_number": "P00001", "description": "CELLEBRITE"}
    )
    store.replace_matches(db, "dhs-big-tech", {key: []}, "2026-01-02")  # the other watch's page: no match of its own
    tied = {t for (t,) in db.execute("SELECT transaction_key FROM attributions WHERE watch = ?", [WATCH])}
    assert tied == {"T0", "T1"}
