"""Honest totals: money attributed per contract action and path, the same in the view, the export and the site.

The expected figures are computed here from ``transactions`` and ``matches`` with a rule of
the test's own (whole-word mention words read from the seeds), not through the code's
attribution, so a wrong attribution cannot agree with itself.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import yaml
from click.testing import CliRunner

from watcher.attribution import attribute
from watcher.cli import cli
from watcher.match import mention_pattern
from watcher.models import Award, Match, Transaction

ROOT = Path(__file__).resolve().parent.parent
DIRECT = {"uei", "recipient", "parent"}


def cents(x: object) -> int:
    return int((Decimal(str(x or 0)) * 100).to_integral_value())


def expected(db: Path) -> tuple[dict[str, dict[str, int]], int]:
    """Per vendor and path, and for all vendors together, in cents, by the test's own rule."""
    seeds = yaml.safe_load((ROOT / "watcher" / "seeds" / "vendors.yaml").read_text())["vendors"]
    words = {
        v: re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, d["mentions"])) + r")(?![A-Za-z0-9])", re.I)
        for v, d in seeds.items()
    }
    with sqlite3.connect(db) as conn:
        reasons: dict[tuple[str, str], set[str]] = defaultdict(set)
        for key, vendor, reason in conn.execute("SELECT entity_key, vendor, reason FROM matches WHERE vendor != ''"):
            reasons[(key, vendor)].add(reason)
        txs = defaultdict(list)
        for tkey, akey, mod, desc, amount in conn.execute(
            "SELECT transaction_key, award_key, modification_number, description, obligation FROM transactions"
        ):
            txs[akey].append((tkey, mod, desc, amount))
        award_desc = dict(conn.execute("SELECT award_key, description FROM awards"))
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    tied: dict[str, int] = {}
    for (key, vendor), rs in reasons.items():
        actions = txs[key]
        if rs & DIRECT:
            chosen, path = actions, "direct"
        elif "vehicle" in rs or "reviewed" in rs:
            chosen, path = actions, "vehicle" if "vehicle" in rs else "reviewed"
        elif award_desc.get(key) and words[vendor].search(award_desc[key]):
            chosen, path = actions, "reseller"  # the order is for the vendor's product
        else:
            chosen, path = [a for a in actions if a[2] and words[vendor].search(a[2])], "reseller"
        for tkey, _, _, amount in chosen:
            per[vendor][path] += cents(amount)
            tied[tkey] = cents(amount)
    # Subawards to a vendor count for it unless their prime's actions already do (a dollar is not counted twice).
    with sqlite3.connect(db) as conn:
        subs = conn.execute(
            "SELECT DISTINCT m.vendor, s.subaward_key, s.prime_award_key, s.amount FROM matches m"
            " JOIN subawards s ON s.subaward_key = m.entity_key WHERE m.vendor != '' AND s.deleted_at IS NULL"
        ).fetchall()
    primes_of = {(k, v) for (k, v) in reasons}  # (award, vendor) pairs with tied money
    counted: dict[str, int] = {}
    for vendor, skey, prime, amount in subs:
        if (prime, vendor) in primes_of and per[vendor] and prime in txs:
            continue
        per[vendor]["subaward"] += cents(amount)
        if not any(p == prime for p, _ in primes_of):
            counted[skey] = cents(amount)
    return per, sum(tied.values()) + sum(counted.values())


def test_the_view_the_export_and_the_site_agree_to_the_cent_with_an_independent_count(demo_db: Path) -> None:
    per, all_vendors = expected(demo_db)
    assert per["amazon"]["reseller"] and per["palantir"]["direct"]  # the demo has both paths
    with sqlite3.connect(demo_db) as conn:
        view: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for vendor, path, obligated in conn.execute("SELECT vendor, path, obligated FROM obligations_by_vendor_fy"):
            view[vendor][path] += cents(obligated)
        (total,) = conn.execute("SELECT sum(obligated) FROM obligations_fy").fetchone()
        by_path = dict(
            conn.execute(
                "SELECT v.path, sum(t.obligation) FROM tied_actions v JOIN transactions t USING (transaction_key)"
                " GROUP BY v.path"
            ).fetchall()
        )
    assert {v: dict(p) for v, p in view.items()} == {v: dict(p) for v, p in per.items()}
    # All vendors together: each action once, and the paths add up to it.
    assert cents(total) == all_vendors == sum(cents(x) for x in by_path.values())
    assert all_vendors <= sum(sum(p.values()) for p in per.values())  # (two vendors on one action: unit test below)
    for vendor, paths in per.items():
        out = CliRunner().invoke(cli, ["--db", str(demo_db), "export", "obligations", "--vendor", vendor])
        assert out.exit_code == 0, out.output
        rows = list(csv.DictReader(io.StringIO(out.output)))
        assert sum(cents(r["obligation"]) for r in rows) == sum(paths.values()), vendor
        assert {r["vendor"] for r in rows} == {vendor}
    page = (demo_db.parent / "demo-site" / "vendors" / "amazon.html").read_text()
    shown = sum(
        int(m.replace(",", "").replace(".", ""))
        for m in re.findall(r"<tr id=\"fy-\d+\"><td>FY\d+</td><td class=\"num\">\$([\d,]+\.\d\d)</td>", page)
    )
    assert shown == sum(per["amazon"].values())
    assert "At least" in page and "Named in a reseller" in page


def test_a_reseller_order_counts_only_the_actions_that_name_the_vendor() -> None:
    tx = [
        Transaction("T0", "A", "0", obligation=Decimal("9000"), description="CLOUD HOSTING"),
        Transaction("T7", "A", "P00007", obligation=Decimal("700"), description="AWS GOVCLOUD HOSTING"),
        Transaction("T8", "A", "P00008", obligation=Decimal("5"), description="AZURE AND AWS"),
    ]
    patterns = {"amazon": mention_pattern(["AWS"]), "microsoft": mention_pattern(["AZURE"])}
    award = Award("A", description="CLOUD HOSTING")
    mention = [Match("amazon", "mention", "…"), Match("microsoft", "mention", "…")]
    assert attribute(award, tx, mention, patterns) == [
        ("amazon", "T7", "reseller"),
        ("amazon", "T8", "reseller"),
        ("microsoft", "T8", "reseller"),
    ]
    # A direct match takes every action; the strongest path wins when a vendor has several.
    both = [Match("amazon", "mention", "…"), Match("amazon", "recipient", "…")]
    assert attribute(award, tx, both, patterns) == [("amazon", t, "direct") for t in ("T0", "T7", "T8")]
    # A watch keyword names no vendor: no money is anyone's.
    assert attribute(award, tx, [Match("", "keyword", "…")], patterns) == []
    # The award's own description names it: the order is for the product, every action counts.
    base = Award("A", description="AWS HOSTING FOR SEVP")
    assert attribute(base, tx, [Match("amazon", "mention", "…")], patterns) == [
        ("amazon", t, "reseller") for t in ("T0", "T7", "T8")
    ]
