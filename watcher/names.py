"""One normalization of company names, shared by vendor matching (match.py) and ``watcher vendors suggest``.

Federal records spell one company many ways: "PEN-LINK, LTD" and "PEN-LINK, LIMITED",
"DELL FEDERAL SYSTEMS L.P" and "... LP", "PALANTIR TECHNOLOGIES INC." and "... INCORPORATED".
Matching an alias against each spelling by hand is how vendors get missed, so every name
is reduced to one key here: upper case, initials joined ("L.L.C." -> "LLC"), "&" as "AND",
punctuation to spaces, a leading or trailing "THE" dropped, and legal-form suffixes at
the end dropped. "X D/B/A Y" (doing business as) is two names, and :func:`name_variants`
returns both, so either may match.
"""

from __future__ import annotations

import re

#: The version of these rules; match.signature includes it, so a change re-judges stored matches.
NORMALIZATION = 2

#: Legal forms dropped from the end of a name (repeatedly: "... CO., LTD." loses both).
LEGAL_SUFFIXES = frozenset(
    {
        "INC",
        "INCORPORATED",
        "LLC",
        "LLP",
        "LP",
        "LTD",
        "LIMITED",
        "CORP",
        "CORPORATION",
        "CO",
        "COMPANY",
        "PLC",
        "PLLC",
        "PC",
        "GMBH",
    }
)
_INITIALS = re.compile(r"\b(?:[A-Z]\.)+[A-Z]\b\.?")  # "L.L.C." -> "LLC", "L.P" -> "LP", "U.S." -> "US"
_END_DOT = re.compile(r"\.(?=\s|,|$)")  # "INC." -> "INC"; a dot inside a word ("AMAZON.COM") is a space
_DBA = re.compile(r"\s(?:D\s*/\s*B\s*/\s*A|DBA|D B A)\s")
_NON_WORD = re.compile(r"[^A-Z0-9]+")


def _clean(name: str) -> str:
    text = name.upper().replace("&", " AND ")
    text = _INITIALS.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _END_DOT.sub("", text)
    return _NON_WORD.sub(" ", text).strip()


def _strip(words: list[str]) -> list[str]:
    if words and words[0] == "THE" and len(words) > 1:
        words = words[1:]
    while len(words) > 1 and (words[-1] in LEGAL_SUFFIXES or words[-1] == "THE"):
        words = words[:-1]
    return words


def name_variants(name: str | None) -> tuple[str, ...]:
    """Every normalized form of a name: one, or two and more for "X D/B/A Y" ("doing business as")."""
    upper = f" {(name or '').upper()} "
    parts = [p for p in _DBA.split(upper) if p.strip()]
    out: list[str] = []
    for part in parts or [""]:
        norm = " ".join(_strip(_clean(part).split()))
        if norm and norm not in out:
            out.append(norm)
    return tuple(out) or ("",)


def normalize_name(name: str | None) -> str:
    """The normalized legal name (the first variant): 'Palantir USG, Inc.' -> 'PALANTIR USG'."""
    return name_variants(name)[0]
