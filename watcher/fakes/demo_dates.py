"""SYNTHESIZED end dates for ``watcher demo``: the recorded ICE/CBP rows carry no period of performance.

The captures (seeds/ice) are contract actions from a dashboard that kept no start, end or
potential end date (docs/api/ice_data.md, 2.2 and 2.3: "synthetic for IT vendors"), so no
watched award in the demo has a date ahead of it and the "Coming up" page, its feeds and the
digests' section would stay empty. So that the demo shows them, three real awards the demo holds
get made-up dates here, served in the places the real API puts them (the search row's
``End Date``, the detail's ``period_of_performance``). None of these dates is real; do not cite them.

What they show, as of the demo's days (its clock runs 2026-03-24 ... 2026-08-22):

- Amazon's CBP order 70B04C22F00000001: ends 2026-09-10 with no option left, so on 2026-08-20 it
  comes within 30 days: one ``ending_soon`` in that day's digest, and none the days after.
- Palantir's ICE order 70CTD022FR0000170: its current period ends 2026-09-18 with options left
  to 2027-09-17 (a next option date, then a potential end).
- Microsoft's CBP BPA call 70B04C21F00000286: current end 2026-11-30, potential end 2027-03-25.
"""

from __future__ import annotations

from watcher.fakes.usaspending_awards import ReplayAward

#: award key -> (end date, potential end date): SYNTHESIZED, see the module's docstring.
DATES: dict[str, tuple[str, str]] = {
    "CONT_AWD_70B04C22F00000001_7014_HSHQDC13D00003_7001": ("2026-09-10", "2026-09-10"),
    "CONT_AWD_70CTD022FR0000170_7012_GS35F0086U_4730": ("2026-09-18", "2027-09-17"),
    "CONT_AWD_70B04C21F00000286_7014_70RTAC21A00000001_7001": ("2026-11-30", "2027-03-25"),
}


def with_dates(awards: list[ReplayAward]) -> list[ReplayAward]:
    """The replay's awards, the ones in ``DATES`` given their synthesized end dates (in place)."""
    for a in awards:
        dates = DATES.get(a.key.upper())
        if dates is None:
            continue
        end, potential = dates
        a.row["End Date"] = end
        period = a.detail.setdefault("period_of_performance", {})
        period["end_date"], period["potential_end_date"] = end, potential
    return awards
