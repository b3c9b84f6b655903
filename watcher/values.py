"""Exact values from untyped API text: amounts as Decimal, dates as ISO strings, timestamps in UTC.

One home for the conversions every source, output and job shares, so an amount or a
timestamp means the same thing wherever it is read or written. Timestamps are stored
as ``YYYY-MM-DDTHH:MM:SSZ`` text: sortable, unambiguous, and readable in ``sqlite3``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from watcher.errors import ImpossibleAmount, SourceError

#: The largest amount, in dollars, any federal award or action can carry: $10 trillion. The whole
#: federal budget is under $7 T a year, and the largest single transaction seen live is $344.7 B
#: (docs/api/usaspending.md trap 16); USAspending's own columns are NUMERIC(23, 2). Beyond this
#: bound a number is a fault (an overflow, a unit error, a hostile server), never money.
MAX_AMOUNT = Decimal(10) ** 13


def to_decimal(value: Any) -> Decimal | None:
    """An exact amount from a JSON number (already Decimal), int or numeric string.

    Refuses (ImpossibleAmount) what no award can be: NaN, infinities, ``1e309`` (which a float
    would make infinite) and anything beyond :data:`MAX_AMOUNT` (a 40-digit number, which a
    float would silently round). The caller refuses that row; nothing impossible is stored.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SourceError(f"expected an amount, got {value!r}")
    if isinstance(value, Decimal):
        amount = value
    else:
        try:
            amount = Decimal(str(value).replace(",", "").replace("$", "").strip())
        except InvalidOperation:
            raise SourceError(f"expected an amount, got {value!r}") from None
    if not is_possible(amount):
        raise ImpossibleAmount(f"impossible amount {_show(value)} (not finite, or beyond $10 trillion)")
    return amount


def is_possible(amount: Decimal) -> bool:
    """Whether an amount could be money on a federal award: finite and within :data:`MAX_AMOUNT`."""
    return amount.is_finite() and abs(amount) <= MAX_AMOUNT


def finite_amount(value: Any) -> Decimal | None:
    """An amount for an output, or None (shown as "unknown") when it is not a finite number.

    Outputs read what a database holds, and one written before the edge refused impossible
    amounts may hold Infinity: formatting must never stop a site build or a digest. Only
    finiteness is required here, not :data:`MAX_AMOUNT`: outputs also format sums.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).replace(",", "").replace("$", "").strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _show(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


#: What no API text needs and what misleads a reader: C0 controls but tab and line feed (ESC starts a
#: terminal escape sequence, CR rewrites a terminal line), DEL, C1 controls (0x9B is a one-byte CSI), and
#: the bidirectional marks, embeddings, overrides and isolates (U+202E shows "TXT.EXE" backwards).
UNSAFE_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain_text(text: str) -> str:
    """API text as it is stored: without UNSAFE_TEXT, in one Unicode form (NFC) so equal words compare equal.

    Applied at the edge (every parser), so no terminal, page or e-mail ever receives an escape
    sequence or a direction override from an API, whatever template renders the text.
    """
    if UNSAFE_TEXT.search(text) is not None:
        text = UNSAFE_TEXT.sub("", text)
    return text if text.isascii() else unicodedata.normalize("NFC", text)  # ASCII is NFC already: the fast path


_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y", "%Y-%m-%dT%H:%M:%S", "%m/%d/%y")


def to_date(value: Any) -> str | None:
    """An ISO date from any of the formats the APIs use (ISO, ISO with time, US style)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if len(text) == 10 and text[4] == "-":  # the common case, validated by the C parser
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text[:19], fmt).date().isoformat()
        except ValueError:
            continue
    raise SourceError(f"expected a date, got {value!r}")


def parse_utc(text: str) -> datetime:
    """An ISO timestamp as stored (``...Z``) into an aware UTC datetime."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def iso_utc(dt: datetime) -> str:
    """An aware datetime as the stored form ``YYYY-MM-DDTHH:MM:SSZ``."""
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def utcnow() -> str:
    """Now, in the stored form."""
    return iso_utc(datetime.now(UTC))
