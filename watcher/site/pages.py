"""The static site's pages, Atom feeds and downloads, rendered from the database (``site_build`` runs builds).

Layout: ``index.html``, ``awards/<id>.html``, ``vendors/<key>.html``, ``agencies/<key>.html``,
``watches/<name>.html``, ``notices.html``, ``notices/<id>.html`` (``notices.py``), ``about.html``,
``search.html``; an Atom feed next to each
listing (``feed.xml``, ``vendors/<key>.xml``...); ``downloads/``; search indexes in
``pagefind-<n>/`` and ``pagefind-recent/``.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from sqlite_utils import Database

from watcher import links, words
from watcher.ahead import ending_item
from watcher.config import Config
from watcher.models import ChangeKind
from watcher.site import award_view, competition, export, money
from watcher.site import notices as notice_pages
from watcher.site import subawards as subaward_pages
from watcher.site.entries import feed_uuid, timeline_entry
from watcher.site.files import Writer, grouped, public_copy
from watcher.store import rows_by_key
from watcher.store.runs import data_as_of
from watcher.words import award_header, award_item, award_type_words, clean, notice_item

FEED_ENTRIES = 50
LIST_AWARDS = 500
TIMELINE = 50
VENDOR_WHERE = "a.award_key IN (SELECT entity_key FROM matches WHERE vendor = ?)"


class Site:
    """Everything one build needs: the database, the config, templates and lookups."""

    def __init__(self, db: Database, config: Config, env: Environment, writer: Writer, now: str) -> None:
        self.db, self.config, self.env, self.w, self.now = db, config, env, writer, now
        self.site_url = config.settings.site_url
        self.vendor_names = {k: v.name for k, v in config.vendors.items()}
        for w in config.watches.values():
            self.vendor_names.update({k: v.name for k, v in w.vendors.items()})
        self.abbr = {a.name: a.abbreviation or a.name for a in config.agencies.values()}
        self.agency_keys = {a.name: k for k, a in config.agencies.items()}
        self.freshness = data_as_of(db, list(config.watches), now)
        self._years: dict[str, list[money.YearSplit]] = {}
        self.notices = notice_pages.Notices(db, config)
        self.templates = {
            n: env.get_template(f"site/{n}") for n in ("award.html", "listing.html", "feed.xml", "stub.html")
        }

    # ------------------------------------------------------------ naming

    def agency_page(self, name: str) -> str:
        return f"agencies/{links.safe_name(self.agency_keys.get(name) or name)}.html"

    def render(self, rel: str, template: str, **ctx: Any) -> None:
        root = "../" * rel.count("/")
        tpl = self.templates.get(template) or self.env.get_template(f"site/{template}")
        share = {  # the canonical URL and the line shared links show (Open Graph, Twitter cards)
            "canonical": f"{self.site_url}/{rel}" if self.site_url else None,
            "summary": ctx.pop("summary", None) or ctx.get("intro") or ctx.get("title", ""),
        }
        self.w.write(rel, tpl.render(root=root, built_at=self.now, feed=ctx.pop("feed", None), **share, **ctx))

    # ------------------------------------------------------------ changes as words

    def entries(self, changes: list[dict[str, Any]], root: str) -> list[dict[str, Any]]:
        """Timeline entries for changes: the digest's plain words, one entry per change."""
        award_keys = list({c["award_key"] for c in changes if c["award_key"]})
        awards = rows_by_key(self.db, "awards", "award_key", award_keys)
        txs = rows_by_key(self.db, "transactions", "transaction_key", [c["entity_key"] for c in changes])
        subs, paged = subaward_pages.context(self.db, changes)
        return [self.entry(c, subaward_pages.award_of(c, awards, paged), txs, root, subs=subs) for c in changes]

    def entry(
        self,
        c: dict[str, Any],
        award: dict[str, Any] | None,
        txs: dict[str, dict[str, Any]],
        root: str,
        header: tuple[str, str, Any] | None = None,
        subs: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        if c["kind"] in subaward_pages.SUBAWARD_KINDS:  # ``award``: its prime if the site has its page, else None
            item, page = subaward_pages.entry_item(c, (subs or {}).get(c["entity_key"]), award, self.abbr)
        elif c["kind"] == ChangeKind.ENDING_SOON:  # the calendar ahead (watcher/ahead.py)
            item = ending_item(c["award_key"], [c], award, [], "", self.abbr, None)
            page = f"awards/{links.safe_name(c['award_key'])}.html"
        else:
            item = award_item(c["award_key"], [c], award, txs, [], "", self.abbr, None, header=header)
            page = f"awards/{links.safe_name(c['award_key'])}.html"
        url = (f"{self.site_url}/{page}" if self.site_url else f"{root}{page}") if page else item.official_url
        return timeline_entry(c, item, page, None, url)

    def feed(self, rel: str, title: str, page: str, changes: list[dict[str, Any]]) -> None:
        root = "../" * rel.count("/")
        entries = self.entries(changes, root)
        self.w.write(
            rel,
            self.templates["feed.xml"].render(
                title=title,
                feed_id=feed_uuid("feed", rel),
                updated=entries[0]["detected_at"] if entries else self.now,
                self_url=f"{self.site_url}/{rel}" if self.site_url else rel.rsplit("/", 1)[-1],
                page_url=f"{self.site_url}/{page}" if self.site_url else page.rsplit("/", 1)[-1],
                entries=entries,
            ),
        )

    # ------------------------------------------------------------ pages

    def award_pages(
        self,
        keys: list[str] | None = None,
        key_range: tuple[str | None, str | None] = (None, None),
        stubs: Writer | None = None,
    ) -> int:
        """One page per watched award; streamed by award_key so 100k awards never sit in memory together.

        ``keys`` limits it to those awards (incremental builds), ``key_range`` to lo <= key < hi
        (one worker's share of a full build). ``stubs`` receives, under the same file names, a page
        holding only the searchable part: indexing those costs pagefind half as much as whole pages.
        """
        where, args = "", []
        if keys is not None:
            if not keys:
                return 0
            marks = ",".join("?" * len(keys))
            where, args = f" AND award_key IN ({marks})", list(keys)
        lo, hi = key_range
        if lo is not None:
            where, args = f"{where} AND award_key >= ?", [*args, lo]
        if hi is not None:
            where, args = f"{where} AND award_key < ?", [*args, hi]
        awards = self.db.query(
            f"SELECT * FROM awards WHERE award_key IN (SELECT entity_key FROM matches){where} ORDER BY award_key", args
        )
        txs = grouped(self.db, f"SELECT * FROM transactions WHERE 1=1{where} ORDER BY award_key", args)
        chs = grouped(self.db, f"SELECT * FROM changes WHERE award_key IS NOT NULL{where} ORDER BY award_key", args)
        subs = grouped(self.db, subaward_pages.table_sql(where), args)
        notices = grouped(
            self.db, f"SELECT * FROM award_notices WHERE 1=1{where} ORDER BY award_key, posted_date", args
        )
        match_where = where.replace("award_key", "entity_key")
        ms = grouped(
            self.db, f"SELECT *, entity_key AS award_key FROM matches WHERE 1=1{match_where} ORDER BY entity_key", args
        )
        n = 0
        for a in awards:
            key = a["award_key"]
            tx_rows = txs.take(key)
            tx_rows.sort(key=lambda t: (t["action_date"] or "", t["modification_number"] or ""), reverse=True)
            tx_by_key = {t["transaction_key"]: t for t in tx_rows}
            changes = sorted(chs.take(key), key=lambda c: c["id"], reverse=True)
            sub_rows = subs.take(key)
            by_sub = {r["subaward_key"]: r for r in sub_rows}
            header = award_header(key, a, self.abbr)
            agency = a["awarding_subagency"] or a["awarding_agency"] or ""
            view = dict(a)
            view.update(
                agency_long=clean(agency),
                award_type_words=award_type_words(a),
                official_url=links.usaspending_award(key),
            )
            matches = [words.match_view(m, self.vendor_names) for m in ms.take(key)]
            rel = f"awards/{links.safe_name(key)}.html"
            if stubs is not None:
                stubs.write(rel, self.templates["stub.html"].render(a=view, vendor_names=_vendor_list(matches)))
            self.render(
                rel,
                "award.html",
                title=f"{a['piid'] or key} · {a['recipient_name'] or ''}",
                summary=f"{header[1]} to {header[0]}: {words.usd(header[2])} obligated.",
                a=view,
                matches=matches,
                vendor_names=_vendor_list(matches),
                fields=award_view.fields(a),
                money=award_view.money_over_time(a, tx_rows),
                transactions=competition.typed_actions(tx_rows, a),
                competition=competition.section(a, any(m["vendor"] for m in matches)),
                notices=notices.take(key),
                subawards=sub_rows,
                changes=[{**self.entry(c, a, tx_by_key, "../", header, by_sub), "page": None} for c in changes],
            )
            n += 1
        return n

    def _awards_for(self, where: str, args: list[Any]) -> tuple[list[dict[str, Any]], int]:
        sql = f"SELECT * FROM awards a WHERE {where} ORDER BY coalesce(total_obligation, 0) DESC, award_key"
        (count,) = self.db.execute(f"SELECT count(*) FROM awards a WHERE {where}", args).fetchone()
        out = []
        for a in self.db.query(f"{sql} LIMIT {LIST_AWARDS}", args):
            a["page"] = f"awards/{links.safe_name(a['award_key'])}.html"
            a["agency"] = self.abbr.get(a["awarding_subagency"] or "", a["awarding_subagency"] or "")
            out.append(a)
        return out, count

    def changes_for(self, where: str, args: list[Any], limit: int = TIMELINE) -> list[dict[str, Any]]:
        """The latest changes to awards (SAM notices without an award get pages with the SAM source)."""
        return list(
            self.db.query(
                "SELECT c.* FROM changes c WHERE c.award_key IS NOT NULL"
                f" AND c.kind NOT IN ('new_notice', 'notice_changed') AND {where} ORDER BY c.id DESC LIMIT {limit}",
                args,
            )
        )

    def listing(
        self,
        rel: str,
        title: str,
        where: str,
        args: list[Any],
        *,
        intro: str = "",
        extra: dict | None = None,
        vendor: str | None = None,
    ) -> None:
        """A vendor, agency or watch page with its feed and its awards as CSV."""
        awards, count = self._awards_for(where, args)
        change_where = f"c.award_key IN (SELECT a.award_key FROM awards a WHERE {where})"
        changes = self.changes_for(change_where, args)
        feed_rel = rel.replace(".html", ".xml")
        self.feed(feed_rel, f"{title}: changes", rel, changes[:FEED_ENTRIES])
        who = self.vendor_names.get(vendor, vendor) if vendor else None
        fy = (
            self.vendor_years(vendor)
            if vendor and where == VENDOR_WHERE
            else money.by_fiscal_year(self.db, where, args, vendor)
        )
        chart = money.chart(fy, title, who)
        self.render(
            rel,
            "listing.html",
            title=title,
            intro=intro,
            feed=feed_rel.rsplit("/", 1)[-1],
            csv=f"{'../' * rel.count('/')}downloads/awards.csv",
            chart=chart,
            awards=awards,
            award_count=count,
            more=max(0, count - len(awards)),
            changes=self.entries(changes, "../"),
            **(extra or {}),
        )

    def vendor_page(self, vendor: str) -> None:
        name = self.vendor_names.get(vendor, vendor)
        resellers = money.resellers(self.db, vendor)
        self.listing(
            f"vendors/{links.safe_name(vendor)}.html",
            name,
            VENDOR_WHERE,
            [vendor],
            intro=f"DHS awards to {name}, or that mention it (bought through a reseller).",
            extra={
                "resellers": resellers,
                "resellers_svg": money.resellers_chart(resellers, name),
                "facts": competition.listing_counts(self.db, VENDOR_WHERE, [vendor]),
                "links": notice_pages.listed(self.notices.of_vendor(vendor), "../"),
            },
            vendor=vendor,
        )

    def agency_page_write(self, agency: str) -> None:
        agency_where = "a.awarding_subagency = ? AND a.award_key IN (SELECT entity_key FROM matches)"
        self.listing(
            self.agency_page(agency),
            clean(agency),
            agency_where,
            [agency],
            intro=f"Watched awards made by {clean(agency)}.",
            extra={
                "resellers": [],
                "facts": competition.listing_counts(self.db, agency_where, [agency]),
                "links": notice_pages.listed(self.notices.of_agency(agency), "../"),
            },
        )

    def watch_page(self, name: str) -> None:
        w = self.config.watches.get(name)
        facts = []
        if w:
            facts = [
                "Agencies: " + ", ".join(a.name for a in w.agencies),
                "Vendors: " + (", ".join(v.name for v in w.vendors.values()) or "none"),
                "Keywords: " + (", ".join(w.keywords) or "none"),
            ]
        self.listing(
            f"watches/{links.safe_name(name)}.html",
            f"Watch: {name}",
            "a.award_key IN (SELECT entity_key FROM matches WHERE watch = ?)",
            [name],
            intro=w.description if w else "",
            extra={"resellers": [], "facts": facts, "links": []},
        )

    def vendor_years(self, vendor: str) -> list[money.YearSplit]:
        """A vendor's money by fiscal year and path, read once per build (its page and the home page show it)."""
        if vendor not in self._years:
            self._years[vendor] = money.by_fiscal_year(self.db, VENDOR_WHERE, [vendor], vendor)
        return self._years[vendor]

    def timeline_page(
        self,
        rel: str,
        title: str,
        intro: str,
        feed: str,
        entries: list[dict[str, Any]],
        facts: Any = (),
        links: Any = (),
    ) -> None:
        """A listing page that is only a timeline (no awards table, chart or resellers): home, notices."""
        self.render(
            rel,
            "listing.html",
            title=title,
            intro=intro,
            feed=feed,
            csv=None,
            chart=None,
            awards=None,
            award_count=0,
            more=0,
            resellers=[],
            facts=list(facts),
            links=list(links),
            changes=entries,
        )

    def notices_page(self) -> None:
        """SAM.gov notices the watches kept (coming buys, award notices), newest first, with their feed."""
        changes = list(
            self.db.query(
                "SELECT * FROM changes WHERE kind IN ('new_notice', 'notice_changed') ORDER BY id DESC LIMIT ?",
                [TIMELINE],
            )
        )
        notices = rows_by_key(self.db, "notices", "notice_id", [c["entity_key"] for c in changes])
        entries = []
        for c in changes:
            n = notices.get(c["entity_key"])
            item = notice_item(c["entity_key"], [c], n, [], "", None)
            page = notice_pages.page_of(c["entity_key"]) if n else None  # its page links to the award it announces
            url = (f"{self.site_url}/{page}" if self.site_url else page) if page else item.official_url
            entries.append(timeline_entry(c, item, page, item.official_url, url))
        self.w.write(
            "notices.xml",
            self.templates["feed.xml"].render(
                title="watcher: SAM.gov notices",
                feed_id=feed_uuid("feed", "notices.xml"),
                updated=entries[0]["detected_at"] if entries else self.now,
                self_url=f"{self.site_url}/notices.xml" if self.site_url else "notices.xml",
                page_url=f"{self.site_url}/notices.html" if self.site_url else "notices.html",
                entries=entries,
            ),
        )
        self.timeline_page(
            "notices.html",
            "SAM.gov notices: coming buys and award notices",
            "Solicitations, sources-sought notices, justifications and award notices posted by the watched "
            "agencies that name a watched vendor (or announce an award watched here), from SAM.gov.",
            "notices.xml",
            entries,
        )

    def held_agencies(self) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT awarding_subagency FROM awards WHERE awarding_subagency IS NOT NULL"
                " AND award_key IN (SELECT entity_key FROM matches) ORDER BY 1"
            )
        ]

    def static_pages(self, bundles: list[str]) -> None:
        downloads = [(f"{what}.{fmt}", f"downloads/{what}.{fmt}") for what in export.EXPORTS for fmt in ("csv", "json")]
        downloads.append(("watcher.db (the SQLite database)", "downloads/watcher.db"))
        self.render("about.html", "about.html", title="About the data", freshness=self.freshness, downloads=downloads)
        self.render("search.html", "search.html", title="Search", bundles=bundles)
        for asset in ("style.css", "print.css", "search.js"):  # files, not inline: the pages' CSP runs no inline script
            self.w.write(f"assets/{asset}", self.env.loader.get_source(self.env, f"site/{asset}")[0])  # type: ignore[union-attr]

    def downloads(self) -> None:
        d = self.w.root / "downloads"
        d.mkdir(parents=True, exist_ok=True)
        for what in export.EXPORTS:
            with (
                (d / f"{what}.csv").open("w", encoding="utf-8", newline="") as csv_out,
                (d / f"{what}.json").open("w", encoding="utf-8") as json_out,
            ):
                export.write_table(self.db, what, csv_out, json_out)
        public_copy(self.db, d / "watcher.db")


def _vendor_list(matches: list[dict[str, Any]]) -> str:
    return ", ".join(sorted({m["vendor_name"] for m in matches}))
