"""The award page's "How it was competed" section and the vendor/agency pages' competition counts.

Pure functions of stored rows (and a few reads): the competition facts and flags in plain words
(the rules are watcher/fpds.py's and the ``award_flags`` view's, docs/competition.md), the
ceiling drawn against the money obligated as an inline SVG bar with the numbers beside it, and
the contract actions with what each one did (option exercised, terminated, novated...).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape
from sqlite_utils import Database

from watcher import fpds
from watcher.values import finite_amount
from watcher.words import action_type_words, clean, usd, usd_short

#: The flags as readers see them, with the rule in a sentence (the page says why a flag is shown).
FLAG_WORDS: dict[str, tuple[str, str]] = {
    "single_offer": ("Single offer", "the award record says exactly one offer was received"),
    "sole_source": ("Sole source", "the award record says it was not competed, or only one source was asked"),
    "small_business_set_aside_to_big_tech": (
        "Small-business set-aside, watched vendor",
        "it was set aside for small businesses, yet it is tied to a watched vendor that is not one",
    ),
    "near_ceiling": ("Near its ceiling", "more than 90% of the most it can grow to is already obligated"),
}


def flags(award: dict[str, Any], watched: bool) -> list[str]:
    """The flag names that hold for one award (``watched``: it matches a watched vendor)."""
    out = []
    if fpds.single_offer(award):
        out.append("single_offer")
    if fpds.sole_source(award):
        out.append("sole_source")
    if fpds.set_aside(award) and watched:
        out.append("small_business_set_aside_to_big_tech")
    if fpds.near_ceiling(award):
        out.append("near_ceiling")
    return out


def _said(award: dict[str, Any], field: str) -> str:
    """A code with the API's words for it ("NOT COMPETED (C)"), cleaned; "" when neither is known."""
    code, words = clean(award.get(field), 40), clean(award.get(f"{field}_description"), 160).rstrip(".")
    if words and code:
        return f"{words.lower()} ({code})"
    return words.lower() or code


def facts(award: dict[str, Any]) -> list[tuple[str, str]]:
    """The competition facts the award record carries, as (label, words); unknown ones are left out."""
    offers, options = award.get("number_of_offers_received"), award.get("base_exercised_options")
    rows = [
        ("Competition", _said(award, "extent_competed")),
        ("Offers received", "" if offers is None else str(offers)),
        ("How offers were asked for", _said(award, "solicitation_procedures")),
        ("Authority for not competing fully", _said(award, "other_than_full_and_open")),
        ("Set-aside", _said(award, "type_set_aside")),
        ("Pricing", _said(award, "type_of_contract_pricing")),
        ("Solicitation number", clean(award.get("solicitation_identifier"), 60)),
        ("Base and exercised options", "" if options is None else usd(options)),
        ("Parent contract vehicle", clean(award.get("parent_award_key"), 120)),
    ]
    return [(label, text) for label, text in rows if text]


def ceiling_bar(award: dict[str, Any], width: int = 480, height: int = 22) -> Markup:
    """Money obligated drawn against the ceiling (base and all options), the numbers written beside it.

    Empty when the ceiling is unknown or not positive. Obligations above the ceiling (it happens
    in the data) fill the bar and the text says so.
    """
    ceiling = finite_amount(award.get("potential_value"))
    obligated = finite_amount(award.get("total_obligation")) or Decimal(0)
    if ceiling is None or ceiling <= 0:
        return Markup("")
    share = max(Decimal(0), obligated / ceiling)
    filled = int(width * min(share, Decimal(1)))
    label = f"{usd_short(obligated)} obligated of a {usd_short(ceiling)} ceiling ({share * 100:.0f}%)"
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-label="{escape(label)}">'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#e6e0ee" stroke="#5a2a82"/>'
        f'<rect x="0" y="0" width="{filled}" height="{height}" fill="#5a2a82"/></svg>'
    )
    text = f"{usd(obligated)} obligated of {usd(ceiling)} ceiling ({share * 100:.0f}%)"
    return Markup(f'<p class="ceiling">{svg} <span>{escape(text)}</span></p>')  # noqa: S704 - escaped above


def typed_actions(transactions: list[dict[str, Any]], award: dict[str, Any]) -> list[dict[str, Any]]:
    """The contract actions with what each did, in words (``did``), for the page's action table."""
    return [{**t, "did": action_type_words(t, award) or ""} for t in transactions]


def section(award: dict[str, Any], watched: bool) -> dict[str, Any]:
    """Everything the award page's competition section shows."""
    return {
        "facts": facts(award),
        "flags": [(FLAG_WORDS[f][0], FLAG_WORDS[f][1]) for f in flags(award, watched)],
        "bar": ceiling_bar(award),
    }


def listing_counts(db: Database, where: str, args: list[Any]) -> list[str]:
    """Single-offer and sole-source awards among a listing's awards, counted with their money, in words."""
    row = db.execute(
        "SELECT sum(f.single_offer), sum(CASE WHEN f.single_offer THEN coalesce(f.total_obligation, 0) END),"
        " sum(f.sole_source), sum(CASE WHEN f.sole_source THEN coalesce(f.total_obligation, 0) END)"
        f" FROM award_flags f JOIN awards a ON a.award_key = f.award_key WHERE {where}",
        args,
    ).fetchone()
    single, single_money, sole, sole_money = (v or 0 for v in row)
    return [
        f"Single offer: {single} award{'s' if single != 1 else ''}, {usd(Decimal(str(single_money)))} obligated",
        f"Sole source: {sole} award{'s' if sole != 1 else ''}, {usd(Decimal(str(sole_money)))} obligated",
    ]
