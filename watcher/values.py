"""Exact values from untyped API text: amounts as Decimal, dates as ISO strings, timestamps in UTC.

One home for the conversions every source, output and job shares, so an amount or a
timestamp means the same thing wherever it is read or written. Timestamps are stored
as ``YYYY-MM-DDTHH:MM:SSZ`` text: sortable, unambiguous, and readable in ``sqlite3``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from watcher.errors import SourceError


def to_decimal(value: Any) -> Decimal | None:
    """An exact amount from a JSON number (already Decimal), int or numeric string."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise SourceError(f"expected an amount, got {value!r}")
    try:
        return Decimal(str(value).replace(",", "").replace("$", "").strip())
    except InvalidOperation:
        raise SourceError(f"expected an amount, got {value!r}") from None


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
