"""SYNTHESIZED subaward reports for ``watcher demo``: no recorded USAspending subaward answer for a DHS award exists.

The recorded captures (seeds/ice) hold prime contract actions only. So that the demo shows what
the watcher does with subawards, a few reports are made up here, in the shape the real API
serves (docs/api/usaspending.md section 10), under two real ICE primes the demo holds: Palantir's
ERO order 70CTD026FC0000012 and Four Points' AWS hosting order 70CTD025FC0000024. Every one says
so in its description, and the subcontractors that are not watched vendors are named "DEMO
SUBCONTRACTOR ... (SYNTHESIZED)". None of them is a real report; do not cite them.

What they show, day by day of the replay:

- 2026-05-05: the Palantir order first appears with one subaward already reported: its list is
  read once and stored quietly, as the order's history.
- 2026-07-08: Amazon Web Services appears as a sub-recipient under the Four Points order (which
  did not change, so only the subaward-level search finds it): one ``new_subaward``.
- 2026-08-20: the same AWS subaward is reported a second time: still one subaward, no change.
- 2026-08-21: Palantir's P00001 modification changes the order, its detail now counts two
  subawards, so its list is read: one ``new_subaward`` under Palantir's prime.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from watcher.fakes.usaspending_awards import ReplayAward
from watcher.fakes.usaspending_subawards import ReplaySubaward

PALANTIR_ORDER = "CONT_AWD_70CTD026FC0000012_7012_70RTAC26A00000001_7001"
FOUR_POINTS_AWS = "CONT_AWD_70CTD025FC0000024_7012_70CTD022A00000004_7012"
NOTE = "SYNTHESIZED FOR THE WATCHER DEMO, NOT A REAL SUBAWARD REPORT: "
TYPE_CODES = {"BPA CALL": "A", "PURCHASE ORDER": "B", "DELIVERY ORDER": "C", "DEFINITIVE CONTRACT": "D"}

#: (first served on, report id, prime, subaward number, subaward date, amount, sub-recipient, UEI, description)
REPORTS: list[tuple[str, int, str, str, str, str, str, str | None, str]] = [
    ("2026-05-05", 990001, PALANTIR_ORDER, "DEMO-PLTR-0001", "2026-04-20", "1250000.00",
     "DEMO SUBCONTRACTOR ONE LLC (SYNTHESIZED)", None, "DATA MIGRATION SUPPORT FOR THE CASE MANAGEMENT SYSTEM"),
    ("2026-07-08", 990002, FOUR_POINTS_AWS, "DEMO-4PT-0001", "2026-06-30", "2400000.00",
     "AMAZON WEB SERVICES, INC.", None, "CLOUD HOSTING SERVICES"),
    ("2026-08-20", 990003, FOUR_POINTS_AWS, "DEMO-4PT-0001", "2026-06-30", "2400000.00",
     "AMAZON WEB SERVICES, INC.", None, "CLOUD HOSTING SERVICES"),  # the same subaward, filed again
    ("2026-08-21", 990004, PALANTIR_ORDER, "DEMO-PLTR-0002", "2026-08-03", "480000.00",
     "DEMO SUBCONTRACTOR TWO INC (SYNTHESIZED)", None, "TRAINING FOR CASE MANAGEMENT USERS"),
]  # fmt: skip


def subawards_on(day: date, awards: list[ReplayAward]) -> list[ReplaySubaward]:
    """The synthesized reports the replay serves on ``day``, under the primes it serves that day."""
    held = {a.key.upper(): a for a in awards}
    out = []
    for first, report_id, prime, number, when, amount, name, uei, text in REPORTS:
        award = held.get(prime)
        if award is None or date.fromisoformat(first) > day:
            continue
        row = award.row
        out.append(
            ReplaySubaward(
                report_id=report_id,
                prime_key=prime,
                prime_internal_id=int(row["internal_id"]),
                prime_piid=str(row["Award ID"]),
                number=number,
                action_date=when,
                amount=Decimal(amount),
                name=name,
                uei=uei,
                description=NOTE + text,
                prime_type=TYPE_CODES.get(str(row.get("Contract Award Type")), "C"),
                prime_recipient=row.get("Recipient Name"),
                awarding_subtier=str(row.get("Awarding Sub Agency")),
                funding_subtier=str(row.get("Funding Sub Agency")),
                prime_last_modified=row.get("Last Modified Date"),
            )
        )
    return out
