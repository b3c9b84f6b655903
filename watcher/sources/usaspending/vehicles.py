"""Orders under the watched vendors' own contract vehicles (IDVs, BPAs), which no search by name or word returns.

An order under Palantir's BPA may name nobody: paid to an integrator, described as "system
modernization". ``spending_by_award`` cannot filter on the parent award (none of its filters
reads it: usaspending-api ``common/query_with_filters.py``), so each poll lists each vehicle's
orders with ``POST /api/v2/idvs/awards/`` (``type: child_awards``; docs/api/usaspending.md 4.3):
one request per vehicle per 100 orders. The list gives each order's generated id, total
obligation and dates, and the awarding *department*, not its recipient: an order placed by a
watched agency (the agency code in its id) that is new, or whose total or dates moved, is read
by its PIID through the poll's usual page path, where the matcher gives it reason ``vehicle``.

What it cannot see: an order placed by another agency with a watched agency's money (the list
does not say who funds an order; the other walks find it when it names a vendor), and an
amendment that changes only an order's text (its total and dates stay; again the other walks
see it when the text names a vendor).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from watcher import store
from watcher.config import Watch
from watcher.errors import ImpossibleAmount, SourceError
from watcher.http import ApiClient, parse_json
from watcher.sources.usaspending.parse import parse_award_key
from watcher.values import to_date, to_decimal

log = logging.getLogger(__name__)

CHILDREN_PATH = "/api/v2/idvs/awards/"
CHILDREN_PAGE = 100  # the view's maximum limit
MAX_PAGES = 500  # 50,000 orders under one vehicle: far beyond any; stops a list that never ends


@dataclass(frozen=True)
class Child:
    """One order as the vehicle's list gives it: enough to tell whether it is new or moved."""

    award_key: str
    piid: str | None
    obligated: Decimal | None
    start_date: str | None
    end_date: str | None
    awarding_agency: str | None  # the awarding department (toptier) name

    @property
    def agency_code(self) -> str | None:
        """The awarding component's code, from the generated id (``CONT_AWD_<piid>_<code>_...``)."""
        return parse_award_key(self.award_key)["agency"]


def vehicle_ids(watch: Watch) -> list[str]:
    """The generated ids of the watch's vehicles (``CONT_IDV_<piid>_<agency>``), each once.

    None for a watch that follows only funding agencies: the list says who placed an order, not who pays.
    """
    if "awarding" not in watch.agency_roles:
        return []
    ids = [f"CONT_IDV_{v.piid}_{v.agency}" for vendor in watch.vendors.values() for v in vendor.vehicles]
    return list(dict.fromkeys(ids))


def children_body(idv_id: str, page: int) -> dict[str, Any]:
    """One page of a vehicle's orders; sorted by start date, newest first (the order is only for stable pages)."""
    return {
        "award_id": idv_id,
        "type": "child_awards",
        "limit": CHILDREN_PAGE,
        "page": page,
        "sort": "period_of_performance_start_date",
        "order": "desc",
    }


def child_from_row(row: Any) -> Child | None:
    """A row of the list as a :class:`Child`; None for one that is not a contract award."""
    if not isinstance(row, dict):
        return None
    key = row.get("generated_unique_award_id")
    if not isinstance(key, str) or not key.upper().startswith("CONT_AWD_"):
        return None
    return Child(
        award_key=key.upper(),
        piid=str(row["piid"]).strip() if row.get("piid") else None,
        obligated=_amount(row.get("obligated_amount")),
        start_date=to_date(row.get("period_of_performance_start_date")),
        end_date=to_date(row.get("period_of_performance_current_end_date")),
        awarding_agency=row.get("awarding_agency") if isinstance(row.get("awarding_agency"), str) else None,
    )


def walk_children(client: ApiClient, idv_id: str, label: str) -> Iterator[list[dict[str, Any]]]:
    """Each page of a vehicle's orders (page mode), until ``hasNext`` is false."""
    for page in range(1, MAX_PAGES + 1):
        what = f"idvs/awards {label} {idv_id} page {page}"
        content = client.request_json("POST", CHILDREN_PATH, json_body=children_body(idv_id, page), parse=False)
        payload = parse_json(content, what)
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise SourceError(f"{what}: response has no results list")
        yield payload["results"]
        if not (payload.get("page_metadata") or {}).get("hasNext"):
            return
    raise SourceError(f"idvs/awards {label} {idv_id}: more than {MAX_PAGES} pages")


def at_watched_agency(child: Child, watch: Watch) -> bool:
    """Placed by one of the watch's agencies: a component by its code, a department by its name."""
    for agency in watch.agencies:
        if agency.tier == "toptier" and child.awarding_agency == agency.name:
            return True
        if agency.tier == "subtier" and agency.code and child.agency_code == agency.code:
            return True
    return False


def _amount(value: Any) -> Decimal | None:
    """The list's amount, or None for an impossible one: the order itself is judged (and refused) when read."""
    try:
        return to_decimal(value)
    except ImpossibleAmount:
        return None


def _cents(value: Any) -> int:
    amount = _amount(value) or Decimal(0)
    return int((amount * 100).to_integral_value())


def to_read(
    children: Iterable[Child], stored: dict[str, dict[str, Any]], held: set[str], rejected: set[str], since: str
) -> tuple[dict[str, str | None], set[str]]:
    """Which listed orders to read (by PIID), and which stored ones only need the watch's verdict.

    An order we never stored is read unless it ended before ``since`` (the lookback window's
    start: an order that ended earlier is history, not news) or the watch already turned it
    down (``rejected``, cleared when the rules change); one the watch holds is read when its
    total or dates moved; one stored for another watch only needs judging, from what is
    stored (no request).
    """
    wanted: dict[str, str | None] = {}
    judge: set[str] = set()
    for c in children:
        row = stored.get(c.award_key)
        if row is None:
            ended = c.end_date is not None and c.end_date < since
            if not ended and c.award_key not in rejected:
                wanted[c.award_key] = c.piid
            continue
        if c.award_key not in held:
            judge.add(c.award_key)
            continue
        moved = _cents(row.get("total_obligation")) != _cents(c.obligated) or (
            to_date(row.get("start_date")),
            to_date(row.get("end_date")),
        ) != (c.start_date, c.end_date)
        if moved:
            wanted[c.award_key] = c.piid
    return wanted, judge


def orders_to_read(
    client: ApiClient, db: Database, watch: Watch, held: set[str], seen: set[str], since: str
) -> tuple[dict[str, str | None], set[str], int]:
    """List every vehicle's orders; (orders to read by PIID, stored orders to judge, pages read).

    Orders the walks of this poll already listed (``seen``) were handled there; ``since`` is the
    start of the lookback window.
    """
    children: dict[str, Child] = {}
    pages = 0
    for idv_id in vehicle_ids(watch):
        before = len(children)
        for rows in walk_children(client, idv_id, watch.name):
            pages += 1
            for row in rows:
                child = child_from_row(row)
                if child is not None and at_watched_agency(child, watch) and child.award_key not in seen:
                    children.setdefault(child.award_key, child)
        log.info("watch %s: vehicle %s: %d order(s) by its agencies", watch.name, idv_id, len(children) - before)
    keys = list(children)
    stored = store.get_awards(db, keys)
    rejected = set(store.get_rejected(db, watch.name, keys))
    wanted, judge = to_read(children.values(), stored, held, rejected, since)
    return wanted, judge, pages
