"""Subawards in a watch run: who works under a watched prime, and where watched vendors are subcontractors.

Two ways in (docs/api/usaspending.md section 10):

- :func:`follow_prime`: every subaward of a prime the watch holds, from ``/api/v2/subawards/``,
  read only when the prime is new or its detail's ``subaward_count`` or ``total_subaward_amount``
  moved since the list was last read (``subaward_checks``), so an unchanged prime costs nothing.
- :func:`scan`: the subaward-level ``spending_by_award`` walks, one per agency role and search
  mode, finding the watch's vendors as sub-recipients under the watched agencies' primes,
  whoever holds them; each hit is judged by our matcher on the sub-recipient and description.

Both store through :func:`_store`: re-filed reports of one subaward are one row, a new one
is one ``new_subaward``, a changed one one ``subaward_changed`` with its field diff, and one
its prime's complete list no longer has one ``subaward_deleted``.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from watcher import links, store
from watcher.config import Watch
from watcher.diff import canonical, diff_subaward, merge_subaward, subaward_gone
from watcher.errors import SourceError
from watcher.http import ApiClient, parse_json, redact
from watcher.match import Matcher
from watcher.models import Award, ChangeKind, Match, Subaward
from watcher.sources import Raw, RunResult
from watcher.sources.usaspending import api
from watcher.sources.usaspending.subaward_parse import (
    collapse,
    from_list,
    from_search,
    list_body,
    subaward_body,
    subaward_plan,
    tie_body,
)
from watcher.store import subawards as saved
from watcher.values import to_decimal

log = logging.getLogger(__name__)

SUBAWARDS_PATH = "/api/v2/subawards/"
LIST_PAGE = 100  # the endpoint's maximum (usaspending-api common/validator/pagination.py)
MAX_LIST_PAGES = 1000
#: More subaward fetch failures than this in one run means the API itself is failing: stop the run.
MAX_FAILURES = 10
#: Pages of one (prime, subaward date) group read in page mode; page mode's hasNext is exact to 10,000 rows.
TIE_PAGES = 50

Ref = tuple[Raw, int]


# ---------------------------------------------------------------- storing


def _store(
    db: Database,
    found: dict[str, tuple[Subaward, list[Ref]]],
    writes: store.PageWrites,
    now: str,
    *,
    quiet: bool = False,
) -> None:
    """Write what an answer said of these subawards; their changes (and responses) go into ``writes``.

    ``quiet``: the subawards arrive as a prime's history (its first list read), so they are
    stored without a ``new_subaward`` each.
    """
    stored = saved.get_subawards(db, list(found))
    to_save: list[tuple[Subaward, dict[str, Any] | None]] = []
    unchanged: list[str] = []
    for key, (sub, refs) in found.items():
        old = stored.get(key)
        if old is not None and old["fingerprint"] == sub.fingerprint and not old["deleted_at"]:
            unchanged.append(key)  # like an unchanged award: no write, no response kept again
            continue
        writes.provenance.append((key, links.usaspending_award(sub.prime_award_key), list(refs)))
        change = diff_subaward(old, sub)
        if change and not (quiet and change.kind == ChangeKind.NEW_SUBAWARD):
            writes.changes.append(change)
        to_save.append((merge_subaward(old, sub), old))
    saved.save_subawards(db, to_save, now)
    saved.touch_subawards(db, unchanged, now)


# ---------------------------------------------------------------- the subawards of a held prime


def fetch_list(client: ApiClient, prime_award_key: str) -> list[tuple[dict[str, Any], Raw, int]]:
    """Every report under one prime, page by page (page mode; sorted by the unique report id)."""
    return api.fetch_pages(
        client,
        SUBAWARDS_PATH,
        lambda page: list_body(prime_award_key, page, LIST_PAGE),
        f"subawards of {prime_award_key}",
        MAX_LIST_PAGES,
    )


def _same(a: tuple[int | None, Decimal | None], b: tuple[int | None, Decimal | None]) -> bool:
    return a[0] == b[0] and canonical(a[1]) == canonical(b[1])


def follow_prime(
    db: Database,
    client: ApiClient,
    detail: dict[str, Any],
    writes: store.PageWrites,
    now: str,
    warnings: list[str],
) -> bool:
    """Read a held prime's subawards if its detail says they moved; False when they must be read again.

    ``detail`` is the award detail the poll just fetched (``/api/v2/awards/<id>/``); its
    ``subaward_count`` counts every report under the prime, re-filings included, and
    ``total_subaward_amount`` sums them (usaspending-api ``update_delta_award_with_subaward_counts``).
    A list that does not add up to them is a lagging or cached answer: what it shows is stored,
    but nothing is taken as withdrawn and the prime is read again next poll. The first list read
    of a prime is its history and arrives quietly, like a new award's modifications.
    """
    key = str(detail.get("generated_unique_award_id") or "").upper()
    count = detail.get("subaward_count")
    if not key or not isinstance(count, int) or isinstance(count, bool):
        return True  # the detail says nothing of subawards
    said = (count, to_decimal(detail.get("total_subaward_amount")))
    last = saved.get_check(db, key)
    if (last is not None and _same(last, said)) or (last is None and count == 0):
        if last is None:
            saved.set_check(db, key, count, said[1], now)
        return True
    try:
        rows = fetch_list(client, key)
    except SourceError as exc:
        warnings.append(f"subawards of {key}: {redact(str(exc))}")
        log.warning("subawards of %s failed, will retry next poll: %s", key, exc)
        if len(warnings) > MAX_FAILURES:
            raise SourceError(f"{len(warnings)} fetches failed in this run; last: {exc}") from None
        return False
    found = collapse((from_list(row, key), (raw, i)) for row, raw, i in rows)
    total = sum((to_decimal(row.get("amount")) or Decimal(0) for row, _, _ in rows), Decimal(0))
    complete = len(rows) == count and canonical(total) == canonical(said[1] or Decimal(0))
    _store(db, found, writes, now, quiet=last is None)
    if not complete:
        log.info("subawards of %s: the list has %d reports (%s), the detail says %d (%s); will re-read", key,
                 len(rows), total, count, said[1])  # fmt: skip
        return False
    gone = [row for k, row in saved.subawards_of(db, key).items() if k not in found and not row["deleted_at"]]
    writes.changes += [subaward_gone(row) for row in gone]
    saved.mark_withdrawn(db, [row["subaward_key"] for row in gone], now)
    saved.set_check(db, key, count, said[1], now)
    return True


# ---------------------------------------------------------------- vendors as sub-recipients


def _judge(matcher: Matcher, sub: Subaward | dict[str, Any]) -> list[Match]:
    """Our matcher on the sub-recipient (name, UEI, parent) and the subaward's description."""
    s = sub if isinstance(sub, Subaward) else Subaward.from_row(sub)
    as_award = Award(
        award_key=s.subaward_key,
        recipient_name=s.sub_recipient_name,
        recipient_uei=s.sub_recipient_uei,
        parent_name=s.sub_parent_name,
        parent_uei=s.sub_parent_uei,
        description=s.description,
        total_obligation=canonical(s.amount),
    )
    where = f"subaward {s.subaward_number or '(no number)'} under {s.prime_piid or s.prime_award_key}"
    return [Match(m.vendor, m.reason, f"{where}: {m.evidence}") for m in matcher.match(as_award)]


def _walk(
    client: ApiClient, body: dict[str, Any], label: str, result: RunResult
) -> list[tuple[dict[str, Any], Raw, int]]:
    """One subaward-level walk, with each page boundary's (prime, date) group read whole.

    The cursor's tie-breaker is the prime's id (a string, usaspending.md 10.2), not the report's:
    ``search_after`` skips the rows equal to a page's last one in date and prime. Such a group
    lies on one page (the next page starts past all of it), so its rows there are replaced by
    one request for the group alone.
    """
    rows: list[tuple[dict[str, Any], Raw, int]] = []
    boundaries: set[tuple[str, str]] = set()
    pages = list(api.walk(client, body, label))
    result.pages += len(pages)
    for n, (results, raw) in enumerate(pages):
        rows += [(r, raw, i) for i, r in enumerate(results)]
        if n < len(pages) - 1 and results and isinstance(results[-1], dict):
            boundaries.add(_group(results[-1]))
    for prime, day in sorted(boundaries):
        if not prime or not day:
            continue
        rows = [item for item in rows if _group(item[0]) != (prime, day)]
        rows += _tie_pages(client, tie_body(body, prime, day), f"{label} ties", result)
    return rows


def _tie_pages(
    client: ApiClient, body: dict[str, Any], label: str, result: RunResult
) -> list[tuple[dict[str, Any], Raw, int]]:
    """A (prime, date) group in page mode: within it every row ties, so a cursor would skip all but a page."""
    rows: list[tuple[dict[str, Any], Raw, int]] = []
    for page in range(1, TIE_PAGES + 1):
        sent = {**body, "page": page}
        what = f"spending_by_award {label} page {page}"
        raw = Raw(
            "POST", api.SEARCH_PATH, sent, client.request_json("POST", api.SEARCH_PATH, json_body=sent, parse=False)
        )
        payload = parse_json(raw.content, what)
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise SourceError(f"{what}: response has no results list")
        api.check_messages(payload, what)
        result.pages += 1
        rows += [(r, raw, i) for i, r in enumerate(payload["results"])]
        if not (payload.get("page_metadata") or {}).get("hasNext"):
            return rows
    raise SourceError(f"spending_by_award {label}: more than {TIE_PAGES} pages of one prime and day")


def _group(row: Any) -> tuple[str, str]:
    """A search row's (prime, subaward date): what the cursor compares it on."""
    if not isinstance(row, dict):
        return ("", "")
    return (str(row.get("prime_award_generated_internal_id") or ""), str(row.get("Sub-Award Date") or "")[:10])


def scan(
    db: Database,
    client: ApiClient,
    watch: Watch,
    matcher: Matcher,
    today: date,
    page_size: int,
    now: str,
    run_id: int,
    result: RunResult,
) -> None:
    """The subaward-level walks of a watch: its vendors as sub-recipients, stored with their matches."""
    found: dict[str, tuple[Subaward, list[Ref]]] = {}
    for query in subaward_plan(watch):
        body = subaward_body(watch, query, today, page_size)
        reports: list[tuple[Subaward, Ref]] = []
        for row, raw, i in _walk(client, body, f"{watch.name} {query.label}", result):
            sub = from_search(row)
            if sub is None:
                result.warnings.append(f"subaward search {query.label}: a row names no prime award; skipped")
                continue
            reports.append((sub, (raw, i)))
        for key, (sub, refs) in collapse(reports).items():
            if key in found:  # another walk's: the same reports (the one that saw more of them counts)
                kept, kept_refs = found[key]
                if (sub.report_count or 0) <= (kept.report_count or 0):
                    continue
                refs = [*kept_refs, *refs]
            found[key] = (sub, refs)
    writes = store.PageWrites("usaspending")
    mine = writes.watch_matches(watch.name)
    matched = {}
    for key, (sub, refs) in found.items():
        verdict = _judge(matcher, sub)
        if verdict:
            mine[key] = verdict
            matched[key] = (sub, refs)
    _store(db, matched, writes, now)
    store.save_page(db, writes, now, run_id)
    result.changes += len(writes.changes)
    for c in writes.changes:
        result.kinds[c.kind] = result.kinds.get(c.kind, 0) + 1
    log.info("watch %s: subawards: %d matched, %d change(s)", watch.name, len(matched), len(writes.changes))


def rejudge(db: Database, watch: str, matcher: Matcher, now: str) -> None:
    """The watch's rules changed: its stored sub-recipient matches are judged again (no request)."""
    rows = list(
        db.query(
            "SELECT s.* FROM subawards s WHERE s.subaward_key IN (SELECT entity_key FROM matches WHERE watch = ?)",
            [watch],
        )
    )
    store.replace_matches(db, watch, {r["subaward_key"]: _judge(matcher, r) for r in rows}, now)


def describe(watch: Watch) -> str:
    return f"{len(subaward_plan(watch))} of subawards"
