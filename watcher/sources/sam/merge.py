"""Merge what SAM.gov returned into the store: contract actions onto the awards we hold, deletions, notices.

Pure decisions live in ``diff.merge_award`` and ``normalize_sam``; this module does the
reading and writing, inside the caller's transaction. A SAM.gov action takes USAspending's
keys, so it lands on the same award and transaction rows; facts from an award's latest
action replace stored ones and are reported, wording only fills blanks. Deleted actions we
hold become ``deleted`` changes. Notices are kept for the watches whose agencies posted them
and whose vendors (or held awards) they name, and linked to the award they announce.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from watcher import store
from watcher.config import Config, Watch
from watcher.diff import (
    FACT_FIELDS,
    TX_FACT_FIELDS,
    diff_award,
    field_diff,
    json_value,
    merge_award,
    merge_transaction,
    pair_provisional,
)
from watcher.errors import SourceError
from watcher.match import build_matcher
from watcher.models import DELETED, NEW_AWARD, NEW_TRANSACTION, TRANSACTION_CHANGED, Award, Change, ChangeKind, Match
from watcher.sources import Raw
from watcher.sources.sam import opportunities as sam_opportunities
from watcher.sources.sam.parse import NOTICE_FIELDS, Action, deleted_keys, loose_piid


class Merger:
    """The writes of one SAM.gov poll, with the lookups they share (matchers, agency names)."""

    def __init__(self, db: Database, config: Config, now: str) -> None:
        self.db, self.config, self.now = db, config, now
        self.matchers = {n: build_matcher(w, config.resellers) for n, w in config.watches.items()}
        self.names = _agency_names(config)

    def actions(
        self,
        actions: dict[str, list[tuple[Action, Raw, int, tuple[str, ...]]]],
        watches: dict[str, Watch],
        per_watch: dict[str, set[str]],
    ) -> list[Change]:
        db, now = self.db, self.now
        keys = list(actions)
        stored = store.get_awards(db, keys)
        tx_keys = [a.id.transaction_key for group in actions.values() for a, _, _, _ in group]
        stored_txs = store.rows_by_key(db, "transactions", "transaction_key", tx_keys)
        provisional = store.provisional_transactions(db, keys)  # backfilled actions under composed keys
        replaced: list[str] = []
        confirmed = [k for k, r in stored_txs.items() if r.get("backfilled_at")]
        latest_day: dict[str, str] = {}
        texts: dict[str, list[str]] = {}
        for chunk in range(0, len(keys), 500):
            part = keys[chunk : chunk + 500]
            marks = ",".join("?" * len(part))
            for key, d, desc in db.execute(
                f"SELECT award_key, action_date, description FROM transactions WHERE award_key IN ({marks})", part
            ):
                latest_day[key] = max(latest_day.get(key, ""), d or "")
                texts.setdefault(key, []).append(desc)
        existing_matches: dict[tuple[str, str], list[Match]] = {}
        for m in store.rows_by_key_multi(db, "matches", "entity_key", keys):
            existing_matches.setdefault((m["watch"], m["entity_key"]), []).append(
                Match(m["vendor"], m["reason"], m["evidence"])
            )
        changes: list[Change] = []
        award_writes: list[tuple[Award, dict[str, Any] | None, bool | None]] = []
        tx_writes = []
        matches: dict[str, dict[str, list[Match]]] = {}
        provenance: list[store.Provenance] = []
        for key, group in actions.items():
            group.sort(key=lambda g: (g[0].signed or "", g[0].last_modified or ""))
            newest_action = group[-1][0]
            old = stored.get(key)
            newest = (newest_action.signed or "") >= latest_day.get(key, "")
            award = merge_award(old, newest_action.award, newest)
            if old is None:  # the description of a new award is its base action's when SAM sent it
                base = next((a for a, _, _, _ in group if a.id.mod in ("0", "")), None)
                if base is not None and base.award.description:
                    award.description = base.award.description
            descriptions = [*texts.get(key, []), *(a.transaction.description for a, _, _, _ in group)]
            judged: dict[str, list[Match]] = {}
            for a, _, _, action_watches in group:
                for wname in action_watches:
                    w = watches.get(wname)
                    if w is None or wname in judged or not _in_agencies(a, w):
                        continue
                    found = self.matchers[wname].match(award, descriptions)
                    prior = existing_matches.get((wname, key), [])
                    if found or prior:
                        judged[wname] = list(dict.fromkeys([*prior, *found]))
            if not judged and old is None:
                continue  # not about our vendors, and not an award we hold
            for wname, ms in judged.items():
                matches.setdefault(wname, {})[key] = ms
                per_watch.setdefault(wname, set()).add(key)
            if old is None:
                changes.append(Change(NEW_AWARD, key, key, amount_delta=award.total_obligation, source="sam_awards"))
            else:
                facts = [f for f in FACT_FIELDS if old.get(f) is not None]
                change = diff_award(old, award, facts)
                if change:
                    change.source = "sam_awards"
                    changes.append(change)
            award_writes.append((award, old, None))
            refs: list[tuple[Any, int | None]] = [(raw, index) for _, raw, index, _ in group]
            provenance.append((key, award.source_url, refs))
            # An action the backfill stored under a composed key is that row, not a new one: it takes the real key.
            unknown = [a.transaction for a, _, _, _ in group if a.transaction.transaction_key not in stored_txs]
            free = [r for r in provisional.get(key, []) if r["transaction_key"] not in stored_txs]
            stand_ins = pair_provisional(unknown, free)
            replaced += [r["transaction_key"] for r in stand_ins.values()]
            for a, raw, index, _ in group:
                tx = a.transaction
                before = stored_txs.get(tx.transaction_key) or stand_ins.get(tx.transaction_key)
                if before is None and old is not None:
                    changes.append(
                        Change(
                            NEW_TRANSACTION, tx.transaction_key, key, amount_delta=tx.obligation, source="sam_awards"
                        )
                    )
                elif before is not None:
                    diff = field_diff(before, tx.to_row(), TX_FACT_FIELDS)
                    if diff:
                        delta = None
                        if "obligation" in diff:
                            delta = (tx.obligation or Decimal(0)) - Decimal(str(before.get("obligation") or 0))
                        changes.append(Change(TRANSACTION_CHANGED, tx.transaction_key, key, diff, delta, "sam_awards"))
                tx_writes.append(merge_transaction(before, tx))
                provenance.append((tx.transaction_key, award.source_url, [(raw, index)]))
        store.settle_provisional(db, replaced, confirmed)
        page = store.PageWrites("sam_awards", award_writes, tx_writes, matches, provenance=provenance)
        store.save_page(db, page, now)
        return changes

    def deletions(
        self, deletions: list[tuple[dict[str, Any], Raw, int]], per_watch: dict[str, set[str]]
    ) -> list[Change]:
        """Deleted actions we hold become ``deleted`` changes and leave ``transactions``."""
        candidates: dict[str, tuple[Raw, int]] = {}
        for rec, raw, index in deletions:
            try:
                for key in deleted_keys(rec):
                    candidates[key] = (raw, index)
            except SourceError:
                continue
        held = store.rows_by_key(self.db, "transactions", "transaction_key", list(candidates))
        changes = []
        for key, row in held.items():
            diff = {
                f: [json_value(row.get(f)), None]
                for f in ("modification_number", "action_date", "obligation", "description")
                if row.get(f) is not None
            }
            delta = -Decimal(str(row["obligation"])) if row.get("obligation") is not None else None
            changes.append(Change(DELETED, key, row["award_key"], diff, delta, "sam_awards"))
            self.db.execute("DELETE FROM transactions WHERE transaction_key = ?", [key])
            for m in self.db.execute("SELECT DISTINCT watch FROM matches WHERE entity_key = ?", [row["award_key"]]):
                per_watch.setdefault(m[0], set()).add(row["award_key"])
        if held:
            store.save_provenance(self.db, "sam_awards", [(k, None, [candidates[k]]) for k in held], self.now)
        return changes

    # ------------------------------------------------------------ notices

    def _link(self, notices: list[dict[str, Any]]) -> dict[str, str]:
        """notice_id -> award_key, for award notices whose number is one award's PIID (UEI breaks ties)."""
        numbers = {loose_piid(n["award_number"]) for n in notices if n.get("award_number")}
        numbers.discard("")
        if not numbers:
            return {}
        by_piid: dict[str, list[tuple[str, str | None]]] = {}
        marks = ",".join("?" * len(numbers))
        for key, p, uei in self.db.execute(
            f"SELECT award_key, piid, recipient_uei FROM awards WHERE replace(replace(upper(piid), '-', ''), ' ', '')"
            f" IN ({marks})",
            sorted(numbers),
        ):
            by_piid.setdefault(loose_piid(p), []).append((key, uei))
        out = {}
        for n in notices:
            found = by_piid.get(loose_piid(n.get("award_number")), [])
            if len(found) > 1 and n.get("awardee_uei"):
                found = [f for f in found if f[1] == n["awardee_uei"]]
            if len(found) == 1:
                out[n["notice_id"]] = found[0][0]
        return out

    def notices(
        self, parsed: dict[str, tuple[dict[str, Any], Raw, int]], watches: list[Watch], per_watch: dict[str, set[str]]
    ) -> list[Change]:
        db, now = self.db, self.now
        links = self._link([n for n, _, _ in parsed.values()])
        linked_matches: dict[tuple[str, str], list[str]] = {}
        for m in store.rows_by_key_multi(db, "matches", "entity_key", list(set(links.values()))):
            linked_matches.setdefault((m["watch"], m["entity_key"]), []).append(m["vendor"])
        matches: dict[str, dict[str, list[Match]]] = {}
        for w in watches:
            matcher = self.matchers[w.name]
            for nid, (n, _, _) in parsed.items():
                agency = sam_opportunities.agency_of(n, w.agencies)
                if agency is None:
                    continue
                found: list[Match] = []
                if w.notices == "all":
                    found.append(Match("", "agency", f"posted by {n.get('agency_path') or agency.name}"))
                pseudo = Award(
                    award_key=nid,
                    recipient_name=n.get("awardee_name"),
                    recipient_uei=n.get("awardee_uei"),
                    description=n.get("title"),
                    total_obligation=n.get("award_amount"),
                )
                found += matcher.match(pseudo, min_amount=n.get("award_amount") is not None)
                link = links.get(nid)
                for vendor in dict.fromkeys(linked_matches.get((w.name, link or ""), [])):
                    found.append(
                        Match(
                            vendor, "award", f"announces award {n.get('award_number')} ({link}), which this watch holds"
                        )
                    )
                if found:
                    matches.setdefault(w.name, {})[nid] = list(dict.fromkeys(found))
                    per_watch.setdefault(w.name, set()).add(nid)
        wanted = {nid for ms in matches.values() for nid in ms}
        stored = store.rows_by_key(db, "notices", "notice_id", sorted(wanted))
        changes: list[Change] = []
        rows: list[dict[str, Any]] = []
        provenance: list[store.Provenance] = []
        for nid in sorted(wanted):
            n, raw, index = parsed[nid]
            row = {**n, "award_key": links.get(nid), "award_amount": _float(n.get("award_amount"))}
            old = stored.get(nid)
            if old is None:
                changes.append(
                    Change(
                        ChangeKind.NEW_NOTICE,
                        nid,
                        links.get(nid),
                        amount_delta=n.get("award_amount"),
                        source="sam_opportunities",
                    )
                )
                row["first_seen_at"] = now
            else:
                row["first_seen_at"] = old["first_seen_at"]
                if old.get("fingerprint") != n["fingerprint"]:
                    diff = field_diff(old, n, NOTICE_FIELDS)
                    if diff:
                        changes.append(
                            Change(ChangeKind.NOTICE_CHANGED, nid, links.get(nid), diff, None, "sam_opportunities")
                        )
                if not links.get(nid) and old.get("award_key"):
                    row["award_key"] = old["award_key"]  # a link once made stays
            row["last_seen_at"] = now
            rows.append(row)
            provenance.append((nid, n["source_url"], [(raw, index)]))
        if rows:
            db.table("notices").upsert_all(rows, pk="notice_id", alter=False)
        new = {nid for ms in matches.values() for nid in ms if nid not in stored}
        store.save_page(db, store.PageWrites("sam_opportunities", matches=matches, provenance=provenance, new=new), now)
        return changes


def _float(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _in_agencies(action: Action, watch: Watch) -> bool:
    """Whether the action was awarded (or funded, per the watch's roles) by one of the watch's agencies."""
    for role in watch.agency_roles:
        dept, sub = action.contracting if role == "awarding" else action.funding
        for a in watch.agencies:
            if a.tier == "subtier" and a.code and sub == a.code:
                return True
            if a.tier == "toptier" and a.sam_department() and dept == a.sam_department():
                return True
    return False


def _agency_names(config: Config) -> dict[str, str]:
    """SAM agency codes -> USAspending's exact names (from the seeds), so both sources name agencies alike."""
    names: dict[str, str] = {}
    for a in config.agencies.values():
        if a.tier == "subtier" and a.code:
            names[a.code] = a.name
        elif a.tier == "toptier" and a.sam_department():
            names[a.sam_department() or ""] = a.name
    return names
