"""A page per SAM.gov notice, and the notices each vendor and agency page lists.

A notice (a solicitation, sources-sought notice, justification or award notice) is news
before an award exists, so it gets a page of its own: ``notices/<id>.html`` with what it is,
who posted it, its dates, the awardee, why a watch kept it, its changes, and links to
sam.gov and to the award it announces when that award has a page here. Every string on it
came from SAM.gov and is escaped by the templates; the sam.gov link is built from the id
(:func:`links.sam_notice`), never taken from the stored ``source_url``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from watcher import links, words
from watcher.config import Config
from watcher.site.entries import timeline_entry
from watcher.sources.sam.opportunities import agency_of
from watcher.store import rows_by_key
from watcher.values import finite_amount
from watcher.words import clean, notice_item, usd

NOTICE_KINDS = ("new_notice", "notice_changed")


def page_of(notice_id: str) -> str:
    """The notice's page, relative to the site's root."""
    return f"notices/{links.safe_name(notice_id)}.html"


def touched(db: Database, since: int) -> list[str]:
    """The notices changed since change id ``since``: an incremental build rewrites their pages."""
    sql = "SELECT DISTINCT entity_key FROM changes WHERE id > ? AND kind IN ('new_notice', 'notice_changed')"
    return sorted(r[0] for r in db.execute(sql, [since]))


class Notices:
    """The stored notices of one build, read once: which vendors and which agency each belongs to."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db, self.config = db, config
        self._rows: dict[str, dict[str, Any]] | None = None
        self.vendors: dict[str, list[str]] = {}
        self.agency: dict[str, str] = {}

    @property
    def rows(self) -> dict[str, dict[str, Any]]:
        if self._rows is None:
            self._rows = {
                r["notice_id"]: r
                for r in self.db.query("SELECT * FROM notices ORDER BY coalesce(posted_date, '') DESC, notice_id")
            }
            for nid, vendor in self.db.execute(
                "SELECT DISTINCT entity_key, vendor FROM matches WHERE vendor != ''"
                " AND entity_key IN (SELECT notice_id FROM notices) ORDER BY vendor"
            ):
                self.vendors.setdefault(nid, []).append(vendor)
            agencies = tuple(self.config.agencies.values())
            offices = tuple(a for a in agencies if a.tier == "subtier")  # the most precise agency first
            for nid, n in self._rows.items():
                found = agency_of(n, offices) or agency_of(n, agencies)
                if found is not None:
                    self.agency[nid] = found.name
        return self._rows

    def of_vendor(self, vendor: str) -> list[dict[str, Any]]:
        return [n for nid, n in self.rows.items() if vendor in self.vendors.get(nid, [])]

    def of_agency(self, agency: str) -> list[dict[str, Any]]:
        return [n for nid, n in self.rows.items() if self.agency.get(nid) == agency]

    def affected(self, notice_ids: Iterable[str]) -> tuple[set[str], set[str]]:
        """The vendors and agencies whose pages list these notices (rewritten when one of them changes)."""
        rows = self.rows
        vendors = {v for nid in notice_ids for v in self.vendors.get(nid, [])}
        agencies = {self.agency[nid] for nid in notice_ids if nid in rows and nid in self.agency}
        return vendors, agencies


def listed(notices: list[dict[str, Any]], root: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """A listing page's "SAM.gov notices" section (heading, then label, link, note), or none without notices."""
    if not notices:
        return []
    items = [
        (
            clean(n.get("title"), 160) or n["notice_id"],
            f"{root}{page_of(n['notice_id'])}",
            ", ".join(p for p in (clean(n.get("type"), 60), _posted(n)) if p),
        )
        for n in notices
    ]
    return [("SAM.gov notices", items)]


def _posted(n: dict[str, Any]) -> str:
    return f"posted {clean(n.get('posted_date'), 30)[:10]}" if n.get("posted_date") else ""


def facts(n: dict[str, Any]) -> list[tuple[str, str]]:
    """The notice's fields in plain words, as (label, value); a field SAM.gov left empty is left out."""
    amount = finite_amount(n.get("award_amount"))
    written = clean(n.get("award_amount_text"), 60)
    rows = [
        ("Type", clean(n.get("type"), 60)),
        ("Posted by", " › ".join(clean(p, 120) for p in (n.get("agency_path") or "").split(".") if p.strip())),
        ("Posted", clean(n.get("posted_date"), 30)),
        ("Responses due", clean(n.get("response_deadline"), 40)),
        ("Solicitation number", clean(n.get("solicitation_number"), 60)),
        ("Still open on SAM.gov", {"Yes": "yes", "No": "no"}.get(str(n.get("active")), "")),
        ("Award number", clean(n.get("award_number"), 60)),
        ("Awarded to", clean(n.get("awardee_name"), 120)),
        ("Awardee UEI", clean(n.get("awardee_uei"), 20)),
        (
            "Award amount",
            usd(amount) if amount is not None else (f"“{written}” (as written on SAM.gov)" if written else ""),
        ),
        ("First seen here", words.when(n.get("first_seen_at")) if n.get("first_seen_at") else ""),
    ]
    return [(label, value) for label, value in rows if value]


def summary(n: dict[str, Any], agency: str | None = None) -> str:
    """The one line shared links show (Open Graph and Twitter card description): what, who, to whom, when."""
    agency = clean(agency, 80) or clean((n.get("agency_path") or "").split(".")[-1], 80)
    parts = [clean(n.get("type"), 60) or "SAM.gov notice", f"posted by {agency}" if agency else ""]
    if n.get("awardee_name"):
        parts.append(f"awarded to {clean(n.get('awardee_name'), 120)}")
    amount = finite_amount(n.get("award_amount"))
    if amount is not None:
        parts.append(f"for {usd(amount)}")
    if n.get("posted_date"):
        parts.append(f"on {clean(n.get('posted_date'), 30)[:10]}")
    return " ".join(p for p in parts if p) + "."


def write_pages(site: Any, notice_ids: list[str] | None = None) -> int:
    """One page per stored notice (or only those of ``notice_ids``); returns how many were written.

    ``site`` is the build's :class:`watcher.site.pages.Site` (its writer, names, agencies, render).
    """
    index: Notices = site.notices
    wanted = list(index.rows) if notice_ids is None else [k for k in notice_ids if k in index.rows]
    if not wanted:
        return 0
    with_pages = set(site.held_agencies())
    award_keys = [k for k in {index.rows[k].get("award_key") for k in wanted} if k]
    awards = rows_by_key(site.db, "awards", "award_key", award_keys)
    marks = ",".join("?" * len(award_keys))
    held = {r[0] for r in site.db.execute(f"SELECT entity_key FROM matches WHERE entity_key IN ({marks})", award_keys)}
    matches: dict[str, list[dict[str, Any]]] = {}
    changes: dict[str, list[dict[str, Any]]] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for m in site.db.query(f"SELECT * FROM matches WHERE entity_key IN ({marks}) ORDER BY watch, vendor", chunk):
            matches.setdefault(m["entity_key"], []).append(words.match_view(m, site.vendor_names))
        for c in site.db.query(
            f"SELECT * FROM changes WHERE entity_key IN ({marks}) AND kind IN ('new_notice', 'notice_changed')"
            " ORDER BY id DESC",
            chunk,
        ):
            changes.setdefault(c["entity_key"], []).append(c)
    for nid in wanted:
        n = index.rows[nid]
        key = n.get("award_key")
        award = awards.get(key) if key and key in held else None
        agency = index.agency.get(nid)
        site.render(
            page_of(nid),
            "notice.html",
            title=clean(n.get("title"), 160) or nid,
            summary=summary(n, agency),
            n=n,
            fields=facts(n),
            sam_url=links.sam_notice(nid),
            award=_award_link(award) if award else None,
            vendors=[
                (site.vendor_names.get(v, v), f"../vendors/{links.safe_name(v)}.html")
                for v in index.vendors.get(nid, [])
            ],
            agency=(clean(agency), f"../{site.agency_page(agency)}") if agency and agency in with_pages else None,
            matches=matches.get(nid, []),
            changes=[
                timeline_entry(c, notice_item(nid, [c], n, [], "", None), None, None, None)
                for c in changes.get(nid, [])
            ],
        )
    return len(wanted)


def _award_link(a: dict[str, Any]) -> tuple[str, str]:
    label = (
        f"{clean(a.get('piid'), 60) or a['award_key']}: {clean(a.get('recipient_name'), 120) or 'unknown recipient'}"
    )
    return label, f"../awards/{links.safe_name(a['award_key'])}.html"
