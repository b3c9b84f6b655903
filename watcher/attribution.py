"""Honest totals: which contract actions tie an award's money to a vendor, and by which path (pure functions).

An award matched for a vendor does not make all its money the vendor's. A reseller's
order that names Amazon Web Services in one modification is evidence about that
modification, not about the other eleven. So money is attributed per contract action:

- ``direct``: the recipient is the vendor (UEI, name or parent): every action counts;
- ``vehicle``: the order sits under one of the vendor's own contract vehicles: every action;
- ``reviewed``: a person confirmed a reseller's order as the vendor's: every action;
- ``reseller``: the vendor is only named in text. When the award's own description (its
  base action's, which says what the order is for) names it, every action counts: the
  order is for the vendor's product. Otherwise only the actions whose own description
  names it: a modification's words are evidence about that modification alone;
- ``subaward``: reported subawards to the vendor (attributed from the subaward reports,
  not from actions; see the ``obligations_by_vendor_fy`` view).

Every figure built on this is a lower bound ("at least"): an action that names nobody is
never guessed to be anyone's. An action tied to two vendors counts for each vendor, and
once in any all-vendor total.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from watcher.models import Award, Match, Transaction

#: When several paths tie one action to one vendor, the strongest is kept.
PATHS = ("direct", "vehicle", "reviewed", "reseller")
_WHOLE = {"uei": "direct", "recipient": "direct", "parent": "direct", "vehicle": "vehicle", "reviewed": "reviewed"}


def attribute(
    award: Award,
    txs: Iterable[Transaction],
    matches: Iterable[Match],
    patterns: Mapping[str, re.Pattern[str] | None],
) -> list[tuple[str, str, str]]:
    """(vendor, transaction_key, path) for each action tied to a matched vendor, strongest path per pair.

    ``patterns`` are the vendors' mention patterns (match.compile_vendor's ``mention_re``).
    """
    actions = list(txs)
    best: dict[tuple[str, str], str] = {}

    def tie(vendor: str, key: str, path: str) -> None:
        have = best.get((vendor, key))
        if have is None or PATHS.index(path) < PATHS.index(have):
            best[(vendor, key)] = path

    by_vendor: dict[str, set[str]] = {}
    for m in matches:
        if m.vendor:  # a watch keyword names no vendor: it attributes nothing
            by_vendor.setdefault(m.vendor, set()).add(m.reason)
    for vendor, reasons in by_vendor.items():
        whole = sorted((_WHOLE[r] for r in reasons if r in _WHOLE), key=PATHS.index)
        if whole:
            for t in actions:
                tie(vendor, t.transaction_key, whole[0])
            continue
        pattern = patterns.get(vendor)
        if pattern is None:
            continue
        if award.description and pattern.search(award.description):
            named = actions  # the order itself is for the vendor's product
        else:
            named = [t for t in actions if t.description and pattern.search(t.description)]
        for t in named:
            tie(vendor, t.transaction_key, "reseller")
    return sorted((v, k, p) for (v, k), p in best.items())
