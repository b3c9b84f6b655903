"""What goes into one subscriber's digest: pick their undelivered changes and say them in plain words.

``select_changes`` reads the candidate changes; ``build`` is a pure function from rows to a
:class:`Digest` (grouped by watch and vendor, one item per award or notice, thresholds
applied), which the templates in ``watcher/templates/email/`` lay out. All text from the
APIs is cleaned of control characters and shortened here; escaping is the templates' job.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from . import links
from .config import Config, Subscriber
from .normalize import to_decimal
from .store import rows_by_key

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
DESCRIPTION_CHARS = 300
KIND_ORDER = {"new": 0, "modified": 1, "changed": 2, "deleted": 3, "notice": 4}
ACRONYMS = {"BPA", "BOA", "IDV", "IDC", "GWAC", "FSS", "GSA", "IDIQ"}
SOURCE_LABELS = {"usaspending": "USAspending", "sam_awards": "SAM.gov contract awards", "sam_opportunities": "SAM.gov"}


def clean(text: Any, limit: int | None = None) -> str:
    """API text made safe to lay out: no control characters or line breaks, bounded length."""
    out = " ".join(_CONTROL.sub(" ", str(text or "")).split())
    if limit and len(out) > limit:
        out = out[: limit - 1].rstrip() + "…"
    return out


def usd(value: Any) -> str:
    """Exact dollars: $2,295,859.20 (negative as -$36,139.72)."""
    d = to_decimal(value)
    if d is None:
        return "unknown"
    sign = "-" if d < 0 else ""
    return f"{sign}${abs(d):,.2f}"


def usd_short(value: Any) -> str:
    """Rounded dollars for totals and subjects: $4.6M, $850K, $1.2B."""
    d = to_decimal(value)
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


# ---------------------------------------------------------------- the digest shape


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


@dataclass
class Group:
    label: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Section:
    watch: str
    description: str
    groups: list[Group] = field(default_factory=list)
    omitted: int = 0
    page_url: str | None = None


@dataclass
class Digest:
    subscriber: str
    email: str
    subject: str
    summary: str
    sections: list[Section]
    data_as_of: list[str]
    period: str
    site_url: str | None
    unsubscribe: str
    items: list[Item]  # every item included (after thresholds), listed or not
    omitted: int = 0

    @property
    def change_ids(self) -> list[int]:
        return sorted({cid for item in self.items for cid in item.change_ids})

    @property
    def award_keys(self) -> list[str]:
        return [i.key for i in self.items]


# ---------------------------------------------------------------- reads


def select_changes(
    db: Database, subscriber: str, sub: Subscriber, watches: Sequence[str], watermark: int, up_to: int
) -> list[dict[str, Any]]:
    """Changes after the watermark, matched by one of the watches, of the wanted kinds, not already claimed."""
    marks = ",".join("?" * len(watches))
    kinds = ""
    args: list[Any] = [watermark, up_to, *watches, subscriber]
    if sub.kinds:
        kinds = f"AND c.kind IN ({','.join('?' * len(sub.kinds))})"
        args += list(sub.kinds)
    return list(
        db.query(
            f"""
            SELECT c.* FROM changes c
            WHERE c.id > ? AND c.id <= ?
              AND EXISTS (SELECT 1 FROM matches m WHERE m.watch IN ({marks})
                          AND m.entity_key IN (c.award_key, c.entity_key))
              AND NOT EXISTS (SELECT 1 FROM delivery_items i JOIN deliveries d ON d.id = i.delivery_id
                              WHERE i.change_id = c.id AND d.subscriber = ?
                              AND d.status IN ('pending', 'sent', 'written'))
              {kinds}
            ORDER BY c.id
            """,
            args,
        )
    )


def data_as_of(db: Database, watches: Sequence[str], now: str) -> list[str]:
    """One line per source: when it last answered, and whether its latest run (up to now) failed."""
    marks = ",".join("?" * len(watches))
    lines = []
    for source, ok_at in db.execute(
        f"SELECT source, max(CASE WHEN status = 'ok' THEN finished_at END) FROM runs WHERE watch IN ({marks})"
        " AND started_at <= ? GROUP BY source ORDER BY source",
        [*watches, now],
    ).fetchall():
        label = SOURCE_LABELS.get(source, source)
        line = f"{label}: data as of {_when(ok_at)}" if ok_at else f"{label}: no successful poll yet"
        last = db.execute(
            f"SELECT status, error FROM runs WHERE source = ? AND watch IN ({marks}) AND started_at <= ?"
            " ORDER BY id DESC LIMIT 1",
            [source, *watches, now],
        ).fetchone()
        if last and last[0] == "error":
            line += f" (the latest poll failed: {clean(last[1], 160)})"
        lines.append(line)
    return lines


def _when(ts: str | None) -> str:
    return ts.replace("T", " ").replace("Z", " UTC") if ts else "never"


# ---------------------------------------------------------------- plain words

FIELD_WORDS = {
    "total_obligation": "total obligated",
    "potential_value": "potential value with all options",
    "recipient_name": "recipient",
    "parent_name": "parent company",
    "awarding_subagency": "awarding office",
    "funding_subagency": "funding office",
}
MONEY_FIELDS = {"total_obligation", "potential_value", "obligation", "award_amount"}
OTHER_FIELDS = {"end_date", "potential_end_date", "last_date_to_order", "recipient_name", "recipient_uei", "start_date"}


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
    label = FIELD_WORDS.get(name, name.replace("_", " "))
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
    return recipient, what, to_decimal(a.get("total_obligation"))


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
    diff = _merged_diff([c for c in changes if c["kind"] in ("award_changed", "deleted")])
    facts = [_fact(n, o, v) for n, (o, v) in diff.items()]
    other = any(n in OTHER_FIELDS for n in diff)
    new_txs = [transactions[c["entity_key"]] for c in changes if c["kind"] == "new_transaction"]
    new_txs = [t for t in new_txs if t]
    new_txs.sort(key=lambda t: (t.get("modification_number") or "", t.get("action_date") or ""))
    for c in changes:
        if c["kind"] == "transaction_changed":
            t = transactions.get(c["entity_key"]) or {}
            label = clean(t.get("modification_number")) or "an action"
            for n, (o, v) in json.loads(c["diff"] or "{}").items():
                facts.append(f"{label} corrected: {_fact(n, o, v)}")
    if "new_award" in kinds:
        kind, amount = "new", total or Decimal(0)
        headline = f"{recipient}: new {what}, {usd(total)} obligated"
        facts = []
        potential = to_decimal(a.get("potential_value"))
        if potential and total is not None and potential > total:
            facts.append(f"potential value with all options {usd_short(potential)}")
        start, end = a.get("start_date"), a.get("potential_end_date") or a.get("end_date")
        if start and end:
            facts.append(f"runs {start} to {end}")
        elif start or end:
            facts.append(f"starts {start}" if start else f"ends {end}")
        if a.get("parent_award_piid"):
            facts.append(f"an order under {clean(a['parent_award_piid'], 60)}")
    elif "deleted" in kinds:
        kind, amount = "deleted", Decimal(0)
        # SAM.gov deletes contract actions: name them (the base action is "0"); the award itself stays.
        gone = [
            clean(str((json.loads(c["diff"] or "{}").get("modification_number") or ["?"])[0]), 20)
            for c in changes
            if c["kind"] == "deleted" and c["entity_key"] != key
        ]
        if gone:
            facts = []
            for c in changes:
                d = json.loads(c["diff"] or "{}") if c["kind"] == "deleted" else {}
                label = clean(str((d.get("modification_number") or ["?"])[0]), 20)
                if d.get("obligation") or d.get("action_date"):
                    amount_was = to_decimal((d.get("obligation") or [None])[0])
                    signed = f", signed {clean(d['action_date'][0], 20)}" if d.get("action_date") else ""
                    facts.append(f"{label} had obligated {usd(amount_was)}{signed}")
            actions = "the base action" if gone == ["0"] else _mods([g for g in gone if g != "0"] or gone)
            headline = f"{recipient}: {actions} of {what} deleted from the official record"
        else:
            headline = f"{recipient}: {what} deleted from the official record"
    elif new_txs:
        kind = "modified"
        amount = sum((to_decimal(t.get("obligation")) or Decimal(0) for t in new_txs), Decimal(0))
        mods = [clean(t.get("modification_number"), 20) or "?" for t in new_txs]
        money = f"added {usd(amount)}" if amount > 0 else f"removed {usd(-amount)}" if amount < 0 else "moved no money"
        headline = f"{recipient}: {_mods(mods)} to {what} {money}"
        for t in new_txs:
            text = clean(t.get("description"), 200)
            if text:
                facts.append(f"{clean(t.get('modification_number'), 20)} ({t.get('action_date') or '?'}): {text}")
    else:
        kind = "changed"
        amount = Decimal(0)
        if "total_obligation" in diff:
            old, new = (to_decimal(x) or Decimal(0) for x in diff["total_obligation"])
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
    new = any(c["kind"] == "new_notice" for c in changes)
    headline = f"{agency}: {'new' if new else 'updated'} {ntype} “{title}”"
    facts = []
    if n.get("solicitation_number"):
        facts.append(f"solicitation {clean(n['solicitation_number'], 60)}")
    if n.get("posted_date"):
        facts.append(f"posted {clean(n['posted_date'], 30)}")
    amount = to_decimal(n.get("award_amount"))
    if n.get("awardee_name") or amount is not None:
        facts.append(f"awarded to {clean(n.get('awardee_name'), 120) or 'unknown'} for {usd(amount)}")
    if not new:
        facts += [_fact(k, o, v) for k, (o, v) in _merged_diff(changes).items()]
    return Item(
        key=key,
        kind="notice",
        headline=clean(headline, 400),
        facts=[clean(f, 400) for f in facts],
        why=why,
        description="",
        # The site has no notice pages: a notice links to the page of the award it announces, if any.
        page_url=links.award_page(site_url, n["award_key"]) if n.get("award_key") else None,
        official_url=links.sam_notice(key),
        official_label="sam.gov",
        amount=amount or Decimal(0),
        total=amount,
        change_ids=[c["id"] for c in changes],
        vendor_label=vendor_label,
        other_changes=True,
    )


def passes(item: Item, sub: Subscriber) -> bool:
    """The subscriber's thresholds: award size, and (for modifications) money moved."""
    if sub.min_amount is not None and item.total is not None and item.total < sub.min_amount:
        return False
    if sub.min_change is not None and item.kind in ("modified", "changed") and not item.other_changes:
        return abs(item.amount) >= sub.min_change
    return True


def is_urgent(item: Item, sub: Subscriber) -> bool:
    return sub.urgent_amount is not None and item.kind != "deleted" and abs(item.amount) >= sub.urgent_amount


# ---------------------------------------------------------------- assembling


def build(
    db: Database,
    config: Config,
    name: str,
    sub: Subscriber,
    changes: Sequence[dict[str, Any]],
    *,
    now: str,
    max_items: int | None = None,
) -> Digest:
    """The digest for these changes: items per award or notice, grouped by watch then vendor."""
    watches = list(sub.watches or config.watches)
    site = config.settings.site_url
    by_entity: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in changes:
        notice = c["kind"] in ("new_notice", "notice_changed")
        by_entity[("N:" if notice else "A:") + (c["entity_key"] if notice else c["award_key"])].append(c)
    award_keys = [k[2:] for k in by_entity if k.startswith("A:")]
    notice_keys = [k[2:] for k in by_entity if k.startswith("N:")]
    awards = rows_by_key(db, "awards", "award_key", award_keys)
    notices = rows_by_key(db, "notices", "notice_id", notice_keys)
    txs = rows_by_key(db, "transactions", "transaction_key", [c["entity_key"] for c in changes])
    matches: dict[str, list[dict[str, Any]]] = defaultdict(list)
    keys = award_keys + notice_keys
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        for m in db.query(
            f"SELECT * FROM matches WHERE entity_key IN ({','.join('?' * len(chunk))})"
            f" AND watch IN ({','.join('?' * len(watches))}) ORDER BY watch, vendor, reason",
            [*chunk, *watches],
        ):
            matches[m["entity_key"]].append(m)
    names = {k: v.name for k, v in config.vendors.items()}
    for w in config.watches.values():
        names.update({k: v.name for k, v in w.vendors.items()})
    abbr = {a.name: a.abbreviation or a.name for a in config.agencies.values()}

    sections = {w: Section(w, config.watches[w].description if w in config.watches else "") for w in watches}
    items: list[Item] = []
    for ekey, group_changes in by_entity.items():
        key = ekey[2:]
        ms = matches.get(key, [])
        if not ms and ekey.startswith("N:"):  # a notice linked to a watched award
            ms = matches.get(group_changes[0]["award_key"] or "", [])
        if not ms:
            continue
        watch = next(w for w in watches if any(m["watch"] == w for m in ms))
        mine = [m for m in ms if m["watch"] == watch]
        vendors = sorted({m["vendor"] for m in mine if m["vendor"]})
        label = " & ".join(names.get(v, v) for v in vendors) or "Keyword matches"
        why = list(dict.fromkeys(clean(m["evidence"], 240) for m in mine))
        if ekey.startswith("N:"):
            item = notice_item(key, group_changes, notices.get(key), why, label, site)
        else:
            item = award_item(key, group_changes, awards.get(key), txs, why, label, abbr, site)
        item.watch = watch
        if passes(item, sub):
            items.append(item)

    limit = max_items if max_items is not None else sub.max_items
    ranked = sorted(items, key=lambda i: (KIND_ORDER[i.kind] > 3, -abs(i.amount), i.key))
    listed = {id(i) for i in ranked[:limit]}
    for item in sorted(items, key=lambda i: (KIND_ORDER[i.kind], -abs(i.amount), i.key)):
        section = sections[item.watch]
        if id(item) not in listed:
            section.omitted += 1
            continue
        group = next((g for g in section.groups if g.label == item.vendor_label), None)
        if group is None:
            group = Group(item.vendor_label)
            section.groups.append(group)
        group.items.append(item)
    for s in sections.values():
        s.groups.sort(key=lambda g: (g.label == "Keyword matches", g.label))
        s.page_url = f"{site}/watches/{links.safe_name(s.watch)}.html" if site else None

    summary = summarize(items)
    label = ", ".join(watches) if len(watches) <= 2 else "watcher"
    detected = sorted({c["detected_at"] for c in changes})
    period = (
        f"Changes detected {_when(detected[0])}" + (f" to {_when(detected[-1])}" if len(detected) > 1 else "")
        if detected
        else "No changes since the last digest."
    )
    return Digest(
        subscriber=name,
        email=sub.email,
        subject=clean(f"{label}: {summary}", 200),
        summary=summary,
        sections=[s for s in sections.values() if s.groups or s.omitted],
        data_as_of=data_as_of(db, watches, now),
        period=period,
        site_url=site,
        unsubscribe=unsubscribe_url(config, name),
        items=items,
        omitted=sum(s.omitted for s in sections.values()),
    )


def summarize(items: Sequence[Item]) -> str:
    """'3 new awards, 2 changes, Palantir +$4.2M': counts, then the vendor with the most money added."""
    counts: dict[str, int] = defaultdict(int)
    for i in items:
        counts[i.kind] += 1
    parts = []
    for kind, one, many in (
        ("new", "new award", "new awards"),
        ("modified", "modification", "modifications"),
        ("changed", "change", "changes"),
        ("deleted", "deletion", "deletions"),
        ("notice", "notice", "notices"),
    ):
        if counts[kind]:
            parts.append(f"{counts[kind]} {one if counts[kind] == 1 else many}")
    if not parts:
        return "nothing new"
    money: dict[str, Decimal] = defaultdict(Decimal)
    for i in items:
        if i.kind in ("new", "modified", "changed"):
            money[i.vendor_label] += i.amount
    if money:
        top = max(money, key=lambda v: (money[v], v))
        if money[top] > 0:
            parts.append(f"{top} {signed_short(money[top])}")
    return ", ".join(parts)


def unsubscribe_url(config: Config, name: str) -> str:
    custom = config.settings.email.unsubscribe
    if custom:
        return custom.replace("{subscriber}", name)
    from email.utils import parseaddr

    sender = parseaddr(config.settings.email.from_)[1]
    return f"mailto:{sender}?subject=unsubscribe%20{name}"
