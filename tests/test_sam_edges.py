"""SAM.gov edge cases (issue 14), each driven through the real client against the fake SAM.gov server.

The fake (watcher.fakes.sam) has a switch per quirk: null counts, pages in an order that
shifts between days, and Opportunities' 404 "No Data found" for an empty search. Each test
here failed on the code before its fix, except where its docstring says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SEEDS, awards_from, tx_row
from tests.test_sam import DAY, ICE_PATH, KEY, World, _notice
from watcher.config import load_config
from watcher.fakes.recordings import agency_names
from watcher.fakes.sam import SamReplay
from watcher.fakes.sam_recordings import all_actions
from watcher.fakes.usaspending import UsaspendingReplay

CONFIG = """\
settings:
  seeds_dir: {seeds}
  usaspending: {{min_interval_seconds: 0}}
  sam:
    min_interval_seconds: 0
    daily_budget: {budget}
    page_size: {page_size}
    notice_page_size: {notice_page}
    max_window_days: {max_window}
watches:
  ice:
    agencies: [ice]
    agency_roles: [awarding]
    vendors: [amazon, palantir, microsoft]
    award_types: [contracts]
    sources: [{sources}]
"""


@pytest.fixture
def edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``edge(...)``: both fakes, a config with the given SAM.gov settings, and a database (a test_sam World)."""
    servers: list[Any] = []

    def make(
        budget: int = 100,
        page_size: int = 100,
        notice_page: int = 1000,
        max_window: int = 60,
        sources: str = "sam_awards",
    ) -> World:
        path = tmp_path / "queries.yaml"
        path.write_text(
            CONFIG.format(
                seeds=SEEDS,
                budget=budget,
                page_size=page_size,
                notice_page=notice_page,
                max_window=max_window,
                sources=sources,
            )
        )
        config = load_config(path)
        us = UsaspendingReplay()
        us.extra_agencies = agency_names(config.agencies.values())
        us.url = us.start()  # type: ignore[attr-defined]
        sam = SamReplay(keys=[KEY], daily_quota=10_000)
        monkeypatch.setenv("WATCHER_SAM_URL", sam.start())
        servers.extend([us, sam])
        return World(us, sam, config, tmp_path / "w.db")

    yield make
    for s in servers:
        s.stop()


def palantir_actions(n: int, modified: date, first: int = 0) -> list[dict[str, Any]]:
    """``n`` distinct Palantir awards at ICE, each one action last modified on ``modified``."""
    rows = [
        tx_row(
            f"70CTD026FC0003{i:03d}",
            f"CONT_AWD_70CTD026FC0003{i:03d}_7012_-NONE-_-NONE-",
            "PALANTIR TECHNOLOGIES INC.",
            f"{1000 + i}.00",
            (modified - timedelta(days=1)).isoformat(),  # the fake's lastModifiedDate is the day after signing
            desc="LICENSES",
        )
        for i in range(first, first + n)
    ]
    return all_actions(awards_from(rows))


def ice_notice(n: int, posted: date) -> dict[str, Any]:
    """An ICE sources-sought notice naming Palantir (kept by the watch's mention match)."""
    title = f"PALANTIR PLATFORM SUPPORT {n}"
    return _notice(f"{n:032x}", "Sources Sought", title, "070.7012.70CDCT", ICE_PATH, str(posted))


def piids(w: World) -> set[str]:
    return {p for (p,) in w.q("SELECT piid FROM awards")}


def sent(w: World, path: str, name: str) -> list[str]:
    """The values of one parameter in the requests the fake received on ``path``, in order."""
    return [r.params[name][0] for r in w.sam.requests if path in r.path and name in r.params]


# ---------------------------------------------------------------- 1. totalRecords null


def test_null_total_records_pages_on_while_pages_are_full(edge: Any) -> None:
    """SAM.gov has answered ``"totalRecords": null``: the walk must not end after its first page."""
    w = edge(page_size=2, notice_page=2, sources="sam_awards, sam_opportunities")
    w.sam.null_totals = True
    actions = palantir_actions(7, DAY - timedelta(days=1))  # 4 pages of 2: 2, 2, 2, 1
    notices = [ice_notice(i, DAY - timedelta(days=1)) for i in range(5)]  # 3 pages of 2: 2, 2, 1
    w.sam.set_data(actions=actions, notices=notices)
    results = w.poll(DAY)
    assert {r.source: r.status for r in results} == {"sam_awards": "ok", "sam_opportunities": "ok"}
    assert len(piids(w)) == 7
    assert w.q("SELECT count(*) FROM notices") == [(5,)]
    assert sent(w, "contract-awards", "offset")[:4] == ["0", "1", "2", "3"]  # stopped on the short page 4
    assert sent(w, "opportunities", "offset") == ["0", "1", "2"]  # no request past the short page
    assert w.q("SELECT count(*) FROM sam_walks WHERE next_page = 0 AND done_through = ?", str(DAY)) == [(3,)]


def test_null_total_with_an_exactly_full_last_page_stops_on_the_next_one(edge: Any) -> None:
    """A count of records that fills every page: the walk ends on the empty (awards) or repeated (notices) page."""
    w = edge(page_size=2, notice_page=1, sources="sam_awards, sam_opportunities")
    w.sam.null_totals = True
    w.sam.set_data(
        actions=palantir_actions(4, DAY - timedelta(days=1)),
        notices=[ice_notice(i, DAY - timedelta(days=1)) for i in range(3)],
    )
    results = w.poll(DAY)
    assert all(r.status == "ok" for r in results), [(r.source, r.error) for r in results]
    assert len(piids(w)) == 4 and w.q("SELECT count(*) FROM notices") == [(3,)]
    # Opportunities past its end answers one stray record (here its first): a page with nothing new ends the walk.
    assert sent(w, "opportunities", "offset") == ["0", "1", "2", "3"]
