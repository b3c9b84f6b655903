"""The pure parts of a backfill: date slices sized to the data, the searches' filters, composed contract actions.

No I/O here: ``backfill`` runs the requests and writes, and these decide what it asks
and how a staged search row becomes a transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from watcher.config import AWARD_TYPE_CODES, Watch
from watcher.errors import ImpossibleAmount, SourceError
from watcher.match import Matcher
from watcher.models import Award, Transaction
from watcher.sources.usaspending import api as usaspending
from watcher.sources.usaspending.parse import parse_award_key
from watcher.values import plain_text, to_date, to_decimal

TX_FIELDS = ["Award ID", "Mod", "Action Date", "Action Type", "Transaction Amount", "Transaction Description"]
SLICE_DAYS = 31
#: Records per slice the plan aims at: a slice is the unit a killed backfill redoes, and a
#: spending_by_transaction slice must stay under its 50,000-row window.
TARGET_ROWS = 5_000
PAGE = 100
MAX_TX_ROWS = 50_000  # spending_by_transaction's window (last_page): a fuller slice is split in two
EARLIEST = date(2007, 10, 1)


def slices(since: date, until: date, days: int = SLICE_DAYS) -> list[tuple[date, date]]:
    """[since, until] cut into consecutive inclusive slices of at most ``days`` days (pure)."""
    out, start = [], since
    while start <= until:
        end = min(until, start + timedelta(days=days - 1))
        out.append((start, end))
        start = end + timedelta(days=1)
    return out


def slice_days(span: int, records: int, target: int = TARGET_ROWS) -> int:
    """Days per slice so that a slice holds about ``target`` records, if they were spread evenly (pure)."""
    if records <= target:
        return span
    return max(1, min(span, span * target // records))


def last_page(limit: int = PAGE, window: int = MAX_TX_ROWS) -> int:
    """The last page spending_by_transaction can answer at ``limit`` rows a page (pure).

    The endpoint asks Elasticsearch for rows ``(page-1)*limit`` to ``page*limit + 1`` (one more
    than a page, to set ``hasNext``), and Elasticsearch refuses a request that ends past the
    index's 50,000-row window: page 500 of 100 is a 503 (usaspending-api issue #3218;
    ``search/v2/views/spending_by_transaction.py``), so 499 is the last page of 100.
    """
    return (window - 1) // limit


def truncation_warning(label: str, limit: int = PAGE) -> str:
    """What a walk still full at its last page says: which slice, and which of its rows were not read (pure)."""
    readable = last_page(limit) * limit
    return (
        f"spending_by_transaction {label}: still full at page {last_page(limit)}; actions beyond the first"
        f" {readable:,} could not be read (the API cannot serve page {last_page(limit) + 1}, usaspending issue #3218)"
    )


def tx_queries(watch: Watch) -> list[usaspending.Query]:
    """spending_by_transaction accepts mixed award groups: one walk per role and search mode."""
    seen: dict[tuple[str, str], usaspending.Query] = {}
    for q in usaspending.plan(watch):
        seen.setdefault((q.role, q.mode), usaspending.Query("all", q.role, q.mode, q.terms))
    return list(seen.values())


def filters(watch: Watch, q: usaspending.Query, start: date, end: date, date_type: str) -> dict[str, Any]:
    group = watch.award_types[0] if q.group == "all" else q.group
    body = usaspending.search_body(watch, usaspending.Query(group, q.role, q.mode, q.terms), end, PAGE)
    filters = body["filters"]
    if q.group == "all":
        filters["award_type_codes"] = [c for g in watch.award_types for c in AWARD_TYPE_CODES[g]]
    filters["time_period"] = [
        {"start_date": max(start, EARLIEST).isoformat(), "end_date": end.isoformat(), "date_type": date_type}
    ]
    return filters


def piid_filters(watch: Watch, piids: list[str], start: date, end: date) -> dict[str, Any]:
    """The filters of a walk by PIID (the complete histories of up to 100 awards) over [start, end] (pure).

    The ids go unquoted and upper case. usaspending-api (``common/query_with_filters.py``,
    ``_AwardIds``) turns a quoted id into a term query Elasticsearch refuses (HTTP 503 with an
    empty body, docs/api/usaspending.md trap 22), and an unquoted one, after ``es_sanitize``,
    into a regexp on the keyword ``display_award_id``: case-sensitive and matching the whole
    value, so a plain PIID is an exact match. Other awards sharing a PIID (task order 0001
    under many IDVs) come back too; the caller keeps only its own.
    """
    return {
        "award_type_codes": [c for g in watch.award_types for c in AWARD_TYPE_CODES[g]],
        "award_ids": sorted({p.upper() for p in piids if p}),
        "time_period": [{"start_date": max(start, EARLIEST).isoformat(), "end_date": end.isoformat()}],
    }


def staged_rows(
    watch: str, pages: Sequence[tuple[int, Sequence[dict[str, Any] | None]]], refused: list[str] | None = None
) -> list[tuple[Any, ...]]:
    """The ``backfill_transactions`` rows of a walk's pages, each given as (responses.id, its results) (pure).

    spending_by_transaction has no transaction id, so a staged row is keyed by its award, its
    modification, the hash of its content and its ordinal: its place among the identical rows
    of the same page. Within one answer a document appears once, so two identical rows there are
    two actions (the same modification twice, same day, amount and words) and both are kept (0,
    1); a row the endpoint repeats on the next page (no tie-breaker) is ordinal 0 there too, so it
    is kept once. Identical actions split across two pages still collapse to one, which leaves
    the award's actions short of its total and sends it to the walk by PIID. A None result (a
    row of another award) is skipped but keeps its index. A row whose amount no award can carry
    (values.MAX_AMOUNT) is left out, and named in ``refused``.
    """
    out = []
    for response_id, results in pages:
        seen: dict[tuple[str, str, str], int] = {}
        for index, row in enumerate(results):
            if row is None:
                continue
            key = str(row.get("generated_internal_id") or "").upper()
            if not key:
                raise SourceError(f"spending_by_transaction: a row has no generated_internal_id: {row!r:.120}")
            try:
                obligation = to_decimal(row.get("Transaction Amount"))
            except ImpossibleAmount as exc:
                if refused is not None:
                    refused.append(f"{key} mod {row.get('Mod')}: Transaction Amount: {exc}; the row is refused")
                continue
            ident = (key, str(row.get("Mod") or "0"), row_hash(row))
            ordinal = seen[ident] = seen.get(ident, -1) + 1
            out.append(
                (
                    watch,
                    *ident,
                    ordinal,
                    to_date(row.get("Action Date")),
                    row.get("Action Type"),
                    as_float(obligation),
                    plain_text(str(row["Transaction Description"])) if row.get("Transaction Description") else None,
                    response_id,
                    index,
                )
            )
    return out


def row_hash(row: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(row, sort_keys=True, default=str).encode(), usedforsecurity=False).hexdigest()


def as_float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def compose(award: Award, staged: list[tuple]) -> tuple[list[Transaction], list[tuple[str, list]]]:
    """Staged rows as Transactions keyed like /api/v2/transactions/ ids (pure, order-independent).

    spending_by_transaction has no transaction id: the key is composed from the award key's
    parts, the modification and a counter for several actions under one modification, in a
    fixed order, so any run composes the same keys. They are provisional (``backfilled_at``):
    a poll that reads the award's real transactions, or a SAM.gov action of the award
    (``diff.pair_provisional``), replaces a row whose key was wrong and confirms one that was right.
    """
    parts = parse_award_key(award.award_key)
    out, refs = [], []
    counter: dict[str, int] = {}
    for _, mod, _, day, action_type, obligation, desc, response_id, index, _ in sorted(
        staged, key=lambda s: (s[1], s[3] or "", s[2], s[9])
    ):
        n = counter.get(mod, 0)
        counter[mod] = n + 1
        if award.category == "idv":
            key = f"CONT_TX_{parts['agency']}_-NONE-_{parts['piid']}_{mod}_-NONE-_-NONE-"
        else:
            key = (
                f"CONT_TX_{parts['agency']}_{parts['parent_agency'] or '-NONE-'}_{parts['piid']}_{mod}_"
                f"{parts['parent_piid'] or '-NONE-'}_{n}"
            )
        key = key.upper()
        out.append(
            Transaction(
                key,
                award.award_key,
                mod,
                day,
                action_type,
                None,
                None if obligation is None else Decimal(repr(obligation)),
                desc,
            )
        )
        refs.append((key, [response_id, index]))
    return out, refs


@dataclass
class BackfillResult:
    watch: str
    since: date
    until: date
    requests: int = 0
    slices: int = 0
    slices_skipped: int = 0  # done by an earlier, interrupted run
    transactions: int = 0
    awards: int = 0
    rejected: int = 0
    expected_awards: int = 0
    expected_transactions: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # slices with rows the API could not serve

    def summary(self) -> str:
        """One line for the command's output, then a line per warning; a failure says how to resume."""
        line = (
            f"{self.watch}: {self.since}..{self.until}: {self.awards} awards read ({self.awards - self.rejected} kept),"
            f" {self.transactions} actions, {self.requests} requests, {self.slices} slices"
            + (f" ({self.slices_skipped} done before)" if self.slices_skipped else "")
        )
        if self.errors:
            line += f"; FAILED: {self.errors[0]} (run the same command again to resume)"
        return "\n".join([line, *(f"  warning: {w}" for w in self.warnings)])


def named_piid(matcher: Matcher, award_key: str, descriptions: Iterable[str | None]) -> str | None:
    """The PIID to read an unreturned award by, when its staged actions' text matches the watch."""
    piid = parse_award_key(award_key)["piid"]
    pseudo = Award(award_key=award_key, piid=piid)
    if piid and matcher.match(pseudo, descriptions, min_amount=False):
        return piid.upper()
    return None


def by_group(piids: dict[str, str]) -> dict[str, list[str]]:
    """PIIDs by award group (from their award keys), sorted: one spending_by_award request per 100."""
    out: dict[str, set[str]] = {}
    for key, piid in piids.items():
        out.setdefault("idvs" if key.startswith("CONT_IDV_") else "contracts", set()).add(piid)
    return {g: sorted(p) for g, p in sorted(out.items())}
