"""Digest content and schedules: the pure parts (plain words, thresholds, slots, quiet hours) and config errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import SEEDS
from watcher.config import load_config
from watcher.digest.build import passes, summarize
from watcher.digest.cadence import in_quiet_hours, latest_slot, next_slot
from watcher.errors import ConfigError
from watcher.links import safe_name
from watcher.settings import Subscriber
from watcher.words import award_item, usd, usd_short

AWARD = {
    "award_key": "CONT_AWD_70CTD022FR0000170_7012_GS35F0086U_4730",
    "piid": "70CTD022FR0000170",
    "award_type": "DELIVERY ORDER",
    "recipient_name": "PALANTIR TECHNOLOGIES INC.",
    "awarding_subagency": "U.S. Immigration and Customs Enforcement",
    "total_obligation": 150703824.61,
    "description": "INVESTIGATIVE CASE MANAGEMENT",
}
ABBR = {"U.S. Immigration and Customs Enforcement": "ICE"}


def change(cid: int, kind: str, entity: str, diff: dict | None = None) -> dict:
    return {
        "id": cid,
        "kind": kind,
        "entity_key": entity,
        "award_key": AWARD["award_key"],
        "diff": json.dumps(diff or {}),
        "detected_at": "2026-04-20T12:00:00Z",
        "amount_delta": None,
    }


def test_money_is_exact_in_lines_and_short_in_totals() -> None:
    assert usd(Decimal("5694902")) == "$5,694,902.00"
    assert usd("-36139.72") == "-$36,139.72"
    assert usd_short(Decimal("18100000")) == "$18.1M"
    assert usd_short(Decimal("205047324.62")) == "$205M"
    assert usd_short(Decimal("850000")) == "$850K"
    assert usd_short(None) == "unknown"


def test_a_modification_reads_as_the_product_promises() -> None:
    tx = {
        "transaction_key": "TX1",
        "modification_number": "P00015",
        "action_date": "2026-04-02",
        "obligation": 5694902.0,
        "description": "OPTION\r\nPERIOD\x1b[31m",
    }
    item = award_item(
        AWARD["award_key"],
        [
            change(1, "award_changed", AWARD["award_key"], {"total_obligation": ["145008922.61", "150703824.61"]}),
            change(2, "new_transaction", "TX1"),
            change(3, "award_changed", AWARD["award_key"], {"end_date": ["2026-09-30", "2027-09-30"]}),
        ],
        AWARD,
        {"TX1": tx},
        ["recipient matches Palantir"],
        "Palantir Technologies",
        ABBR,
        "https://watch.example.org",
    )
    assert item.kind == "modified"
    assert item.headline == (
        "PALANTIR TECHNOLOGIES INC.: modification P00015 to ICE delivery order 70CTD022FR0000170 added $5,694,902.00"
    )
    assert "total obligated $145M → $150.7M" in item.facts
    assert "ends 2027-09-30 (was 2026-09-30)" in item.facts
    assert "P00015 (2026-04-02): OPTION PERIOD [31m" in item.facts  # control characters gone
    assert item.amount == Decimal("5694902")
    assert item.page_url == "https://watch.example.org/awards/CONT_AWD_70CTD022FR0000170_7012_GS35F0086U_4730.html"
    assert item.official_url.startswith("https://www.usaspending.gov/award/CONT_AWD_70CTD022FR0000170")
    assert item.other_changes  # an end-date change is reported whatever min_change says


def test_a_value_that_changed_back_is_not_reported_as_changed() -> None:
    item = award_item(
        AWARD["award_key"],
        [
            change(1, "award_changed", AWARD["award_key"], {"total_obligation": ["100", "120"]}),
            change(2, "award_changed", AWARD["award_key"], {"total_obligation": ["120", "100"]}),
        ],
        AWARD,
        {},
        [],
        "Palantir",
        ABBR,
        None,
    )
    assert item.kind == "changed" and item.amount == 0
    assert not any("total obligated" in f for f in item.facts)
    assert item.page_url is None


def test_thresholds() -> None:
    def item(kind: str, amount: str, total: str, other: bool = False):
        i = award_item(AWARD["award_key"], [change(1, "award_changed", "x")], AWARD, {}, [], "P", ABBR, None)
        i.kind, i.amount, i.total, i.other_changes = kind, Decimal(amount), Decimal(total), other
        return i

    sub = Subscriber(email="a@example.org", min_amount=Decimal(1000), min_change=Decimal(500))
    assert not passes(item("new", "900", "900"), sub)  # award too small
    assert passes(item("new", "5000", "5000"), sub)
    assert not passes(item("modified", "100", "5000"), sub)  # too little money moved
    assert passes(item("modified", "-600", "5000"), sub)  # de-obligations count by size
    assert passes(item("modified", "0", "5000", other=True), sub)  # an end-date change always counts


def test_summary_names_the_vendor_with_the_most_money_added() -> None:
    def item(kind: str, amount: str, vendor: str):
        i = award_item(AWARD["award_key"], [change(1, "award_changed", "x")], AWARD, {}, [], vendor, ABBR, None)
        i.kind, i.amount = kind, Decimal(amount)
        return i

    items = [item("new", "1000", "Amazon"), item("modified", "4200000", "Palantir"), item("changed", "-5", "Amazon")]
    assert summarize(items) == "1 new award, 1 modification, 1 change, Palantir +$4.2M"
    assert summarize([]) == "nothing new"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_daily_slots_follow_local_time_across_daylight_saving() -> None:
    sub = Subscriber(email="a@example.org", cadence="daily", at="07:00", timezone="America/New_York")
    # Summer (EDT, UTC-4): 07:00 local is 11:00 UTC.
    assert latest_slot(sub, utc("2026-07-08T12:00:00")) == utc("2026-07-08T11:00:00")
    assert latest_slot(sub, utc("2026-07-08T10:59:00")) == utc("2026-07-07T11:00:00")
    # Winter (EST, UTC-5): the same 07:00 is 12:00 UTC.
    assert latest_slot(sub, utc("2026-12-01T12:30:00")) == utc("2026-12-01T12:00:00")
    # The night of the change (2026-11-01): the next 07:00 is 25 hours after the last.
    assert next_slot(sub, utc("2026-10-31T12:00:00")) == utc("2026-11-01T12:00:00")


def test_weekly_slot_is_the_last_named_weekday() -> None:
    sub = Subscriber(email="a@example.org", cadence="weekly", day="mon", at="08:30", timezone="UTC")
    assert sub.day == "monday"
    # 2026-07-08 is a Wednesday; the Monday before is 07-06.
    assert latest_slot(sub, utc("2026-07-08T12:00:00")) == utc("2026-07-06T08:30:00")
    assert latest_slot(sub, utc("2026-07-06T08:00:00")) == utc("2026-06-29T08:30:00")
    assert latest_slot(Subscriber(email="a@example.org", cadence="instant"), utc("2026-07-08T12:00:00")) is None


def test_quiet_hours_wrap_midnight_in_local_time() -> None:
    sub = Subscriber(email="a@example.org", timezone="Europe/Berlin", quiet_hours="22:00-07:00")
    assert in_quiet_hours(sub, utc("2026-07-08T21:30:00"))  # 23:30 in Berlin
    assert in_quiet_hours(sub, utc("2026-07-08T04:00:00"))  # 06:00
    assert not in_quiet_hours(sub, utc("2026-07-08T05:00:00"))  # 07:00
    assert not in_quiet_hours(Subscriber(email="a@example.org"), utc("2026-07-08T03:00:00"))


def test_page_names_from_hostile_ids_are_safe() -> None:
    assert safe_name("CONT_AWD_70CTD022FR0000170_7012_GS35F0086U_4730") == (
        "CONT_AWD_70CTD022FR0000170_7012_GS35F0086U_4730"
    )
    for hostile in ("../../etc/passwd", "a/b", "CON", "x\x00y", "<script>", "a" * 500, ""):
        name = safe_name(hostile)
        assert "/" not in name and ".." not in name and "\x00" not in name and "<" not in name
        assert 0 < len(name) <= 150
    assert safe_name("a/b") != safe_name("a-b")  # two ids never share a page
    assert safe_name("CON") != "CON" and safe_name("lpt1").startswith("lpt1-")  # Windows device names


@pytest.mark.parametrize(
    ("subscriber", "key", "message"),
    [
        ("email: 'not-an-address'", "subscribers.s.email", "is not an email address"),
        ('email: "a@example.org\\r\\nBcc: x@example.org"', "subscribers.s.email", "is not an email address"),
        ("email: a@example.org\n    cadence: hourly", "subscribers.s.cadence", "Input should be"),
        ("email: a@example.org\n    at: '7am'", "subscribers.s.at", "24-hour time"),
        ("email: a@example.org\n    day: funday", "subscribers.s.day", "weekday name"),
        ("email: a@example.org\n    timezone: Mars/Olympus", "subscribers.s.timezone", "not a time zone"),
        ("email: a@example.org\n    quiet_hours: '22-7'", "subscribers.s.quiet_hours", "24-hour time"),
        ("email: a@example.org\n    watches: [nope]", "subscribers.s.watches.0", "no watch named 'nope'"),
        (
            "email: a@example.org\n    kinds: [new_awards]",
            "subscribers.s.kinds.0",
            "is not a kind of change; use one of new_award",
        ),
        ("email: a@example.org\n    emial: b@example.org", "subscribers.s.emial", "unknown key"),
    ],
)
def test_subscriber_mistakes_name_the_file_line_and_key(
    tmp_path: Path, subscriber: str, key: str, message: str
) -> None:
    cfg = tmp_path / "queries.yaml"
    cfg.write_text(
        f"settings:\n  seeds_dir: {SEEDS}\nwatches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n"
        f"subscribers:\n  s:\n    {subscriber}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    text = str(err.value)
    assert text.startswith(f"{cfg}:") and f": {key}: " in text and message in text, text
    line = int(text.split(":")[1])
    assert key.split(".")[-1] in cfg.read_text().splitlines()[line - 1] or key.endswith(".0"), text


def test_deletions_and_notices_in_plain_words() -> None:
    from watcher.words import notice_item

    gone = award_item(AWARD["award_key"], [change(1, "deleted", AWARD["award_key"])], AWARD, {}, [], "P", ABBR, None)
    assert gone.kind == "deleted"
    assert gone.headline.endswith("ICE delivery order 70CTD022FR0000170 deleted from the official record")
    notice = {
        "notice_id": "abc123",
        "type": "Sources Sought",
        "title": "Case management\r\nplatform <b>",
        "solicitation_number": "70CDCR26I00000001",
        "agency_path": "HOMELAND SECURITY, DEPARTMENT OF.US IMMIGRATION AND CUSTOMS ENFORCEMENT",
        "posted_date": "2026-07-01",
        "award_amount": None,
    }
    item = notice_item("abc123", [change(2, "new_notice", "abc123")], notice, ["mentions 'PALANTIR'"], "P", None)
    assert item.kind == "notice"
    assert item.headline == "US IMMIGRATION AND CUSTOMS ENFORCEMENT: new Sources Sought “Case management platform <b>”"
    assert "solicitation 70CDCR26I00000001" in item.facts and "posted 2026-07-01" in item.facts
    assert item.official_url == "https://sam.gov/opp/abc123/view" and item.page_url is None
    on_site = notice_item("abc123", [change(2, "new_notice", "abc123")], notice, [], "P", "https://w.example.org")
    assert on_site.page_url == "https://w.example.org/notices/abc123.html"  # every notice has its page
