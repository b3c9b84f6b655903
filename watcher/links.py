"""Addresses of things: pages on our static site and the official records, built from ids safely.

Ids come from the APIs, so they are untrusted: a page name derived from one keeps only
``[A-Za-z0-9_-]`` (anything else is replaced, plus a short hash so two ids never share a
page), and official URLs percent-encode the id.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
#: Names Windows reserves whatever the extension (a site may be copied onto such a disk).
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def safe_name(key: str) -> str:
    """A file name for an id: no ``/``, ``..``, reserved or control characters, at most 150 chars."""
    clean = _UNSAFE.sub("-", key)[:120]
    if clean != key or not clean or clean.upper() in _RESERVED:
        clean = f"{clean}-{hashlib.sha1(key.encode('utf-8'), usedforsecurity=False).hexdigest()[:10]}"
    return clean


def award_page(site_url: str | None, award_key: str) -> str | None:
    return f"{site_url}/awards/{safe_name(award_key)}.html" if site_url else None


def notice_page(site_url: str | None, notice_id: str) -> str | None:
    return f"{site_url}/notices/{safe_name(notice_id)}.html" if site_url else None


def usaspending_award(award_key: str) -> str:
    """The award's page on usaspending.gov (its generated id is the award key)."""
    return f"https://www.usaspending.gov/award/{quote(award_key, safe='')}"


def sam_notice(notice_id: str) -> str:
    return f"https://sam.gov/opp/{quote(notice_id, safe='')}/view"
