"""Name normalization (watcher/names.py) on every distinct recipient spelling in the real ICE/CBP rows."""

from __future__ import annotations

import csv
import re
from itertools import combinations
from pathlib import Path

import pytest

from watcher.config import default_seeds_dir
from watcher.names import LEGAL_SUFFIXES, name_variants, normalize_name

ICE = default_seeds_dir() / "ice"


def _spellings() -> set[str]:
    names: set[str] = set()
    for path in sorted(Path(ICE).rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):  # the dashboard's rows, or the torn-apart file's download columns
                cols = ("Recipient Name", "recipient_name", "recipient_doing_business_as_name", "recipient_parent_name")
                names |= {r[c] for c in cols if r.get(c)}
    return names


SPELLINGS = sorted(_spellings())


def _own_key(name: str) -> str:
    """The test's own idea of "the same company": letters and digits only, dots dropped, "&" read as AND,
    a leading THE and trailing legal forms removed word by word."""
    words = re.findall(r"[A-Z0-9]+", name.upper().replace(".", "").replace("&", " AND "))
    if words[:1] == ["THE"]:
        words = words[1:]
    while len(words) > 1 and words[-1] in {
        "INC",
        "INCORPORATED",
        "LLC",
        "LP",
        "LTD",
        "LIMITED",
        "CORP",
        "CORPORATION",
        "CO",
        "LLP",
    }:
        words = words[:-1]
    return "".join(words)


def test_the_data_has_spellings_to_test() -> None:
    assert len(SPELLINGS) > 300  # the FY2026 all-ICE snapshots alone hold hundreds of recipients


def _problem(name: str) -> str | None:
    norm = normalize_name(name)
    words = norm.split()
    if not re.fullmatch(r"[A-Z0-9]+( [A-Z0-9]+)*", norm):
        return "not plain words"
    if normalize_name(norm) != norm:  # idempotent: an alias and a recipient meet on the same key
        return "not stable"
    if len(words) > 1 and (words[-1] in LEGAL_SUFFIXES or words[0] == "THE"):
        return "a legal form or THE is left"
    return None


def test_every_spelling_normalizes_to_a_clean_stable_key() -> None:
    problems = {name: (normalize_name(name), p) for name in SPELLINGS if (p := _problem(name))}
    assert problems == {}


def test_spellings_of_one_company_meet_and_different_companies_do_not() -> None:
    """Over every pair of distinct spellings: the same key by the test's own rule <=> the same normalization."""
    by_norm = {n: normalize_name(n) for n in SPELLINGS}
    wrong = [
        (a, b)
        for a, b in combinations(SPELLINGS, 2)
        if (_own_key(a) == _own_key(b)) != (by_norm[a].replace(" ", "") == by_norm[b].replace(" ", ""))
    ]
    assert wrong == []
    # the data really holds such variants, so the check above is not empty
    assert any(_own_key(a) == _own_key(b) for a, b in combinations(SPELLINGS, 2))


@pytest.mark.parametrize(
    ("spellings", "key"),
    [
        (["PEN-LINK, LTD", "PEN-LINK, LIMITED"], "PEN LINK"),
        (["PALANTIR TECHNOLOGIES INC.", "PALANTIR TECHNOLOGIES INCORPORATED"], "PALANTIR TECHNOLOGIES"),
        (["FOUR POINTS TECHNOLOGY, L.L.C.", "FOUR POINTS TECHNOLOGY LLC"], "FOUR POINTS TECHNOLOGY"),
        (["DELL FEDERAL SYSTEMS L.P", "DELL FEDERAL SYSTEMS LP"], "DELL FEDERAL SYSTEMS"),
        (["THE GEO GROUP, INC.", "GEO GROUP INC, THE"], "GEO GROUP"),
        (["CHENEGA DEFENSE & AEROSPACE SOLUTIONS, LLC"], "CHENEGA DEFENSE AND AEROSPACE SOLUTIONS"),
    ],
)
def test_known_variants(spellings: list[str], key: str) -> None:
    assert {normalize_name(s) for s in spellings} == {key}


def test_the_real_variants_are_in_the_data() -> None:
    assert {"PEN-LINK, LTD", "PEN-LINK, LIMITED"} <= set(SPELLINGS)
    assert {"PALANTIR TECHNOLOGIES INC.", "DELL FEDERAL SYSTEMS L.P"} <= set(SPELLINGS)


def test_doing_business_as_gives_both_names() -> None:
    assert name_variants("ACME HOLDINGS, INC. D/B/A WIDGETWORKS LLC") == ("ACME HOLDINGS", "WIDGETWORKS")
    assert name_variants("ACME HOLDINGS DBA WIDGETWORKS") == ("ACME HOLDINGS", "WIDGETWORKS")
    assert name_variants(None) == ("",)


def test_a_dot_inside_a_word_is_a_space_and_initials_join() -> None:
    assert normalize_name("AMAZON.COM LLC") == "AMAZON COM"
    assert (
        normalize_name("TACTICAL ELECTRONICS AND MILITARY SUPPLY L.L.C.") == "TACTICAL ELECTRONICS AND MILITARY SUPPLY"
    )
    assert normalize_name("U.S. INVESTIGATIONS SERVICES") == "US INVESTIGATIONS SERVICES"
