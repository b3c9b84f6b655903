"""Vendor matching with evidence, and field-level diffs with exact amounts (pure functions)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from watcher.config import load_config
from watcher.diff import diff_award, diff_transaction
from watcher.match import build_matcher, normalize_name
from watcher.models import Award, Transaction

ROOT = Path(__file__).resolve().parent.parent
CONFIG = load_config(ROOT / "queries.yaml")
MATCHER = build_matcher(CONFIG.watches["dhs-big-tech"], CONFIG.resellers)


def award(**kw: object) -> Award:
    base = {"award_key": "CONT_AWD_X_7012_-NONE-_-NONE-", "total_obligation": Decimal("100.00")}
    return Award(**(base | kw))  # type: ignore[arg-type]


def test_normalize_name() -> None:
    assert normalize_name("Palantir USG, Inc.") == "PALANTIR USG"


def test_recipient_alias_matches_palantir_usg() -> None:
    matches = MATCHER.match(award(recipient_name="PALANTIR USG, INC.", description="CASE MANAGEMENT"))
    assert [(m.vendor, m.reason) for m in matches] == [("palantir", "recipient")]
    assert "PALANTIR USG" in matches[0].evidence


@pytest.mark.parametrize("text", ["LAWS ENFORCEMENT SUPPORT", "AWSOME SOFTWARE", "DRAWSTRING BAGS", "MSAWS"])
def test_short_term_never_matches_inside_a_word(text: str) -> None:
    assert MATCHER.match(award(recipient_name="ACME CORP", description=text)) == []


def test_reseller_award_mentioning_aws_matches_amazon_as_mention() -> None:
    a = award(
        recipient_name="FOUR POINTS TECHNOLOGY, L.L.C.",
        description="ICE CLOUD INFRASTRUCTURE HOSTING SUPPORT FOR THE AMAZON WEB SERVICES ENVIRONMENT",
    )
    matches = MATCHER.match(a)
    assert [(m.vendor, m.reason) for m in matches] == [("amazon", "mention")]
    assert "'AMAZON WEB SERVICES'" in matches[0].evidence
    assert "known Amazon Web Services reseller" in matches[0].evidence


def test_mention_in_a_transaction_description_counts() -> None:
    a = award(recipient_name="FOUR POINTS TECHNOLOGY, L.L.C.", description="CLOUD HOSTING")
    mods = ["EXERCISE FAR 52.217-7 TO INCREASE AMAZON WEB SERVICES OPTIONAL UNITS"]
    assert [m.vendor for m in MATCHER.match(a, mods)] == ["amazon"]


def test_no_threshold_keeps_awards_with_negative_totals() -> None:
    # A window holding only de-obligations sums to a negative total: still the vendor's award.
    assert MATCHER.match(award(recipient_name="MICROSOFT CORPORATION", total_obligation=Decimal("-24848.11")))


def test_min_amount_excludes_small_awards() -> None:
    from watcher.match import Matcher

    watch = CONFIG.watches["dhs-big-tech"].model_copy(update={"min_amount": Decimal(1000)})
    strict: Matcher = build_matcher(watch, CONFIG.resellers)
    assert strict.match(award(recipient_name="MICROSOFT CORPORATION")) == []
    assert strict.match(award(recipient_name="MICROSOFT CORPORATION", total_obligation=Decimal(1000)))


def test_float_from_sqlite_equals_decimal_from_api() -> None:
    old = award(total_obligation=Decimal("86271599.30")).to_row() | {"total_obligation": 86271599.3}
    assert diff_award(old, award(total_obligation=Decimal("86271599.30"))) is None


def test_last_modified_date_alone_is_not_a_change() -> None:
    old = award(last_modified_date="2026-08-01", fingerprint="a").to_row()
    assert diff_award(old, award(last_modified_date="2026-08-19", fingerprint="b")) is None


def test_amount_change_gives_old_new_and_delta() -> None:
    old = award(total_obligation=Decimal("145008922.61"), end_date="2026-09-30").to_row()
    new = award(total_obligation=Decimal("150703824.61"), end_date="2027-09-30")
    change = diff_award(old, new)
    assert change is not None and change.kind == "award_changed"
    assert change.diff == {
        "total_obligation": ["145008922.61", "150703824.61"],
        "end_date": ["2026-09-30", "2027-09-30"],
    }
    assert change.amount_delta == Decimal("5694902.00")


def test_new_award_and_transactions() -> None:
    assert diff_award(None, award()).kind == "new_award"  # type: ignore[union-attr]
    tx = Transaction("CONT_TX_1", "K", "P00001", "2026-08-19", obligation=Decimal("-18000.00"))
    assert diff_transaction(None, tx).kind == "new_transaction"  # type: ignore[union-attr]
    assert diff_transaction(tx.to_row() | {"obligation": -18000.0}, tx) is None
    changed = Transaction("CONT_TX_1", "K", "P00001", "2026-08-19", obligation=Decimal("-17999.00"))
    c = diff_transaction(tx.to_row(), changed)
    assert c is not None and c.kind == "transaction_changed" and c.amount_delta == Decimal(1)


def test_uei_and_parent_matches_carry_their_evidence() -> None:
    from watcher.config import Evidenced, Vendor

    vendor = Vendor(
        name="Example Analytics",
        aliases=["EXAMPLE ANALYTICS"],
        ueis=[Evidenced(uei="ABCDEFGH1234", evidence="test record")],
        parent_ueis=[Evidenced(uei="PARENT123456", evidence="test record")],
    )
    watch = CONFIG.watches["dhs-big-tech"].model_copy(update={"vendors": {"example": vendor}})
    m = build_matcher(watch, CONFIG.resellers)
    by_uei = m.match(award(recipient_name="EXAMPLE ANALYTICS FEDERAL LLC", recipient_uei="ABCDEFGH1234"))
    assert [(x.vendor, x.reason) for x in by_uei] == [("example", "uei"), ("example", "recipient")]
    assert "ABCDEFGH1234" in by_uei[0].evidence
    by_parent = m.match(
        award(recipient_name="SUBSIDIARY INC", parent_uei="PARENT123456", parent_name="EXAMPLE HOLDINGS")
    )
    assert [(x.vendor, x.reason) for x in by_parent] == [("example", "parent")]
