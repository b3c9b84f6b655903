"""Pure change detection: compare a stored row with a freshly normalized record.

Only fields that carry meaning are compared; volatile ones (the last-modified stamp,
our own bookkeeping) never produce a change. Amounts compare as exact decimals, so a
value read back from SQLite equals the same value parsed from the API.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from watcher.models import (
    AWARD_CHANGED,
    AWARD_SLOTS,
    COMPETITION_FIELDS,
    NEW_AWARD,
    NEW_TRANSACTION,
    SUBAWARD_SLOTS,
    TRANSACTION_CHANGED,
    TRANSACTION_SLOTS,
    Award,
    Change,
    ChangeKind,
    Subaward,
    Transaction,
)

CENT = Decimal("0.01")

#: Fields that change without the award changing in substance.
VOLATILE_AWARD_FIELDS = frozenset({"award_key", "last_modified_date", "source_url", "fingerprint"})
VOLATILE_TRANSACTION_FIELDS = frozenset({"transaction_key", "award_key"})
AWARD_FIELDS = tuple(f for f in AWARD_SLOTS if f not in VOLATILE_AWARD_FIELDS)
TRANSACTION_FIELDS = tuple(f for f in TRANSACTION_SLOTS if f not in VOLATILE_TRANSACTION_FIELDS)
#: Fields added after awards were first stored (the competition facts): their first value on an
#: award stored without them is filled in silently, not reported; a later change is news.
FILL_FIELDS = frozenset(COMPETITION_FIELDS)


def canonical(value: Any) -> Any:
    """A comparable form: numbers as normalized Decimal, blank strings as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return value.normalize() if value else Decimal(0)
    if isinstance(value, int | float):
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return d.normalize() if d else Decimal(0)
    if isinstance(value, str):
        return value if value.strip() else None
    return value


def json_value(value: Any) -> Any:
    """How a value is written into ``changes.diff``: exact amounts as decimal strings."""
    value = canonical(value)
    if isinstance(value, Decimal):
        cents = value.quantize(CENT)
        return format(cents if cents == value else value, "f")  # "4612529.60", not "4612529.6"
    return value


def _diff_value(value: Any) -> Any:
    """A count (number_of_offers_received) stays a whole number in a diff: 2, not "2.00"; else json_value."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return json_value(value)


def field_diff(old: dict[str, Any], new: dict[str, Any], fields: Iterable[str]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every compared field whose canonical value differs."""
    out: dict[str, list[Any]] = {}
    for f in fields:
        a, b = canonical(old.get(f)), canonical(new.get(f))
        if a != b:
            out[f] = [_diff_value(old.get(f)), _diff_value(new.get(f))]
    return out


def _delta(old: Any, new: Any) -> Decimal | None:
    a, b = canonical(old), canonical(new)
    if isinstance(b, Decimal) and a != b:
        return b - (a if isinstance(a, Decimal) else Decimal(0))
    return None


def diff_award(old: dict[str, Any] | None, new: Award, fields: Iterable[str] = AWARD_FIELDS) -> Change | None:
    """``new_award`` for an unseen award, ``award_changed`` with the field diff, or None."""
    if old is None:
        return Change(NEW_AWARD, new.award_key, new.award_key, amount_delta=canonical(new.total_obligation))
    diff = field_diff(old, new.to_row(), fields)
    diff = {f: v for f, v in diff.items() if not (f in FILL_FIELDS and v[0] is None)}
    if not diff:
        return None
    return Change(
        AWARD_CHANGED,
        new.award_key,
        new.award_key,
        diff=diff,
        amount_delta=_delta(old.get("total_obligation"), new.total_obligation),
    )


def diff_transaction(
    old: dict[str, Any] | None, new: Transaction, fields: Iterable[str] = TRANSACTION_FIELDS
) -> Change | None:
    """``new_transaction`` for an unseen contract action, ``transaction_changed``, or None."""
    if old is None:
        return Change(NEW_TRANSACTION, new.transaction_key, new.award_key, amount_delta=canonical(new.obligation))
    diff = field_diff(old, new.to_row(), fields)
    if not diff:
        return None
    return Change(
        TRANSACTION_CHANGED,
        new.transaction_key,
        new.award_key,
        diff=diff,
        amount_delta=_delta(old.get("obligation"), new.obligation),
    )


# ---------------------------------------------------------------- merging sources

#: Award fields that are facts (money, dates, ids): a newer source value replaces the stored one and a
#: difference is news. Every other field is wording, which the sources spell differently ("U.S.
#: IMMIGRATION AND CUSTOMS ENFORCEMENT" / "U.S. Immigration and Customs Enforcement"): another
#: source only fills it when it is blank, and a difference in it is never reported as a change.
FACT_FIELDS = (
    "total_obligation",
    "potential_value",
    "end_date",
    "potential_end_date",
    "last_date_to_order",
    "recipient_uei",
    "parent_uei",
)
TX_FACT_FIELDS = ("obligation", "action_date")
_KEEP = frozenset({"award_key", "fingerprint", "source_url"})


def merge_award(old: dict[str, Any] | None, new: Award, newest: bool) -> Award:
    """The stored award updated with another source's record of it.

    ``newest`` says the record comes from the award's latest known action: only then do its
    totals and dates describe the award now (an old action touched by a closeout still
    carries the totals of its day, docs/api/sam.md trap 12).
    """
    if old is None:
        return new
    merged = Award.from_row(old)
    for f in AWARD_SLOTS:
        value = getattr(new, f)
        if f in _KEEP or value is None:
            continue
        if f in FACT_FIELDS:
            if newest:
                setattr(merged, f, value)
        elif canonical(getattr(merged, f)) is None:
            setattr(merged, f, value)
    merged.last_modified_date = max(filter(None, (old.get("last_modified_date"), new.last_modified_date)), default=None)
    return merged


def merge_transaction(old: dict[str, Any] | None, new: Transaction) -> Transaction:
    """A stored contract action updated with another source's record: facts replaced, blanks filled.

    It takes the new record's key: the stored row may be a backfilled stand-in under a composed
    key (:func:`pair_provisional`), and the reporting source knows the real one.
    """
    if old is None:
        return new
    merged = Transaction.from_row(old)
    for f in TRANSACTION_SLOTS:
        value = getattr(new, f)
        if value is not None and (f in TX_FACT_FIELDS or canonical(getattr(merged, f)) is None):
            setattr(merged, f, value)
    merged.transaction_key = new.transaction_key
    return merged


def pair_provisional(
    actions: Iterable[Transaction], provisional: Iterable[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The stored provisional row each newly reported action of one award stands for: real key -> row.

    A backfill keys an action by its award, modification and a counter, not by FPDS's
    transaction number, which spending_by_transaction does not give: its key is provisional
    (``transactions.backfilled_at``). Another source then reports the same action under its
    real key. Each action takes at most one unclaimed provisional row of the same modification,
    best matches first (same date and amount, then same date, then same amount, then any), so
    the two never count side by side. An action with no such row is new.
    """
    rows = sorted(provisional, key=lambda r: str(r["transaction_key"]))
    txs = list(actions)
    candidates = []
    for i, tx in enumerate(txs):
        for j, row in enumerate(rows):
            if (row.get("modification_number") or "0") != (tx.modification_number or "0"):
                continue
            same_day = canonical(row.get("action_date")) == canonical(tx.action_date)
            same_amount = canonical(row.get("obligation")) == canonical(tx.obligation)
            candidates.append((-(2 * same_day + same_amount), i, j))
    out: dict[str, dict[str, Any]] = {}
    taken: set[int] = set()
    for _, i, j in sorted(candidates):
        if txs[i].transaction_key not in out and j not in taken:
            out[txs[i].transaction_key] = rows[j]
            taken.add(j)
    return out


# ---------------------------------------------------------------- subawards

#: Subaward fields both USAspending endpoints give (the subaward search and ``/api/v2/subawards/``):
#: a difference in one of them is news.
SUBAWARD_FACT_FIELDS = ("subaward_number", "sub_recipient_name", "amount", "action_date", "description")
#: Fields only the subaward search gives: filled in silently when first known, news only when a
#: known value changes (``/api/v2/subawards/`` never says them, so its silence is not a change).
SUBAWARD_FILL_FIELDS = (
    "sub_recipient_uei",
    "sub_parent_name",
    "sub_parent_uei",
    "prime_piid",
    "prime_recipient_name",
    "awarding_subagency",
)


def merge_subaward(old: dict[str, Any] | None, new: Subaward) -> Subaward:
    """The stored subaward updated with a newer answer: what it says replaces, what it does not say stays."""
    if old is None:
        return new
    merged = Subaward.from_row(old)
    if isinstance(merged.amount, float):
        merged.amount = canonical(merged.amount)
    for f in SUBAWARD_SLOTS:
        value = getattr(new, f)
        if value is not None:
            setattr(merged, f, value)
    return merged


def diff_subaward(old: dict[str, Any] | None, new: Subaward) -> Change | None:
    """``new_subaward`` for an unseen subaward, ``subaward_changed`` with the field diff, or None.

    ``old`` is the stored row: a subaward withdrawn earlier (``deleted_at``) and reported
    again is a change of that field back to null.
    """
    if old is None:
        return Change(
            ChangeKind.NEW_SUBAWARD, new.subaward_key, new.prime_award_key, amount_delta=canonical(new.amount)
        )
    diff: dict[str, list[Any]] = {}
    for f in (*SUBAWARD_FACT_FIELDS, *SUBAWARD_FILL_FIELDS):
        value = getattr(new, f)
        if value is None or (f in SUBAWARD_FILL_FIELDS and canonical(old.get(f)) is None):
            continue
        diff.update(field_diff(old, {f: value}, (f,)))
    if old.get("deleted_at"):
        diff["deleted_at"] = [old["deleted_at"], None]
    if not diff:
        return None
    delta = _delta(old.get("amount"), new.amount) if new.amount is not None else None
    return Change(ChangeKind.SUBAWARD_CHANGED, new.subaward_key, new.prime_award_key, diff=diff, amount_delta=delta)


def subaward_gone(old: dict[str, Any]) -> Change:
    """``subaward_deleted``: a stored subaward the prime's complete list no longer has; the diff keeps its facts."""
    diff = {f: [json_value(old.get(f)), None] for f in SUBAWARD_FACT_FIELDS if canonical(old.get(f)) is not None}
    amount = canonical(old.get("amount"))
    return Change(
        ChangeKind.SUBAWARD_DELETED,
        old["subaward_key"],
        old["prime_award_key"],
        diff=diff,
        amount_delta=-amount if isinstance(amount, Decimal) else None,
    )
