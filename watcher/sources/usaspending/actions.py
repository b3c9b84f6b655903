"""The transaction-level walk: awards whose actions changed where the award walks cannot see.

The award index holds only an award's base description and moves its Last Modified Date
only with its latest action (docs/api/usaspending.md traps 20 and 21). So a reseller
order whose "AWS" is only in modification P00007, or a correction to an old
modification, never comes back from ``spending_by_award``. ``spending_by_transaction``
searches every action's description and filters on each action's own modification date:
its rows, compared with the actions we hold, say which awards to read again.

The comparison is pure (:func:`awards_to_read`); :func:`scan` does the requests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from watcher.config import Watch
from watcher.errors import ImpossibleAmount
from watcher.http import ApiClient
from watcher.match import Matcher, action_label
from watcher.models import Award
from watcher.sources.usaspending import api
from watcher.sources.usaspending.parse import amount
from watcher.values import finite_amount, plain_text, to_date

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Action:
    """One spending_by_transaction row, normalized: enough to compare and to judge relevance."""

    award_key: str
    piid: str | None
    modification: str
    action_date: str | None
    obligation: Decimal | None
    description: str | None
    recipient_name: str | None
    recipient_uei: str | None

    @property
    def group(self) -> str:
        return "idvs" if self.award_key.startswith("CONT_IDV_") else "contracts"

    def fact(self) -> tuple[str, str | None, int | None, str]:
        return fact(self.modification, self.action_date, self.obligation, self.description)


def _text(value: Any) -> str | None:
    text = plain_text(str(value)).strip() if value is not None else ""  # as stored, so facts compare equal
    return text or None


def fact(
    modification: Any, action_date: Any, obligation: Any, description: Any
) -> tuple[str, str | None, int | None, str]:
    """What makes two records of one action the same: mod, date, cents, and the words (case and spacing aside).

    Both sources of the comparison (this walk and ``/api/v2/transactions/``) serve the same
    database columns, but in different shapes (float or REAL amounts, ``None`` or ``""``).
    """
    amount = finite_amount(obligation)  # a stored REAL too: one from an old database may be Infinity
    cents = int((amount * 100).to_integral_value()) if amount is not None else None
    words = " ".join(str(description or "").upper().split())
    return (_text(modification) or "0", to_date(action_date), cents, words)


def action_from_row(row: Any) -> Action | None:
    """A spending_by_transaction row as an :class:`Action`; None for a row that is not a contract action."""
    if not isinstance(row, dict):
        return None
    key = row.get("generated_internal_id")
    if not isinstance(key, str) or not key.upper().startswith(("CONT_AWD_", "CONT_IDV_")):
        return None
    return Action(
        award_key=key.upper(),
        piid=_text(row.get("Award ID")),
        modification=_text(row.get("Mod")) or "0",
        action_date=to_date(row.get("Action Date")),
        obligation=amount(row.get("Transaction Amount"), f"{key.upper()} mod {row.get('Mod')}", "Transaction Amount"),
        description=_text(row.get("Transaction Description")),
        recipient_name=_text(row.get("Recipient Name")),
        recipient_uei=_text(row.get("Recipient UEI")),
    )


def awards_to_read(
    actions: Iterable[Action], stored: dict[str, list[tuple[Any, ...]]], held: set[str], matcher: Matcher
) -> tuple[dict[str, Action], set[str]]:
    """Which awards the walk says to read again, and which stored ones only need judging.

    ``stored`` maps each stored award to its actions (store.stored_actions); ``held`` is the
    awards this watch holds. An award is read again when one of its actions is not stored
    as such (new, corrected or loaded late) and it is this watch's or its actions' text
    matches the watch. A stored award that another watch holds, unchanged, whose actions
    match, only needs this watch's verdict (from stored data, no request).
    """
    by_award: dict[str, list[Action]] = {}
    for a in actions:
        by_award.setdefault(a.award_key, []).append(a)
    to_read: dict[str, Action] = {}
    to_judge: set[str] = set()
    for key, acts in by_award.items():
        changed = key not in stored or not {a.fact() for a in acts} <= {fact(*f) for f in stored[key]}
        if key in held:
            if changed:
                to_read[key] = acts[0]
            continue
        first = acts[0]
        pseudo = Award(
            award_key=key, piid=first.piid, recipient_name=first.recipient_name, recipient_uei=first.recipient_uei
        )
        ordered = sorted(acts, key=lambda a: (a.action_date or "", a.modification))
        if not matcher.match(
            pseudo, ((action_label(a.modification), a.description) for a in ordered), min_amount=False
        ):
            continue  # a hit of the search that is not about this watch's vendors ("AWS" in "AWSOME")
        if changed:
            to_read[key] = first
        else:
            to_judge.add(key)
    return to_read, to_judge


def scan(client: ApiClient, watch: Watch, today: date, warnings: list[str]) -> tuple[list[Action], int]:
    """Walk the watch's transaction-level queries; every distinct action found, and the pages read."""
    seen: dict[tuple[Any, ...], Action] = {}
    pages = 0
    for query in api.transaction_plan(watch):
        body = api.transaction_body(watch, query, today)
        label = f"{watch.name} {query.label}"
        before = len(seen)
        for rows, _raw in api.walk_transactions(client, body, label, warnings):
            pages += 1
            for row in rows:
                try:
                    action = action_from_row(row)
                except ImpossibleAmount as exc:  # that action only: the award's own read refuses or takes it
                    warnings.append(f"{label}: {exc}")
                    continue
                if action is not None:
                    seen.setdefault((action.award_key, *action.fact()), action)
        log.info("watch %s: %s: %d new action(s) listed", watch.name, query.label, len(seen) - before)
    return list(seen.values()), pages
