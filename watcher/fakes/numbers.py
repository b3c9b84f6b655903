"""Hostile numbers for the fakes: JSON number text no Python float can carry (1e309, NaN, 40 digits).

A server written in another language, or one whose numeric column overflowed, can send
``"Award Amount": 1e309``, ``NaN`` or a 40-digit integer. ``json.dumps`` cannot write these
from a Decimal (it goes through float: ``1e309`` becomes ``Infinity``, 40 digits lose 24 of
them), so the replay could never show what watcher does with them. Put a :class:`RawNumber`
(or a Decimal that a float cannot hold) in a replay row, transaction or detail, and
:func:`dumps` writes its text into the JSON byte for byte::

    replay.awards[key].row["Award Amount"] = RawNumber("1e309")

:data:`HOSTILE` names the usual suspects, for tests and for anyone trying them by hand.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

#: JSON's number grammar, plus the non-standard constants Python's own json module writes and reads.
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|NaN|-?Infinity")
_MARK = "\x00watcher-raw-number:"
_SPLICE = re.compile(rb'"\\u0000watcher-raw-number:([^"\\]+)\\u0000"')

#: The numbers a hostile or broken server sends, as JSON text.
HOSTILE = {
    "1e309": "1e309",  # past a double's range: a float parser makes it infinity
    "-1e309": "-1e309",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "40 digits": "1234567890" * 4,  # exact as Decimal, rounded as a float, and beyond any federal award
}


class RawNumber:
    """A JSON number written exactly as given, e.g. ``RawNumber("1e309")`` or ``RawNumber("NaN")``."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"{text!r} is not JSON number text")
        self.text = text

    def __repr__(self) -> str:
        return f"RawNumber({self.text!r})"

    def __str__(self) -> str:
        return self.text


def _float_holds(value: Decimal) -> bool:
    """Whether a JSON float carries this Decimal unchanged (as the real API's amounts do)."""
    if not value.is_finite():
        return False
    as_float = float(value)
    return as_float not in (float("inf"), float("-inf")) and Decimal(repr(as_float)) == value


def default(value: Any) -> Any:
    """A ``json.dumps`` default: amounts as JSON floats when a float holds them, else their exact text."""
    if isinstance(value, Decimal):
        return float(value) if _float_holds(value) else _MARK + str(value) + "\x00"
    if isinstance(value, RawNumber):
        return _MARK + value.text + "\x00"
    raise TypeError(type(value))


def dumps(obj: Any) -> bytes:
    """JSON of ``obj`` with every RawNumber (and every Decimal no float holds) written as its own text."""
    out = json.dumps(obj, default=default).encode()
    return _SPLICE.sub(rb"\1", out) if b"watcher-raw-number:" in out else out
