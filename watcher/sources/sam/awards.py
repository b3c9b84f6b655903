"""SAM.gov Contract Awards v1: which queries a watch needs, and the parameters of each page.

Rules from docs/api/sam.md 2.3-2.7: dates are ``MM/DD/YYYY`` ranges ``[a,b]``, ``offset`` is a page
index, ``limit`` is at most 100, ``~`` ORs at most 100 values but only in the list
parameters (UEIs, parent UEIs), and deletions are listed with ``deletedStatus=yes``
over the same kind of window. Queries are identified by their filters, so two watches
asking the same thing share one walk (and one share of the budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from watcher.config import Reseller, Watch

SEARCH_PATH = "/contract-awards/v1/search"
SOURCE = "sam_awards"
MAX_LIST = 100  # values per ~ list (docs/api/sam.md 2.3)


@dataclass(frozen=True)
class Query:
    """One walk: a source, its filters (its identity), the watches it serves and a label for people."""

    source: str
    key: str
    label: str
    watches: tuple[str, ...]
    params: tuple[tuple[str, str], ...]
    kind: str = "actions"  # actions | deleted | notices


def sam_date(d: date) -> str:
    return d.strftime("%m/%d/%Y")


def window(start: date, end: date) -> str:
    """``[MM/DD/YYYY,MM/DD/YYYY]``: the only date form Contract Awards accepts besides one day."""
    return f"[{sam_date(start)},{sam_date(end)}]"


def _query(params: list[tuple[str, str]], label: str, watch: str, kind: str = "actions") -> Query:
    key = SOURCE + ("/deleted" if kind == "deleted" else "") + "?" + "&".join(f"{k}={v}" for k, v in params)
    return Query(SOURCE, key, label, (watch,), tuple(params), kind)


def watch_queries(watch: Watch, resellers: dict[str, Reseller]) -> list[Query]:
    """The Contract Awards queries one watch needs (before merging with other watches')."""
    out: list[Query] = []
    if watch.sam_queries == "agencies":
        for role in watch.agency_roles:
            prefix = "contracting" if role == "awarding" else "funding"
            for agency in watch.agencies:
                name = agency.abbreviation or agency.name
                if agency.tier == "subtier" and agency.code:
                    params = [(f"{prefix}SubtierCode", agency.code)]
                elif agency.sam_department():
                    params = [(f"{prefix}DepartmentCode", agency.sam_department() or "")]
                else:
                    continue
                out.append(_query(params, f"{prefix} {params[0][1]} ({name})", watch.name))
        return out
    departments = sorted({d for a in watch.agencies if (d := a.sam_department())})
    ueis: list[str] = []
    parents: list[str] = []
    for key, vendor in watch.vendors.items():
        ueis += [u.uei for u in vendor.ueis]
        parents += [u.uei for u in vendor.parent_ueis]
        ueis += [u.uei for r in resellers.values() if key in r.vendors for u in r.ueis]
    terms = [*(m for v in watch.vendors.values() for m in v.mentions), *watch.keywords]
    terms = list({t.strip().upper(): t.strip() for t in terms if t.strip()}.values())
    for dept in departments:
        base = [("contractingDepartmentCode", dept)]
        for param, values, what in (
            ("awardeeUniqueEntityId", sorted(set(ueis)), "vendor UEIs"),
            ("ultimateParentUniqueEntityId", sorted(set(parents)), "parent UEIs"),
        ):
            for i in range(0, len(values), MAX_LIST):
                chunk = values[i : i + MAX_LIST]
                out.append(_query([*base, (param, "~".join(chunk))], f"{what} ({len(chunk)}) at {dept}", watch.name))
        for term in terms:
            out.append(_query([*base, ("q", term)], f"mentions {term!r} at {dept}", watch.name))
    return out


def plan(watches: list[Watch], resellers: dict[str, Reseller]) -> list[Query]:
    """Every watch's queries, merged when their filters are equal, then one deletion walk for all of them."""
    merged: dict[str, Query] = {}
    for w in watches:
        for q in watch_queries(w, resellers):
            have = merged.get(q.key)
            merged[q.key] = q if have is None else Query(**{**vars(have), "watches": (*have.watches, w.name)})
    queries = list(merged.values())
    if watches:
        # Deletions are listed for everyone (a deleted record keeps only its contractId, docs/api/sam.md 2.7):
        # one government-wide walk, compared with the transactions we hold.
        deleted = _query([("includeSections", "contractId")], "deletions", watches[0].name, "deleted")
        queries.append(Query(**{**vars(deleted), "watches": tuple(w.name for w in watches)}))
    return queries


def page_params(query: Query, start: date, end: date, page: int, limit: int) -> dict[str, str]:
    """The parameters of one page: the query's filters, the lastModifiedDate window, limit and page index."""
    params = dict(query.params)
    if query.kind == "deleted":
        params["deletedStatus"] = "yes"
    params["lastModifiedDate"] = window(start, end)
    params["limit"] = str(limit)
    params["offset"] = str(page)  # a page index, not a record offset (docs/api/sam.md 2.5)
    return params
