"""The review queue: known resellers' orders that name no watched product wait for a person, through the CLI."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import awards_from, tx_row
from watcher.cli import cli
from watcher.config import load_config
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.match import build_matcher
from watcher.models import Award

ROOT = Path(__file__).resolve().parent.parent
TODAY = date.today()
PAL = "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001"
#: A real Dell call under DHS's BPA (FY2022 rows of seeds/ice), made recent: "SOFTWARE LICENSES" names no product.
DELL = "CONT_AWD_70CMSD22FC0000008_7012_70RTAC21A00000001_7001"
NOISE = "CONT_AWD_70CDCR26P00000009_7012_-NONE-_-NONE-"


def day(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def dell(mod: str = "0", amount: str = "22200.00", when: int = 6, desc: str = "SOFTWARE LICENSES") -> dict[str, str]:
    return tx_row("70CMSD22FC0000008", DELL, "DELL FEDERAL SYSTEMS L.P", amount, day(when), mod=mod, desc=desc)


def rows(*extra: dict[str, str]) -> list[dict[str, str]]:
    return [
        tx_row("70CTD026FC0000012", PAL, "PALANTIR TECHNOLOGIES INC.", "86271599.30", day(10), desc="ERO SYSTEM"),
        tx_row("70CDCR26P00000009", NOISE, "ACME SUPPLY CO", "500.00", day(5), desc="AWSOME BRAND SHELVING"),
        dell(),
        *extra,
    ]


@pytest.fixture
def env(replay: UsaspendingReplay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    monkeypatch.setenv("USER", "ops-login")
    replay.set_awards(awards_from(rows()))
    config = write_config()
    db = tmp_path / "w.db"

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *args])

    return run, db, replay, config


def q(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def fetched(replay: UsaspendingReplay, key: str, since: int) -> int:
    """Requests for one award's own records (its actions, its detail) since request number ``since``."""
    return sum(1 for _, path, body in replay.requests[since:] if key in path or key.encode() in (body or b""))


def test_a_reseller_order_naming_no_product_waits_in_the_queue_and_counts_nowhere(env) -> None:
    run, db, replay, _ = env
    result = run("poll")
    assert result.exit_code == 0, result.output
    # found by searching the resellers as recipients (no vendor name or product word would return it)
    recipients = [
        json.loads(b)["filters"].get("recipient_search_text") or []
        for _, p, b in replay.requests
        if p.endswith("spending_by_award/")
    ]
    assert any("DELL FEDERAL SYSTEMS" in terms for terms in recipients)
    assert q(db, "SELECT watch, status, reseller, piid FROM review WHERE entity_key = ?", DELL) == [
        ("ice-vendors", "pending", "dell", "70CMSD22FC0000008")
    ]
    # not a match, not an award: no page, feed, digest, view or total can count it
    assert q(db, "SELECT count(*) FROM matches WHERE entity_key = ?", DELL) == [(0,)]
    assert q(db, "SELECT count(*) FROM awards WHERE award_key = ?", DELL) == [(0,)]
    assert q(db, "SELECT count(*) FROM changes WHERE award_key = ?", DELL) == [(0,)]
    assert q(db, "SELECT count(*) FROM award_vendors WHERE award_key = ?", DELL) == [(0,)]
    # a non-reseller hit that names nothing is still turned down, as before
    assert q(db, "SELECT award_key FROM rejected") == [(NOISE,)]
    listing = run("review", "list")
    assert listing.exit_code == 0
    assert "70CMSD22FC0000008" in listing.output and "DELL FEDERAL SYSTEMS L.P" in listing.output
    assert "SOFTWARE LICENSES" in listing.output and "under 70RTAC21A00000001" in listing.output
    assert "review queue: 1 reseller orders waiting" in run("status").output
    # an unchanged order costs no request at the next poll
    before = len(replay.requests)
    assert run("poll").exit_code == 0
    assert fetched(replay, DELL, before) == 0


def test_a_confirmed_order_joins_the_watch_and_survives_repolls_and_rule_changes(env) -> None:
    run, db, replay, config = env
    run("poll")
    # pending: in no total (no action of it is attributed to anyone)
    assert q(db, "SELECT count(*) FROM attributions WHERE award_key = ?", DELL) == [(0,)]
    result = run("review", "confirm", "70CMSD22FC0000008", "--by", "alice", "--note", "DHS Microsoft BPA call")
    assert result.exit_code == 0, result.output
    assert "joins the watch at the next poll" in result.output
    assert run("poll").exit_code == 0
    # Dell is a known Microsoft reseller (seeds/vendors.yaml): the order is attributed to Microsoft
    ((vendor, reason, evidence),) = q(db, "SELECT vendor, reason, evidence FROM matches WHERE entity_key = ?", DELL)
    assert (vendor, reason) == ("microsoft", "reviewed")
    assert "confirmed by alice on" in evidence and "DHS Microsoft BPA call" in evidence
    assert q(db, "SELECT kind FROM changes WHERE award_key = ?", DELL) == [("new_award",)]
    assert q(db, "SELECT status, decided_by, note FROM review WHERE entity_key = ?", DELL) == [
        ("confirmed", "alice", "DHS Microsoft BPA call")
    ]
    # a later modification: read like any award of the watch, still matched by the decision
    replay.set_awards(awards_from(rows(dell("P00001", "0.00", 1, "ADMINISTRATIVE CHANGE"))))
    assert run("poll").exit_code == 0
    assert q(db, "SELECT reason FROM matches WHERE entity_key = ?", DELL) == [("reviewed",)]
    assert ("new_transaction",) in q(db, "SELECT kind FROM changes WHERE award_key = ?", DELL)
    # the rules change (a keyword added): every award is judged again, and the decision holds
    config.write_text(
        config.read_text().replace("    lookback_days: 30\n", "    lookback_days: 30\n    keywords: [SHELVING]\n")
    )
    assert run("poll").exit_code == 0
    assert q(db, "SELECT reason FROM matches WHERE entity_key = ?", DELL) == [("reviewed",)]
    assert ("", "keyword") in q(db, "SELECT vendor, reason FROM matches WHERE entity_key = ?", NOISE)
    # it counts now, for Microsoft, on the reviewed path: every action of the order
    assert q(db, "SELECT count(*) FROM award_vendors WHERE award_key = ? AND vendor = 'microsoft'", DELL) == [(1,)]
    paths = q(db, "SELECT DISTINCT vendor, path FROM vendor_actions WHERE award_key = ?", DELL)
    assert paths == [("microsoft", "reviewed")]
    assert q(db, "SELECT count(*) FROM vendor_actions WHERE award_key = ?", DELL) == q(
        db, "SELECT count(*) FROM transactions WHERE award_key = ?", DELL
    )


def test_a_dismissed_order_stays_out_for_good_unless_it_names_a_product(env) -> None:
    run, db, replay, _ = env
    run("poll")
    result = run("review", "dismiss", DELL, "--note", "hardware")
    assert result.exit_code == 0, result.output
    assert q(db, "SELECT status, decided_by FROM review WHERE entity_key = ?", DELL) == [("dismissed", "ops-login")]
    assert "no pending orders" in run("review", "list").output
    # a modification that still names nothing: read once, judged again, still out of the watch and the queue
    replay.set_awards(awards_from(rows(dell("P00001", "100.00", 1, "ADDITIONAL SEATS"))))
    before = len(replay.requests)
    assert run("poll").exit_code == 0
    assert fetched(replay, DELL, before) == 1  # its actions, to look for a product name
    assert q(db, "SELECT status FROM review WHERE entity_key = ?", DELL) == [("dismissed",)]
    assert q(db, "SELECT count(*) FROM matches WHERE entity_key = ?", DELL) == [(0,)]
    before = len(replay.requests)
    assert run("poll").exit_code == 0
    assert fetched(replay, DELL, before) == 0
    # one that names the product: a match on that evidence, like any award (the dismissal is kept on record)
    replay.set_awards(
        awards_from(rows(dell("P00001", "100.00", 1, "ADDITIONAL SEATS"), dell("P00002", "5.00", 0, "AZURE AD P2")))
    )
    assert run("poll").exit_code == 0
    assert q(db, "SELECT vendor, reason FROM matches WHERE entity_key = ?", DELL) == [("microsoft", "mention")]
    assert q(db, "SELECT status FROM review WHERE entity_key = ?", DELL) == [("dismissed",)]


def test_a_pending_order_that_comes_to_name_a_product_leaves_the_queue_as_a_match(env) -> None:
    run, db, replay, _ = env
    run("poll")
    replay.set_awards(awards_from(rows(dell("P00001", "900.00", 1, "MICROSOFT 365 G5 TRUE-UP"))))
    assert run("poll").exit_code == 0
    assert q(db, "SELECT reason FROM matches WHERE entity_key = ?", DELL) == [("mention",)]
    assert q(db, "SELECT count(*) FROM review WHERE entity_key = ?", DELL) == [(0,)]


def test_decisions_are_exported_and_kept_out_of_the_public_copy(env, tmp_path: Path) -> None:
    from watcher.site.files import public_copy
    from watcher.store import open_db

    run, db, _, _ = env
    run("poll")
    run("review", "confirm", DELL, "--by", "alice", "--note", "=HYPERLINK(1)")
    out = run("export", "review")
    assert out.exit_code == 0, out.output
    (row,) = list(csv.DictReader(io.StringIO(out.output)))
    assert (row["entity_key"], row["status"], row["decided_by"]) == (DELL, "confirmed", "alice")
    assert row["note"] == "'=HYPERLINK(1)"  # spreadsheet-safe like every export
    assert json.loads(run("export", "review", "--format", "json", "--vendor", "microsoft").output)[0]["piid"]
    assert json.loads(run("export", "review", "--format", "json", "--watch", "other").output) == []
    public = tmp_path / "public.db"
    public_copy(open_db(db), public)
    assert q(public, "SELECT count(*) FROM review") == [(0,)]
    metadata = json.loads((ROOT / "datasette" / "metadata.json").read_text())
    assert "review" in metadata["databases"]["watcher"]["tables"]
    assert "review_queue" in metadata["databases"]["watcher"]["queries"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["confirm", "70CXXX"], "is not in the review queue"),
        (["confirm", DELL, "--vendor", "oracle"], "--vendor 'oracle'"),
        (["confirm", DELL, "--watch", "nope"], "no watch named 'nope'"),
        (["dismiss"], "Missing argument"),
    ],
)
def test_bad_decisions_are_refused_with_a_reason_and_change_nothing(env, args: list[str], message: str) -> None:
    run, db, _, _ = env
    run("poll")
    result = run("review", *args)
    assert result.exit_code == 2 and message in result.output
    assert q(db, "SELECT status FROM review") == [("pending",)]


def test_a_decision_needs_someone_to_make_it(env, monkeypatch: pytest.MonkeyPatch) -> None:
    run, db, _, _ = env
    run("poll")
    monkeypatch.delenv("USER")
    result = run("review", "dismiss", DELL)
    assert result.exit_code == 2 and "--by NAME" in result.output
    assert q(db, "SELECT status FROM review") == [("pending",)]


# ---------------------------------------------------------------- the rules (pure)

CONFIG = load_config(ROOT / "queries.yaml")


def order(recipient: str, **kw: object) -> Award:
    base: dict[str, object] = {
        "award_key": "CONT_AWD_70CTD026FC0000777_7012_-NONE-_-NONE-",
        "category": "contract",
        "total_obligation": Decimal("50000.00"),
        "recipient_name": recipient,
    }
    return Award(**(base | kw))  # type: ignore[arg-type]


def test_which_orders_are_review_candidates() -> None:
    matcher = build_matcher(CONFIG.watches["dhs-big-tech"], CONFIG.resellers)
    assert matcher.review_candidate(order("CARAHSOFT TECHNOLOGY CORP")) == "carahsoft"  # seen carrying no one
    assert matcher.review_candidate(order("DELL FEDERAL SYSTEMS L.P")) == "dell"  # a Microsoft reseller
    assert matcher.review_candidate(order("ACME SUPPLY CO")) is None  # not a known reseller
    idv = order("DELL FEDERAL SYSTEMS L.P", award_key="CONT_IDV_70RTAC24A00000001_7001", category="idv")
    assert matcher.review_candidate(idv) is None  # a vehicle is not an order
    # a watch of Palantir only: resellers seen carrying only Microsoft or Amazon are not its business
    palantir = CONFIG.watches["dhs-big-tech"].model_copy(update={"vendors": {"palantir": CONFIG.vendors["palantir"]}})
    only = build_matcher(palantir, CONFIG.resellers)
    assert only.review_candidate(order("DELL FEDERAL SYSTEMS L.P")) is None
    assert only.review_candidate(order("CARAHSOFT TECHNOLOGY CORP")) == "carahsoft"
    # below the watch's threshold it is not the watch's at all
    strict = CONFIG.watches["dhs-big-tech"].model_copy(update={"min_amount": Decimal(100000)})
    assert build_matcher(strict, CONFIG.resellers).review_candidate(order("DELL FEDERAL SYSTEMS L.P")) is None


def test_an_order_another_watch_stores_is_matched_at_once_and_a_dismissal_takes_it_back(env, write_config) -> None:
    run, db, _, _ = env
    write_config(
        extra="  ice-software:\n    agencies: [ice]\n    agency_roles: [awarding]\n    keywords: [SOFTWARE LICENSES]\n"
        "    award_types: [contracts]\n"
    )
    assert run("poll").exit_code == 0
    # the keyword watch holds it; for the vendor watch it is a reseller order naming no product
    assert q(db, "SELECT watch, reason FROM matches WHERE entity_key = ?", DELL) == [("ice-software", "keyword")]
    assert q(db, "SELECT watch, status FROM review WHERE entity_key = ?", DELL) == [("ice-vendors", "pending")]
    result = run("review", "confirm", DELL, "--by", "alice", "--vendor", "microsoft")
    assert "matched now, with reason reviewed" in result.output
    assert ("ice-vendors", "reviewed") in q(db, "SELECT watch, reason FROM matches WHERE entity_key = ?", DELL)
    assert run("poll").exit_code == 0  # judged again from what is stored: the decision holds
    assert ("ice-vendors", "reviewed") in q(db, "SELECT watch, reason FROM matches WHERE entity_key = ?", DELL)
    result = run("review", "dismiss", DELL, "--by", "bob")
    assert "it left the watch" in result.output
    assert q(db, "SELECT watch FROM matches WHERE entity_key = ?", DELL) == [("ice-software",)]
    assert run("poll").exit_code == 0
    assert q(db, "SELECT watch FROM matches WHERE entity_key = ?", DELL) == [("ice-software",)]


def test_a_decision_while_a_poll_writes_fails_at_once_saying_so(env) -> None:
    from watcher.ops.lock import writer_lock

    run, db, _, _ = env
    run("poll")
    with writer_lock(db):  # a poll in progress holds it
        result = run("review", "dismiss", DELL)
    assert result.exit_code == 2 and "another watcher writer process" in result.output
    assert q(db, "SELECT status FROM review") == [("pending",)]


def test_digests_and_pages_tell_of_a_confirmed_order_and_never_of_a_pending_one(env, tmp_path: Path) -> None:
    run, db, replay, config = env
    subscriber = "subscribers:\n  desk:\n    email: desk@example.org\n    cadence: instant\n    timezone: UTC\n"
    config.write_text(config.read_text() + subscriber)
    outbox = tmp_path / "outbox"
    run("poll")
    assert run("digest", "--outbox", str(outbox)).exit_code == 0
    (first,) = sorted(outbox.glob("*.eml"))
    assert "70CTD026FC0000012" in first.read_text() and "70CMSD22FC0000008" not in first.read_text()
    # confirmed without naming a vendor (--vendor is optional; Dell's is the default: this one says none)
    config.write_text(config.read_text().replace("vendors: [amazon, palantir, microsoft]", "vendors: [palantir]"))
    assert run("review", "confirm", DELL, "--by", "alice", "--note", "<b>per the order file</b>").exit_code == 0
    assert run("poll").exit_code == 0
    assert run("digest", "--outbox", str(outbox)).exit_code == 0
    import email
    import email.policy

    second = email.message_from_bytes(sorted(outbox.glob("*.eml"))[-1].read_bytes(), policy=email.policy.default)
    text = " ".join(second.get_body(("plain",)).get_content().split())
    assert "Reviewed orders" in text and "DELL FEDERAL SYSTEMS L.P: new ICE" in text
    assert "confirmed by alice on" in text and "after review: <b>per the order file</b>" in text
    html = second.get_body(("html",)).get_content()
    assert "&lt;b&gt;per the order file&lt;/b&gt;" in html and "<b>per the order file" not in html
    site = tmp_path / "site"
    assert run("site", "--out", str(site)).exit_code == 0
    page = (site / f"awards/{DELL}.html").read_text()
    assert "reviewed order: a reseller&#39;s order that a person reviewed and confirmed:" in page
    assert "in the data: <code>matches.reason</code> = reviewed" in page
    assert "&lt;b&gt;per the order file&lt;/b&gt;" in page


def test_the_queue_listing_cannot_be_steered_by_api_text(env) -> None:
    from watcher.ops.review import render

    row = {
        "watch": "w", "entity_key": "K", "piid": "P\x1b[2J", "total_obligation": 5.0, "status": "pending",
        "recipient_name": "DELL\rFAKE LINE", "awarding_subagency": "ICE", "parent_award_piid": None,
        "description": "LICENSES\n\x1b[31mred", "first_seen_at": "2026-01-01", "source_url": "https://x", "note": None,
        "vendor": None, "decided_by": None, "decided_at": None,
    }  # fmt: skip
    out = render([row], "pending")
    assert "\x1b" not in out and "\r" not in out and "LICENSES [31mred" in out


def test_the_queue_keeps_decisions_when_orders_are_seen_again(memory_db) -> None:
    from watcher import store
    from watcher.store import review

    def candidate(key: str, fp: str, desc: str = "SOFTWARE") -> review.Candidate:
        return review.Candidate(
            order("DELL FEDERAL SYSTEMS L.P", award_key=key, fingerprint=fp, description=desc), "dell"
        )

    a, b, c = (f"CONT_AWD_70CTD026FC000090{i}_7012_-NONE-_-NONE-" for i in range(3))
    review.save_candidates(
        memory_db, "w", [candidate(a, "1"), candidate(b, "1"), candidate(c, "1")], "2026-01-01T00:00:00Z"
    )
    rows = {r["entity_key"]: r for r in review.entries(memory_db)}
    review.decide(memory_db, rows[a], "dismissed", "bob", "", "", "2026-01-02T00:00:00Z")
    review.decide(memory_db, rows[b], "confirmed", "alice", "", "microsoft", "2026-01-02T00:00:00Z")
    # seen again, changed: the snapshot follows, the decisions stay
    review.save_candidates(memory_db, "w", [candidate(a, "2", "SOFTWARE RENEWAL")], "2026-01-03T00:00:00Z")
    row = review.entries(memory_db, status="dismissed")[0]
    assert (row["entity_key"], row["fingerprint"], row["description"], row["decided_by"]) == (
        a,
        "2",
        "SOFTWARE RENEWAL",
        "bob",
    )
    # a poll skips queued and dismissed orders it judged at that fingerprint, never a confirmed one
    assert review.judged(memory_db, "w", [a, b, c]) == {a: "2", c: "1"}
    # turned down (e.g. under the threshold now) or matched on its own: a pending order leaves, a decided one stays
    page = store.PageWrites("usaspending", rejected={"w": [(a, "2"), (b, "1"), (c, "1")]})
    store.save_page(memory_db, page, "2026-01-04T00:00:00Z")
    assert {r["entity_key"]: r["status"] for r in review.entries(memory_db)} == {a: "dismissed", b: "confirmed"}
