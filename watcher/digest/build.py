"""What goes into one subscriber's digest: pick their undelivered changes and say them in plain words.

``select_changes`` reads the candidate changes; ``build`` is a pure function from rows to a
:class:`Digest` (grouped by watch and vendor, one item per award or notice, thresholds
applied), which the templates in ``watcher/templates/email/`` lay out. All text from the
APIs is cleaned of control characters and shortened here; escaping is the templates' job.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from watcher import ahead, links
from watcher.config import Config
from watcher.fpds import MODIFICATION_CODES, ModificationKind
from watcher.models import ChangeKind
from watcher.settings import Subscriber
from watcher.store import coming_up, rows_by_key
from watcher.store.runs import data_as_of
from watcher.words import SUBAWARD_KINDS, Item, award_item, clean, notice_item, signed_short, subaward_item, when

KIND_ORDER = {"new": 0, "ending": 1, "modified": 1, "changed": 2, "subaward": 3, "deleted": 3, "notice": 4}
#: At most this many coming-up dates are listed in a digest; the rest are on the site's Coming up page.
COMING_UP_ITEMS = 40


# ---------------------------------------------------------------- the digest shape


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
    #: "Coming up in the next N days" (the subscriber's ``lookahead_days``; None: no such section).
    lookahead_days: int | None = None
    coming_up: list[ahead.Coming] = field(default_factory=list)
    coming_up_more: int = 0
    coming_up_url: str | None = None
    #: The far end of the coming-up window shown (kept on the delivery: the next digest starts past it).
    coming_up_until: str | None = None
    #: True when dates an earlier digest already listed were left out (the section lists what is new).
    coming_up_only_new: bool = False

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
    kinds, args = "", [watermark, up_to, *watches, subscriber]
    if sub.kinds:
        plain = [k for k in sub.kinds if isinstance(k, ChangeKind)]
        codes = [c for k in sub.kinds if isinstance(k, ModificationKind) for c in MODIFICATION_CODES[k]]
        kinds = (
            f"AND (c.kind IN ({','.join('?' * len(plain))}) OR (c.kind = 'new_transaction' AND EXISTS ("
            "SELECT 1 FROM transactions t WHERE t.transaction_key = c.entity_key"
            f" AND upper(trim(t.action_type)) IN ({','.join('?' * len(codes))}))))"
        )
        args += [*plain, *codes]
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
        if c["kind"] == ChangeKind.ENDING_SOON:  # an alert of its own, one per award and date
            by_entity[f"E:{c['award_key']}|{ahead.ending_date(c)}"].append(c)
            continue
        notice = c["kind"] in (ChangeKind.NEW_NOTICE, ChangeKind.NOTICE_CHANGED)
        own = notice or c["kind"] in SUBAWARD_KINDS  # a subaward is an item of its own, apart from its prime's
        prefix = "N:" if notice else "S:" if own else "A:"
        by_entity[prefix + (c["entity_key"] if own else c["award_key"])].append(c)
    award_keys = [k[2:] for k in by_entity if k.startswith("A:")]
    award_keys += [k[2:].split("|")[0] for k in by_entity if k.startswith("E:")]
    notice_keys = [k[2:] for k in by_entity if k.startswith("N:")]
    sub_keys = [k[2:] for k in by_entity if k.startswith("S:")]
    subawards = rows_by_key(db, "subawards", "subaward_key", sub_keys)
    primes = [c[0]["award_key"] for k, c in by_entity.items() if k.startswith("S:") and c[0]["award_key"]]
    awards = rows_by_key(db, "awards", "award_key", award_keys + primes)
    notices = rows_by_key(db, "notices", "notice_id", notice_keys)
    txs = rows_by_key(db, "transactions", "transaction_key", [c["entity_key"] for c in changes])
    matches: dict[str, list[dict[str, Any]]] = defaultdict(list)
    keys = list(dict.fromkeys(award_keys + notice_keys + sub_keys + primes))
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
        key = ekey[2:].split("|")[0] if ekey.startswith("E:") else ekey[2:]
        ms = matches.get(key, [])
        if not ms and ekey.startswith(("N:", "S:")):  # a notice linked to a watched award, a subaward under one
            ms = matches.get(group_changes[0]["award_key"] or "", [])
        if not ms:
            continue
        watch = next(w for w in watches if any(m["watch"] == w for m in ms))
        mine = [m for m in ms if m["watch"] == watch]
        vendors = sorted({m["vendor"] for m in mine if m["vendor"]})
        unnamed = "Reviewed orders" if any(m["reason"] == "reviewed" for m in mine) else "Keyword matches"
        label = " & ".join(names.get(v, v) for v in vendors) or unnamed
        why = list(dict.fromkeys(clean(m["evidence"], 240) for m in mine))
        if ekey.startswith("S:") and not matches.get(key):
            why = [f"its prime is watched: {w}" for w in why]
        if ekey.startswith("N:"):
            item = notice_item(key, group_changes, notices.get(key), why, label, site)
        elif ekey.startswith("E:"):
            item = ahead.ending_item(key, group_changes, awards.get(key), why, label, abbr, site)
        elif ekey.startswith("S:"):
            prime = group_changes[0]["award_key"] or ""
            held = awards.get(prime) if matches.get(prime) else None  # the site has a page for a held prime
            item = subaward_item(key, group_changes, subawards.get(key), held, why, label, abbr, site)
        else:
            item = award_item(key, group_changes, awards.get(key), txs, why, label, abbr, site)
            item.tied = tied_money(db, watch, key, group_changes, item)
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
    soon: list[ahead.Coming] = []
    told = None
    if sub.lookahead_days:
        rows = coming_up.upcoming(db, now, sub.lookahead_days, watches)
        told = coming_up.told_until(db, name)
        if told:  # each date once: those that entered the window since, and those of awards that changed
            changed = set(award_keys)
            rows = [r for r in rows if r["date"] > told or r["award_key"] in changed]
        soon = [
            ahead.coming(r, abbr, site, now, names)
            for r in rows
            if sub.min_amount is None or r["total_obligation"] is None or r["total_obligation"] >= sub.min_amount
        ]
    label = ", ".join(watches) if len(watches) <= 2 else "watcher"
    detected = sorted({c["detected_at"] for c in changes})
    period = (
        f"Changes detected {when(detected[0])}" + (f" to {when(detected[-1])}" if len(detected) > 1 else "")
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
        lookahead_days=sub.lookahead_days,
        coming_up=soon[:COMING_UP_ITEMS],
        coming_up_more=max(0, len(soon) - COMING_UP_ITEMS),
        coming_up_url=f"{site}/coming-up.html" if site else None,
        coming_up_until=coming_up.window(now, sub.lookahead_days)[1] if sub.lookahead_days else None,
        coming_up_only_new=bool(sub.lookahead_days and told),
    )


def tied_money(db: Database, watch: str, award_key: str, changes: Sequence[dict[str, Any]], item: Item) -> Decimal:
    """The part of an award item's money that is its vendors' (honest totals, watcher/attribution.py).

    All of it when the award is the vendor's (direct, vehicle, reviewed); for an award that
    only names the vendor (a reseller's), the tied actions among the new ones (a new award:
    all its tied actions); nothing for a watch keyword's match, which names no vendor.
    """
    paths = {
        p
        for (p,) in db.execute(
            "SELECT DISTINCT path FROM attributions WHERE watch = ? AND award_key = ?", [watch, award_key]
        )
    }
    if paths & {"direct", "vehicle", "reviewed"}:
        return item.amount
    if not paths:
        return Decimal(0)
    new_award = any(c["kind"] == ChangeKind.NEW_AWARD for c in changes)
    keys = [c["entity_key"] for c in changes if c["kind"] == ChangeKind.NEW_TRANSACTION]
    sql = (
        "SELECT sum(t.obligation) FROM attributions v JOIN transactions t ON t.transaction_key = v.transaction_key"
        " WHERE v.watch = ? AND v.award_key = ?"
    )
    args: list[Any] = [watch, award_key]
    if not new_award:
        if not keys:
            return Decimal(0)
        sql += f" AND v.transaction_key IN ({','.join('?' * len(keys))})"
        args += keys
    (total,) = db.execute(sql, args).fetchone()
    return Decimal(str(round(total or 0, 2)))


def summarize(items: Sequence[Item]) -> str:
    """'3 new awards, 2 changes, Palantir +$4.2M': counts, then the vendor with the most money added.

    The money is each item's part tied to its vendors (``Item.tied``): a reseller's new order
    that names AWS in one action adds that action's money to Amazon, not the whole order's.
    """
    counts: dict[str, int] = defaultdict(int)
    for i in items:
        counts[i.kind] += 1
    parts = []
    for kind, one, many in (
        ("new", "new award", "new awards"),
        ("ending", "award ending soon", "awards ending soon"),
        ("modified", "modification", "modifications"),
        ("changed", "change", "changes"),
        ("subaward", "subaward", "subawards"),
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
            money[i.vendor_label] += i.amount if i.tied is None else i.tied
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
