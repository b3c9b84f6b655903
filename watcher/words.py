"""The plain words of the watcher: how an award, a change or a notice is said, in digests, pages and feeds.

Pure functions from stored rows to text. All text from the APIs is cleaned of control
characters and shortened here; escaping is the templates' job (HTML, e-mail, Atom).
Digest and site both say things through this module, so a reader sees one wording.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from watcher import fpds, links
from watcher.labels import AWARD_LABELS, FIELD_WORDS, MONEY_FIELDS, OTHER_FIELDS
from watcher.models import ChangeKind, SourceName
from watcher.values import finite_amount

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+")
DESCRIPTION_CHARS = 300
ACRONYMS = {"BPA", "BOA", "IDV", "IDC", "GWAC", "FSS", "GSA", "IDIQ"}
SOURCE_LABELS: dict[str, str] = {
    SourceName.USASPENDING: "USAspending",
    SourceName.SAM_AWARDS: "SAM.gov contract awards",
    SourceName.SAM_OPPORTUNITIES: "SAM.gov",
}

#: How each change kind is labelled where readers see it (site timelines, feeds).
KIND_LABELS: dict[str, str] = {
    ChangeKind.NEW_AWARD: "New award",
    ChangeKind.AWARD_CHANGED: "Changed",
    ChangeKind.NEW_TRANSACTION: "Modification",
    ChangeKind.TRANSACTION_CHANGED: "Correction",
    ChangeKind.DELETED: "Deleted",
    ChangeKind.NEW_NOTICE: "New notice",
    ChangeKind.NOTICE_CHANGED: "Notice changed",
    ChangeKind.NEW_SUBAWARD: "New subaward",
    ChangeKind.SUBAWARD_CHANGED: "Subaward changed",
    ChangeKind.SUBAWARD_DELETED: "Subaward withdrawn",
    ChangeKind.ENDING_SOON: "Ending soon",
}
#: The change kinds about subawards (worded by :func:`subaward_item`, grouped per subaward).
SUBAWARD_KINDS = frozenset({ChangeKind.NEW_SUBAWARD, ChangeKind.SUBAWARD_CHANGED, ChangeKind.SUBAWARD_DELETED})

#: Why an award is watched (``matches.reason``), as readers see it next to the evidence (site, digests).
REASON_WORDS: dict[str, str] = {
    "uei": "paid to the vendor (its UEI)",
    "recipient": "paid to the vendor",
    "parent": "paid to a company the vendor owns",
    "mention": "its text names the vendor's product",
    "keyword": "its text has a watched keyword",
    "vehicle": "an order under the vendor's own contract vehicle",
    "reviewed": "a reseller's order that a person reviewed and confirmed",
    "award": "it announces an award watched here",
    "agency": "posted by a watched agency",
}


def match_view(m: dict[str, Any], vendor_names: dict[str, str]) -> dict[str, Any]:
    """A ``matches`` row for a page: the vendor's name (or what a match naming none is) and the path in words."""
    unnamed = "reviewed order" if m["reason"] == "reviewed" else "keyword"
    name = vendor_names.get(m["vendor"]) or m["vendor"] or unnamed
    return {**m, "vendor_name": name, "path": REASON_WORDS.get(m["reason"], m["reason"])}


def when(ts: str | None) -> str:
    """A stored timestamp as people read it: ``2026-08-21 12:00:00 UTC``."""
    return ts.replace("T", " ").replace("Z", " UTC") if ts else "never"


def clean(text: Any, limit: int | None = None) -> str:
    """API text made safe to lay out: no control characters or line breaks, bounded length."""
    out = " ".join(_CONTROL.sub(" ", str(text or "")).split())
    if limit and len(out) > limit:
        out = out[: limit - 1].rstrip() + "…"
    return out


def usd(value: Any) -> str:
    """Exact dollars: $2,295,859.20 (negative as -$36,139.72)."""
    d = finite_amount(value)
    if d is None:
        return "unknown"
    sign = "-" if d < 0 else ""
    return f"{sign}${abs(d):,.2f}"


def usd_short(value: Any) -> str:
    """Rounded dollars for totals and subjects: $4.6M, $850K, $1.2B."""
    d = finite_amount(value)
    if d is None:
        return "unknown"
    sign = "-" if d < 0 else ""
    a = abs(d)
    for size, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "K")):
        if a >= size:
            return f"{sign}${a / size:,.1f}{suffix}".replace(".0" + suffix, suffix)
    return f"{sign}${a:,.0f}"


def signed_short(value: Decimal) -> str:
    return ("+" if value >= 0 else "") + usd_short(value)


@dataclass
class Item:
    """One award or notice and everything that happened to it since the last digest."""

    key: str
    kind: str  # new | modified | changed | deleted | notice
    headline: str
    facts: list[str]
    why: list[str]
    description: str
    page_url: str | None
    official_url: str
    official_label: str
    amount: Decimal  # money this item moved (a new award: its obligation)
    total: Decimal | None  # the award's total obligation (a notice: its award amount)
    change_ids: list[int]
    vendor_label: str
    other_changes: bool = False  # dates, options, recipient: reported whatever min_change says
    watch: str = ""  # listed once, under the first of the subscriber's watches that matched it
    #: Of ``amount``, the money tied to the item's vendors (watcher/attribution.py); None: all of it.
    tied: Decimal | None = None


# ---------------------------------------------------------------- plain words


def _fact(name: str, old: Any, new: Any) -> str:
    """One field's change in words; the values are API text, so they are cleaned and bounded."""
    if name not in MONEY_FIELDS:
        old, new = clean(old, 120), clean(new, DESCRIPTION_CHARS if name == "description" else 120)
    if name in MONEY_FIELDS:
        return f"{FIELD_WORDS.get(name, name.replace('_', ' '))} {usd_short(old)} → {usd_short(new)}"
    if name == "end_date":
        return f"ends {new or 'no date'} (was {old or 'no date'})"
    if name == "potential_end_date":
        return f"could run to {new or 'no date'} with all options (was {old or 'no date'})"
    if name == "last_date_to_order":
        return f"orders allowed until {new or 'no date'} (was {old or 'no date'})"
    if name == "description":
        return f"description now: {clean(new, DESCRIPTION_CHARS)}"
    plain = AWARD_LABELS.get(name)  # the award page's label, so a reader meets one name for a field
    label = FIELD_WORDS.get(name) or (plain[:1].lower() + plain[1:] if plain else name.replace("_", " "))
    return f"{label}: {clean(old, 120) or 'none'} → {clean(new, 120) or 'none'}"


def _merged_diff(changes: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Several changes to one record since the last digest: first old value, last new value."""
    merged: dict[str, list[Any]] = {}
    for c in changes:
        for name, (old, new) in json.loads(c["diff"] or "{}").items():
            merged[name] = [merged[name][0] if name in merged else old, new]
    return {k: v for k, v in merged.items() if str(v[0]) != str(v[1])}


def award_type_words(award: dict[str, Any]) -> str:
    kind = clean(award.get("award_type")) or ("IDV" if award.get("category") == "idv" else "contract")
    words = [w if w in ACRONYMS else w.lower() for w in kind.split()]
    return " ".join(words)


def award_header(key: str, a: dict[str, Any], agency_abbr: dict[str, str]) -> tuple[str, str, Decimal | None]:
    """Who, what ("ICE delivery order 70CTD..."), and the total: the part of an item that depends on the award only."""
    recipient = clean(a.get("recipient_name"), 120) or "Unknown recipient"
    agency = agency_abbr.get(a.get("awarding_subagency") or "", clean(a.get("awarding_subagency"), 80))
    piid = clean(a.get("piid"), 60) or key
    what = " ".join(p for p in (agency, award_type_words(a), piid) if p)
    return recipient, what, finite_amount(a.get("total_obligation"))


def action_type_words(t: dict[str, Any], award: dict[str, Any]) -> str | None:
    """What one contract action did, in words ("option exercised", "novated to NEW CO"); None if unknown."""
    said = fpds.action_words(t.get("action_type"), clean(t.get("action_type_description"), 80) or None)
    if said and fpds.action_kind(t.get("action_type")) == fpds.ModificationKind.NOVATION:
        who = clean(award.get("recipient_name"), 120)
        return f"novated to {who}" if who else said
    return said


def action_types(txs: Sequence[dict[str, Any]], award: dict[str, Any]) -> str:
    """The distinct types of some contract actions, in order ("option exercised, funding only")."""
    out: list[str] = []
    for t in txs:
        said = action_type_words(t, award)
        if said and said not in out:
            out.append(said)
    return ", ".join(out)


def _mods(numbers: list[str]) -> str:
    if len(numbers) == 1:
        return f"modification {numbers[0]}"
    return f"modifications {', '.join(numbers[:-1])} and {numbers[-1]}"


def award_item(
    key: str,
    changes: Sequence[dict[str, Any]],
    award: dict[str, Any] | None,
    transactions: dict[str, dict[str, Any]],
    why: list[str],
    vendor_label: str,
    agency_abbr: dict[str, str],
    site_url: str | None,
    header: tuple[str, str, Decimal | None] | None = None,
) -> Item:
    """One award's changes as one line: what happened, by how much, and the totals before and after.

    ``header`` is ``award_header(...)`` when the caller words many changes of one award (the site).
    """
    a = award or {"award_key": key}
    recipient, what, total = header or award_header(key, a, agency_abbr)
    kinds = {c["kind"] for c in changes}
    diff = _merged_diff([c for c in changes if c["kind"] in (ChangeKind.AWARD_CHANGED, ChangeKind.DELETED)])
    facts = [_fact(n, o, v) for n, (o, v) in diff.items()]
    other = any(n in OTHER_FIELDS for n in diff)
    new_txs = [transactions[c["entity_key"]] for c in changes if c["kind"] == ChangeKind.NEW_TRANSACTION]
    new_txs = [t for t in new_txs if t]
    new_txs.sort(key=lambda t: (t.get("modification_number") or "", t.get("action_date") or ""))
    for c in changes:
        if c["kind"] == ChangeKind.TRANSACTION_CHANGED:
            t = transactions.get(c["entity_key"]) or {}
            label = clean(t.get("modification_number")) or "an action"
            for n, (o, v) in json.loads(c["diff"] or "{}").items():
                facts.append(f"{label} corrected: {_fact(n, o, v)}")
    if ChangeKind.NEW_AWARD in kinds:
        kind, amount = "new", total or Decimal(0)
        headline = f"{recipient}: new {what}, {usd(total)} obligated"
        facts = []
        potential = finite_amount(a.get("potential_value"))
        if potential and total is not None and potential > total:
            facts.append(f"potential value with all options {usd_short(potential)}")
        start, end = a.get("start_date"), a.get("potential_end_date") or a.get("end_date")
        if start and end:
            facts.append(f"runs {start} to {end}")
        elif start or end:
            facts.append(f"starts {start}" if start else f"ends {end}")
        if a.get("parent_award_piid"):
            facts.append(f"an order under {clean(a['parent_award_piid'], 60)}")
    elif ChangeKind.DELETED in kinds:
        kind, amount = "deleted", Decimal(0)
        # SAM.gov deletes contract actions: name them (the base action is "0"); the award itself stays.
        gone = [
            clean(str((json.loads(c["diff"] or "{}").get("modification_number") or ["?"])[0]), 20)
            for c in changes
            if c["kind"] == ChangeKind.DELETED and c["entity_key"] != key
        ]
        if gone:
            facts = []
            for c in changes:
                d = json.loads(c["diff"] or "{}") if c["kind"] == ChangeKind.DELETED else {}
                label = clean(str((d.get("modification_number") or ["?"])[0]), 20)
                if d.get("obligation") or d.get("action_date"):
                    amount_was = finite_amount((d.get("obligation") or [None])[0])
                    signed = f", signed {clean(d['action_date'][0], 20)}" if d.get("action_date") else ""
                    facts.append(f"{label} had obligated {usd(amount_was)}{signed}")
            actions = "the base action" if gone == ["0"] else _mods([g for g in gone if g != "0"] or gone)
            headline = f"{recipient}: {actions} of {what} deleted from the official record"
        else:
            headline = f"{recipient}: {what} deleted from the official record"
    elif new_txs:
        kind = "modified"
        amount = sum((finite_amount(t.get("obligation")) or Decimal(0) for t in new_txs), Decimal(0))
        mods = [clean(t.get("modification_number"), 20) or "?" for t in new_txs]
        money = f"added {usd(amount)}" if amount > 0 else f"removed {usd(-amount)}" if amount < 0 else "moved no money"
        typed = action_types(new_txs, a)
        headline = f"{recipient}: {_mods(mods)} to {what}{': ' + typed + ',' if typed else ''} {money}"
        for t in new_txs:
            text = clean(t.get("description"), 200)
            if text:
                facts.append(f"{clean(t.get('modification_number'), 20)} ({t.get('action_date') or '?'}): {text}")
    else:
        kind = "changed"
        amount = Decimal(0)
        if "total_obligation" in diff:
            old, new = (finite_amount(x) or Decimal(0) for x in diff["total_obligation"])
            amount = new - old
        headline = f"{recipient}: {what} changed"
        if not facts:
            facts.append("a correction with no net difference in the fields we track")
    if kind == "modified" and "total_obligation" not in diff and total is not None:
        facts.insert(0, f"total obligated now {usd_short(total)}")
    return Item(
        key=key,
        kind=kind,
        headline=clean(headline, 400),
        facts=[clean(f, 400) for f in facts],
        why=why,
        description=clean(a.get("description"), DESCRIPTION_CHARS if kind == "new" else 160),
        page_url=links.award_page(site_url, key),
        official_url=links.usaspending_award(key),
        official_label="usaspending.gov",
        amount=amount,
        total=total,
        change_ids=[c["id"] for c in changes],
        vendor_label=vendor_label,
        other_changes=other or kind in ("new", "deleted"),
    )


def notice_item(
    key: str,
    changes: Sequence[dict[str, Any]],
    notice: dict[str, Any] | None,
    why: list[str],
    vendor_label: str,
    site_url: str | None,
) -> Item:
    """A SAM.gov notice: a coming buy (solicitation, sources sought, justification) or an award notice."""
    n = notice or {"notice_id": key}
    agency = clean((n.get("agency_path") or "").split(".")[-1], 80) or "An agency"
    ntype = clean(n.get("type"), 60) or "notice"
    title = clean(n.get("title"), 160) or key
    new = any(c["kind"] == ChangeKind.NEW_NOTICE for c in changes)
    headline = f"{agency}: {'new' if new else 'updated'} {ntype} “{title}”"
    facts = []
    if n.get("solicitation_number"):
        facts.append(f"solicitation {clean(n['solicitation_number'], 60)}")
    if n.get("posted_date"):
        facts.append(f"posted {clean(n['posted_date'], 30)}")
    amount = finite_amount(n.get("award_amount"))
    written = clean(n.get("award_amount_text"), 60)  # an amount SAM.gov gave as text ("$1.2M", "TBD")
    if n.get("awardee_name") or amount is not None or written:
        value = f"“{written}” (as written on SAM.gov)" if amount is None and written else usd(amount)
        facts.append(f"awarded to {clean(n.get('awardee_name'), 120) or 'unknown'} for {value}")
    if not new:
        facts += [_fact(k, o, v) for k, (o, v) in _merged_diff(changes).items()]
    return Item(
        key=key,
        kind="notice",
        headline=clean(headline, 400),
        facts=[clean(f, 400) for f in facts],
        why=why,
        description="",
        page_url=links.notice_page(site_url, key),  # its page links on to the award it announced, if any
        official_url=links.sam_notice(key),
        official_label="sam.gov",
        amount=amount or Decimal(0),
        total=amount,
        change_ids=[c["id"] for c in changes],
        vendor_label=vendor_label,
        other_changes=True,
    )


def subaward_item(
    key: str,
    changes: Sequence[dict[str, Any]],
    sub: dict[str, Any] | None,
    prime: dict[str, Any] | None,
    why: list[str],
    vendor_label: str,
    agency_abbr: dict[str, str],
    site_url: str | None,
) -> Item:
    """A subaward: who works under whose prime and for how much; what its report now says, or that it went.

    ``prime`` is the prime's stored award row when the site has a page for it (a watch holds it),
    else None: the subaward search named the prime, and that is what the words use.
    """
    s = sub or {"subaward_key": key}
    prime_key = s.get("prime_award_key") or (changes[0]["award_key"] if changes else "") or ""
    name = clean(s.get("sub_recipient_name"), 120) or "Unknown subcontractor"
    if prime is not None:
        who, what, _ = award_header(prime_key, prime, agency_abbr)
    else:
        who = clean(s.get("prime_recipient_name"), 120) or "an unnamed prime contractor"
        agency = agency_abbr.get(s.get("awarding_subagency") or "", clean(s.get("awarding_subagency"), 80))
        what = " ".join(p for p in (agency, "prime", clean(s.get("prime_piid"), 60) or prime_key) if p)
    under = f"under {who}'s {what}"
    amount = finite_amount(s.get("amount"))
    kinds = {c["kind"] for c in changes}
    facts: list[str] = []
    if ChangeKind.NEW_SUBAWARD in kinds:
        headline, moved = f"{name}: new subaward of {usd(amount)} {under}", amount or Decimal(0)
    elif ChangeKind.SUBAWARD_DELETED in kinds:
        headline, moved = f"{name}: subaward {under} withdrawn from the official record", Decimal(0)
        facts.append(f"it had been reported as {usd(amount)}")
    else:
        diff = _merged_diff([c for c in changes if c["kind"] == ChangeKind.SUBAWARD_CHANGED])
        if diff.pop("deleted_at", None) is not None:
            facts.append("reported again after it had been withdrawn")
        facts += [_fact(n, o, v) for n, (o, v) in diff.items()]
        old, new = (finite_amount(x) or Decimal(0) for x in diff.get("amount", [0, 0]))
        headline, moved = f"{name}: subaward {under} changed", new - old
    if s.get("action_date"):
        facts.append(f"dated {clean(s['action_date'], 20)}")
    if s.get("subaward_number"):
        facts.append(f"subaward number {clean(s['subaward_number'], 60)}")
    if s.get("sub_recipient_uei"):
        facts.append(f"subcontractor UEI {clean(s['sub_recipient_uei'], 20)}")
    if (s.get("report_count") or 0) > 1:
        facts.append(f"reported {s['report_count']} times (the re-filed reports are one subaward here)")
    return Item(
        key=key,
        kind="subaward",
        headline=clean(headline, 400),
        facts=[clean(f, 400) for f in facts],
        why=why,
        description=clean(s.get("description"), DESCRIPTION_CHARS),
        page_url=links.award_page(site_url, prime_key) if prime is not None else None,
        official_url=links.usaspending_award(prime_key),
        official_label="usaspending.gov, the prime's Sub-Awards tab",
        amount=moved,
        total=amount,
        change_ids=[c["id"] for c in changes],
        vendor_label=vendor_label,
        other_changes=True,
    )


def day(value: Any) -> str:
    """A stored date or timestamp as the site prints every day: ``2026-08-22`` (ISO, so it sorts and never misreads)."""
    return str(value)[:10] if value else ""
