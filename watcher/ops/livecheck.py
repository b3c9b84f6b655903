"""``watcher check --live``: test, with a handful of real requests, what the watcher assumes of the APIs.

The watcher is built and tested against replay servers that follow docs/api/*.md. Some of
what those notes say could not be verified where the watcher was built (no machine there
reaches the APIs), so this is the first thing to run with network. Each assumption is
one :class:`Finding`: held, failed (with what was seen instead) or not tested (why).

Costs: one autocomplete per agency and role asked, two award searches (the cursor echo),
one transaction search, one subaward search and one list of a contract vehicle's orders on
USAspending; at most three SAM.gov requests, counted in the
daily budget like any other (two Opportunities searches, one deletions search).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from watcher.config import Config, Watch
from watcher.errors import WatcherError
from watcher.http import ApiClient
from watcher.models import SourceName
from watcher.sources.sam import awards as sam_awards
from watcher.sources.sam import opportunities as sam_opportunities
from watcher.sources.sam.client import SamClient, sam_key
from watcher.sources.usaspending import api, vehicles
from watcher.sources.usaspending.subaward_parse import subaward_body, subaward_plan

#: SAM.gov requests a live check may spend (a key without a role has 10 a day).
SAM_REQUESTS = 3
WHAT_TO_SEND = (
    "If a check failed: run `watcher check --live --record DIR` and send us DIR (API keys are redacted in it)"
    " together with this output."
)


@dataclass
class Finding:
    """One assumption and what the live service showed; ``ok`` None means it could not be tested."""

    source: str
    assumption: str
    ok: bool | None
    seen: str

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        return f"{mark}  {self.source}: {self.assumption}: {self.seen}"


def _usaspending_watches(config: Config) -> list[Watch]:
    return [w for w in config.watches.values() if SourceName.USASPENDING in w.sources]


def check_usaspending(config: Config, client: ApiClient, today: date) -> list[Finding]:
    """Agency names, the cursor echo and the transaction-level keyword search."""
    out: list[Finding] = []
    watches = _usaspending_watches(config)
    agencies = {(a.name, a.tier): a for w in watches for a in w.agencies}
    roles = list(dict.fromkeys(r for w in watches for r in w.agency_roles))
    for (name, tier), _agency in sorted(agencies.items()):
        what = f"{tier} agency {name!r} is known by that exact name"
        try:
            found = [r for r in roles if name in api.known_agency_names(client, name, tier, r)]
        except WatcherError as exc:
            out.append(Finding("usaspending", what, False, f"the autocomplete failed: {exc}"))
            continue
        seen = f"listed by the {' and '.join(found)} autocomplete" if found else f"not listed by {'/'.join(roles)}"
        out.append(Finding("usaspending", what, bool(found), seen))
    if not watches:
        return out
    watch = watches[0]
    queries = sorted(api.plan(watch), key=lambda q: q.mode != "keyword")  # the broadest walk: most likely 2+ rows
    if queries:
        out.append(_cursor_echo(client, watch, queries[0], today))
    keyword = [q for q in api.transaction_plan(watch) if q.mode == "keyword"]
    if keyword:
        out.append(_transaction_keywords(client, watch, keyword[0], today))
    out.append(_subaward_level(client, watch, today))
    ids = [i for w in watches for i in vehicles.vehicle_ids(w)]
    if ids:
        out.append(_vehicle_orders(client, ids[0]))
    return out


def _subaward_level(client: ApiClient, watch: Watch, today: date) -> Finding:
    """The subaward level: the fields we ask come back (none always null), and the cursor is a string."""
    what = "the subaward search serves the fields asked, with a string cursor"
    query = sorted(subaward_plan(watch), key=lambda q: q.mode != "keyword")[0]
    body = subaward_body(watch, query, today, 2)
    try:
        answer = client.request_json("POST", api.SEARCH_PATH, json_body=body)
    except WatcherError as exc:
        return Finding("usaspending", what, False, str(exc))
    rows = answer.get("results") if isinstance(answer, dict) else None
    unused = [m for m in answer.get("messages") or [] if "not used" in str(m)] if isinstance(answer, dict) else []
    if not isinstance(rows, list) or unused:
        return Finding("usaspending", what, False, f"unexpected answer: {unused or answer!r:.300}")
    if not rows:
        return Finding("usaspending", what, None, f"{query.label} found no subaward in the window: nothing to compare")
    asked = [*body["fields"], "prime_award_generated_internal_id"]
    missing = [f for f in asked if not all(isinstance(r, dict) and f in r for r in rows)]
    null = [f for f in asked if all(not isinstance(r, dict) or r.get(f) is None for r in rows)]
    cursor = (answer.get("page_metadata") or {}).get("last_record_unique_id")
    ok = not missing and not {"Sub-Award ID", "prime_award_generated_internal_id"} & set(null)
    ok = ok and (cursor is None or isinstance(cursor, str))
    seen = f"{len(rows)} row(s); missing {missing or 'none'}; always null {null or 'none'}; cursor {cursor!r}"
    return Finding("usaspending", what, ok, seen)


def _vehicle_orders(client: ApiClient, idv_id: str) -> Finding:
    """docs/api/usaspending.md 4.3: the IDV's generated id lists its orders, whose ids name it."""
    what = "idvs/awards lists a contract vehicle's orders, each naming the vehicle in its award id"
    try:
        answer = client.request_json("POST", vehicles.CHILDREN_PATH, json_body={**vehicles.children_body(idv_id, 1)})
    except WatcherError as exc:
        return Finding("usaspending", what, False, str(exc))
    rows = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(rows, list):
        return Finding("usaspending", what, False, f"unexpected answer: {answer!r:.300}")
    keys = [str(r.get("generated_unique_award_id")) for r in rows if isinstance(r, dict)]
    if not keys:  # the seeds cite a real order under every vehicle they list
        return Finding("usaspending", what, False, f"{idv_id}: no order listed (is the id form right?)")
    strays = [k for k in keys if not k.upper().endswith("_" + idv_id[len("CONT_IDV_") :])]
    amounts = all(isinstance(r, dict) and "obligated_amount" in r for r in rows)
    seen = f"{idv_id}: {len(keys)} order(s) on the first page, e.g. {keys[:2]}"
    seen += f"; not under it: {strays[:2]}" if strays else "" if amounts else "; no obligated_amount"
    return Finding("usaspending", what, not strays and amounts, seen)


def _cursor_echo(client: ApiClient, watch: Watch, query: api.Query, today: date) -> Finding:
    what = "spending_by_award accepts its own cursor back and moves on"
    body = api.search_body(watch, query, today, 1)
    try:
        first = client.request_json("POST", api.SEARCH_PATH, json_body=body)
        meta = first.get("page_metadata") or {}
        if not meta.get("hasNext"):
            return Finding("usaspending", what, None, f"{query.label} has fewer than 2 results in the window")
        cursor = (meta.get("last_record_unique_id"), meta.get("last_record_sort_value"))
        second = client.request_json(
            "POST",
            api.SEARCH_PATH,
            json_body={**body, "last_record_unique_id": cursor[0], "last_record_sort_value": cursor[1]},
        )
    except WatcherError as exc:
        return Finding("usaspending", what, False, str(exc))
    ids = [str(r.get("generated_internal_id")) for p in (first, second) for r in p.get("results") or []]
    ok = len(ids) == 2 and ids[0] != ids[1]
    return Finding("usaspending", what, ok, f"cursor {cursor!r}; page 1 {ids[:1]}, page 2 {ids[1:]}")


def _transaction_keywords(client: ApiClient, watch: Watch, query: api.Query, today: date) -> Finding:
    what = "spending_by_transaction searches every action's text by its own modification date"
    body = {**api.transaction_body(watch, query, today), "limit": 5}
    try:
        answer = client.request_json("POST", api.TRANSACTION_SEARCH_PATH, json_body=body)
    except WatcherError as exc:
        return Finding("usaspending", what, False, str(exc))
    rows = answer.get("results")
    other = [m for m in answer.get("messages") or [] if "not used" in str(m) and "keyword_search" not in str(m)]
    if not isinstance(rows, list) or other:
        return Finding("usaspending", what, False, f"unexpected answer: {other or answer!r:.300}")
    sample = [f"{r.get('Award ID')} {r.get('Mod')}" for r in rows[:3]]
    return Finding("usaspending", what, True, f"{len(rows)} action(s) on the first page, e.g. {sample}")


def check_sam(config: Config, db: Database, record: Path | None, today: date) -> list[Finding]:
    """The comma form of ``ptype``, ``totalRecords``, and the deletions search: at most 3 requests."""
    sam_watches = [w for w in config.watches.values() if any(s.startswith("sam_") for s in w.sources)]
    if not sam_watches:
        return []
    if not sam_key():
        return [Finding("sam", "every SAM.gov assumption", None, "SAM_API_KEY is not set: nothing was sent")]
    out: list[Finding] = []
    with SamClient(config, db) as sam:
        sam.http.record_to(record, "sam")
        types = list(dict.fromkeys(config.settings.sam.notice_types))
        start, end = today - timedelta(days=7), today
        base = {"postedFrom": sam_awards.sam_date(start), "postedTo": sam_awards.sam_date(end), "limit": "1"}
        totals: list[Any] = []
        for form, ptype in (("comma", ",".join(types)), ("repeated", types)):
            try:
                payload, _ = sam.get(
                    sam_opportunities.SEARCH_PATH,
                    {**base, "ptype": ptype},
                    **_meta(f"live: ptype {form}"),
                    no_data_404=True,  # an empty search is a 404 "No Data found"
                )
            except WatcherError as exc:
                return [Finding("sam", f"Opportunities answers the {form} form of ptype", False, str(exc))]
            if payload is None:
                totals.append(0)
            else:
                totals.append(payload.get("totalRecords") if isinstance(payload, dict) else None)
        present = all(t is not None for t in totals)
        seen = f"totalRecords {totals}"
        if not present:
            seen += " (walks then page on while pages are full, so nothing is lost; the capture tells us more)"
        out.append(Finding("sam", "Opportunities answers carry totalRecords", present, seen))
        if present:
            seen = f"comma form {totals[0]}, repeated form {totals[1]} notices posted {start}..{end}"
            same = None if str(totals[0]) == str(totals[1]) == "0" else str(totals[0]) == str(totals[1])
            out.append(Finding("sam", "ptype=a,u,... selects what repeated ptype parameters select", same, seen))
        out.append(_deletions(sam, today))
    return out


def _meta(query: str) -> dict[str, Any]:
    return {"source": "check", "watch": "-", "query": query, "page": 0}


def _deletions(sam: SamClient, today: date) -> Finding:
    what = "deletedStatus=yes with a lastModifiedDate window lists deletions"
    start = today - timedelta(days=30)
    params = {
        "deletedStatus": "yes",
        "lastModifiedDate": sam_awards.window(start, today),
        "limit": "10",
        "offset": "0",
    }
    try:
        payload, _ = sam.get(sam_awards.SEARCH_PATH, params, **_meta("live: deletions"))
    except WatcherError as exc:
        return Finding("sam", what, False, str(exc))
    if payload is None:
        return Finding("sam", what, True, f"no deletion in {start}..{today} (204): nothing to compare")
    rows = payload.get("awardSummary") or [] if isinstance(payload, dict) else []
    total = payload.get("totalRecords") if isinstance(payload, dict) else None
    dates = sorted(
        str(d)[:10]
        for r in rows
        for d in [((r.get("coreData") or {}).get("lastModifiedDate") if isinstance(r, dict) else None)]
        if d
    )
    seen = f"totalRecords {total!r}, {len(rows)} record(s) on the first page"
    if dates:
        seen += f"; their own lastModifiedDate runs {dates[0]}..{dates[-1]}"
        seen += " (dates before the window mean the window is on the deletion date, as assumed)"
    return Finding("sam", what, total is not None or bool(rows), seen)


def run(config: Config, db: Database, usaspending: ApiClient, record: Path | None) -> list[Finding]:
    """Every live check; SAM.gov's only when a watch uses it and a key is set."""
    today = datetime.now(UTC).date()
    usaspending.record_to(record, "usaspending")
    findings = check_usaspending(config, usaspending, today)
    findings += check_sam(config, db, record, today)
    return findings
