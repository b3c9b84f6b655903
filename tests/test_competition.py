"""Competition and ceiling facts from the award detail, the flags, typed modifications and notice links.

The facts are checked field by field against the real recorded award details (tests/fixtures)
and the real ICE rows the demo replays (seeds/ice/torn_apart), including null and missing values.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SEEDS
from watcher import fpds
from watcher.config import load_config
from watcher.diff import diff_award
from watcher.errors import ConfigError, SourceError
from watcher.fakes.recordings import contract_data, dataset, snapshots
from watcher.http import parse_json
from watcher.models import COMPETITION_FIELDS, Award
from watcher.site import competition
from watcher.sources.usaspending.parse import detail_fields
from watcher.words import action_type_words, action_types

SAMPLES = Path(__file__).parent / "fixtures" / "usaspending"
MIT = "awards__CONT_AWD_0007_9700_FA870215D0001_9700.json"  # a DoD order under an IDV, not competed
IOWA = "awards__contract_CONT_AWD_80GSFC18C0008.json"  # a NASA contract, full and open, 2 offers
IDV = "awards__idv_nasa.json"  # a NASA IDV, sole source, 1 offer


def facts_of(name: str) -> dict[str, Any]:
    return detail_fields(parse_json((SAMPLES / name).read_bytes(), name))


#: (sample, field, the value parsed): every field of every recorded detail, nulls included.
EXPECTED = [
    (MIT, "extent_competed", "C"),
    (MIT, "extent_competed_description", "NOT COMPETED"),
    (MIT, "number_of_offers_received", None),  # null in the answer
    (MIT, "solicitation_procedures", "SSS"),
    (MIT, "solicitation_procedures_description", "ONLY ONE SOURCE"),
    (MIT, "other_than_full_and_open", "MES"),
    (MIT, "other_than_full_and_open_description", "MOBILIZATION, ESSENTIAL R&D (FAR 6.302-3)"),
    (MIT, "type_set_aside", None),  # null
    (MIT, "type_set_aside_description", None),
    (MIT, "type_of_contract_pricing", "S"),
    (MIT, "type_of_contract_pricing_description", "COST NO FEE"),
    (MIT, "solicitation_identifier", None),  # null
    (MIT, "base_exercised_options", Decimal("1617557679.46")),
    (MIT, "potential_value", Decimal("1630072347.66")),  # the ceiling: base and all options
    (MIT, "parent_award_key", "CONT_IDV_FA870215D0001_9700"),
    (IOWA, "extent_competed", "A"),
    (IOWA, "extent_competed_description", "FULL AND OPEN COMPETITION"),
    (IOWA, "number_of_offers_received", 2),  # "2" in the answer: FPDS keeps it as text
    (IOWA, "solicitation_procedures", "NP"),
    (IOWA, "other_than_full_and_open", None),
    (IOWA, "other_than_full_and_open_description", None),
    (IOWA, "type_set_aside", "NONE"),
    (IOWA, "type_set_aside_description", "NO SET ASIDE USED."),
    (IOWA, "solicitation_identifier", "NNH16ZDA005O"),
    (IOWA, "base_exercised_options", Decimal("172272419.67")),
    (IOWA, "parent_award_key", None),  # parent_award: null
    (IDV, "extent_competed", "C"),
    (IDV, "number_of_offers_received", 1),
    (IDV, "other_than_full_and_open", "ONE"),
    (IDV, "other_than_full_and_open_description", "ONLY ONE SOURCE-OTHER (FAR 6.302-1 OTHER)"),
    (IDV, "type_of_contract_pricing", "V"),
    (IDV, "type_of_contract_pricing_description", "COST PLUS INCENTIVE FEE"),
    (IDV, "solicitation_identifier", "80JSC018R0014"),
    (IDV, "base_exercised_options", None),  # null for this IDV
    (IDV, "potential_value", Decimal("10489314619.0")),
]


@pytest.mark.parametrize(("sample", "field", "value"), EXPECTED, ids=lambda v: str(v)[:40])
def test_each_competition_fact_parses_from_the_recorded_details(sample: str, field: str, value: Any) -> None:
    got = facts_of(sample)[field]
    assert got == value and type(got) is type(value)


def test_every_competition_field_is_checked_on_some_sample() -> None:
    assert set(COMPETITION_FIELDS) <= {f for _, f, _ in EXPECTED}


@pytest.mark.parametrize("missing", ["absent", "null", "empty"])
def test_a_detail_without_contract_data_has_no_facts(missing: str) -> None:
    detail = json.loads((SAMPLES / IOWA).read_text())
    if missing == "absent":
        del detail["latest_transaction_contract_data"]
    else:
        detail["latest_transaction_contract_data"] = None if missing == "null" else {}
    facts = detail_fields(detail)
    assert all(facts[f] is None for f in COMPETITION_FIELDS if f != "base_exercised_options")
    assert facts["base_exercised_options"] == Decimal("172272419.67")  # a top-level field, still there


@pytest.mark.parametrize("offers", ["two", "-1", "1.5"])
def test_an_impossible_offer_count_is_refused_naming_the_award(offers: str) -> None:
    detail = json.loads((SAMPLES / IOWA).read_text())
    detail["latest_transaction_contract_data"]["number_of_offers_received"] = offers
    with pytest.raises(SourceError, match=r"CONT_AWD_80GSFC18C0008.*number_of_offers_received"):
        detail_fields(detail)


# ---------------------------------------------------------------- the real ICE rows

PALANTIR = "HSCETC15C00001"  # ICE's Palantir contract: not competed, one offer (the torn-apart FY2018 row)


def test_the_real_ice_rows_give_the_replayed_details_their_facts() -> None:
    rows = contract_data(SEEDS)
    assert rows[PALANTIR] == {
        "extent_competed": "C",
        "extent_competed_description": "NOT COMPETED",
        "number_of_offers_received": "1",
        "solicitation_procedures": "SSS",
        "solicitation_procedures_description": "ONLY ONE SOURCE",
        "other_than_full_and_open": "ONE",
        "other_than_full_and_open_description": "ONLY ONE SOURCE - OTHER",
        "type_set_aside": "NONE",
        "type_set_aside_description": "NO SET ASIDE USED.",
        "type_of_contract_pricing": "J",
        "type_of_contract_pricing_description": "FIRM FIXED PRICE",
        "solicitation_identifier": "HSCETC-15-Q-00010",
    }
    # Its latest row (P00018, 2018-05-25) left offers blank: the API's null, not a zero.
    assert rows["HSCETC16J00017"]["number_of_offers_received"] is None
    assert rows["HSCETC16J00017"]["extent_competed"] == "A"


def test_the_replayed_palantir_detail_parses_to_a_single_offer_sole_source_award() -> None:
    awards = {a.row["Award ID"]: a for a in dataset(SEEDS, snapshots(SEEDS)[-1])}
    facts = detail_fields(awards[PALANTIR].detail)
    assert (facts["extent_competed"], facts["number_of_offers_received"], facts["solicitation_procedures"]) == (
        "C",
        1,
        "SSS",
    )
    assert fpds.single_offer(facts) and fpds.sole_source(facts) and not fpds.set_aside(facts)
    # An award the torn-apart rows do not cover has no contract data in its detail, so no facts.
    other = next(a for piid, a in awards.items() if piid not in contract_data(SEEDS))
    assert all(v is None for k, v in detail_fields(other.detail).items() if k in COMPETITION_FIELDS)


# ---------------------------------------------------------------- flags: the view and the functions agree

CASES: list[dict[str, Any]] = [
    {"award_key": "A1", "number_of_offers_received": 1, "extent_competed": "A"},
    {"award_key": "A2", "number_of_offers_received": 3, "extent_competed": "C"},
    {"award_key": "A3", "extent_competed": "a", "solicitation_procedures": "SSS"},
    {"award_key": "A4", "extent_competed": "NDO"},
    {"award_key": "A5", "type_set_aside": "SBA", "total_obligation": 91.0, "potential_value": 100.0},
    {"award_key": "A6", "type_set_aside": "NONE", "total_obligation": 90.0, "potential_value": 100.0},
    {"award_key": "A7", "type_set_aside": "8AN", "total_obligation": 5.0, "potential_value": 0.0},
    {"award_key": "A8"},
]
WATCHED = {"A1", "A5", "A6"}


def test_the_award_flags_view_follows_the_documented_rules(memory_db: Any) -> None:
    for case in CASES:
        memory_db["awards"].insert(case)
        if case["award_key"] in WATCHED:
            memory_db["matches"].insert(
                {"watch": "w", "entity_key": case["award_key"], "vendor": "amazon", "reason": "mention"}
            )
    view = {r["award_key"]: r for r in memory_db.query("SELECT * FROM award_flags")}
    expected = {
        "A1": ["single_offer"],
        "A2": ["sole_source"],
        "A3": ["sole_source"],
        "A4": ["sole_source"],
        "A5": ["small_business_set_aside_to_big_tech", "near_ceiling"],
        "A6": [],  # 90% is not above 90%; NONE is no set-aside
        "A7": [],  # a set-aside, but no watched vendor; no positive ceiling
        "A8": [],
    }
    for key, flags in expected.items():
        row = view[key]
        assert [f for f in competition.FLAG_WORDS if row[f]] == flags, key
        assert all(row[f] in (0, 1) for f in competition.FLAG_WORDS)  # never NULL: countable
        award = next(c for c in CASES if c["award_key"] == key)
        assert competition.flags(award, key in WATCHED) == flags, key


# ---------------------------------------------------------------- diffs: a change is a field diff


def test_a_changed_fact_is_a_field_diff_and_a_first_fill_is_silent() -> None:
    old = Award("K", total_obligation=Decimal(5), number_of_offers_received=2, extent_competed="A").to_row()
    new = Award("K", total_obligation=Decimal(5), number_of_offers_received=1, extent_competed="A")
    new.solicitation_identifier = "70CDCR21R00000001"  # first known now: filled, not news
    change = diff_award(old, new)
    assert change is not None and change.diff == {"number_of_offers_received": [2, 1]}
    new.number_of_offers_received = 2
    assert diff_award(old, new) is None


def test_the_migration_adds_the_columns_with_their_types(memory_db: Any) -> None:
    cols = memory_db["awards"].columns_dict
    assert cols["number_of_offers_received"] is int and cols["base_exercised_options"] is float
    assert all(f in cols for f in COMPETITION_FIELDS)


# ---------------------------------------------------------------- typed modifications


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("G", "option exercised"),
        ("C", "funding only"),
        ("B", "supplemental agreement"),
        ("D", "change order"),
        ("E", "terminated for default"),
        ("F", "terminated for convenience"),
        ("K", "closed out"),
        ("M", "administrative change"),
        ("J", "novated to NEWCO LLC"),
    ],
)
def test_each_fpds_action_type_in_plain_words(code: str, words: str) -> None:
    assert action_type_words({"action_type": code}, {"recipient_name": "NEWCO LLC"}) == words


def test_an_unlisted_action_type_falls_back_to_the_apis_words() -> None:
    assert action_type_words({"action_type": "Q", "action_type_description": "SOMETHING NEW"}, {}) == "something new"
    assert action_type_words({"action_type": None}, {}) is None
    txs = [{"action_type": "G"}, {"action_type": "C"}, {"action_type": "G"}]
    assert action_types(txs, {}) == "option exercised, funding only"


def test_every_modification_kind_has_codes() -> None:
    assert all(fpds.MODIFICATION_CODES[k] for k in fpds.ModificationKind)
    assert fpds.MODIFICATION_CODES[fpds.ModificationKind.TERMINATED] == ("E", "F", "X")


CONFIG = """\
settings:
  seeds_dir: {seeds}
watches:
  w:
    agencies: [ice]
    vendors: [palantir]
subscribers:
  s:
    email: s@example.org
    kinds: [new_award, {kind}]
"""


def test_kinds_accept_the_modification_kinds(tmp_path: Path) -> None:
    path = tmp_path / "queries.yaml"
    path.write_text(CONFIG.format(seeds=SEEDS, kind="option_exercised"))
    assert list(load_config(path).subscribers["s"].kinds) == ["new_award", fpds.ModificationKind.OPTION_EXERCISED]


def test_a_misspelt_kind_names_file_line_key_and_the_choices(tmp_path: Path) -> None:
    path = tmp_path / "queries.yaml"
    path.write_text(CONFIG.format(seeds=SEEDS, kind="option_excercised"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}:10:") and "subscribers.s.kinds.1" in message
    assert "'option_excercised'" in message and "option_exercised" in message and "novation" in message


# ---------------------------------------------------------------- notices linked by solicitation number


def test_notices_link_to_an_award_by_its_solicitation_number(memory_db: Any) -> None:
    memory_db["awards"].insert(
        {"award_key": "A", "piid": "70CDCR21C00000001", "solicitation_identifier": "70CDCR21R0001"}
    )
    memory_db["awards"].insert({"award_key": "B", "piid": "OTHER"})
    notices = [
        ("n1", "Solicitation", "70cdcr-21-r-0001", None),  # the same number, spelt loosely
        ("n2", "Justification", "70CDCR21R0001 ", None),
        ("n3", "Award Notice", None, "A"),  # linked by the award number it announces
        ("n4", "Solicitation", "70CDCR21R0002", None),  # another solicitation
    ]
    memory_db["notices"].insert_all(
        {"notice_id": i, "type": t, "solicitation_number": s, "award_key": k, "posted_date": "2021-01-02"}
        for i, t, s, k in notices
    )
    rows = list(memory_db.query("SELECT award_key, notice_id, linked_by FROM award_notices ORDER BY notice_id"))
    assert rows == [
        {"award_key": "A", "notice_id": "n1", "linked_by": "solicitation number"},
        {"award_key": "A", "notice_id": "n2", "linked_by": "solicitation number"},
        {"award_key": "A", "notice_id": "n3", "linked_by": "award number"},
    ]


# ---------------------------------------------------------------- the award page's section


def test_the_ceiling_bar_draws_obligated_against_the_ceiling_with_the_numbers() -> None:
    bar = str(competition.ceiling_bar({"potential_value": 200.0, "total_obligation": 150.0}, width=400))
    assert '<rect x="0" y="0" width="300"' in bar and "$150.00 obligated of $200.00 ceiling (75%)" in bar
    over = str(competition.ceiling_bar({"potential_value": 100.0, "total_obligation": 250.0}, width=400))
    assert 'width="400" height="22" fill="#5a2a82"' in over and "(250%)" in over
    assert str(competition.ceiling_bar({"potential_value": None, "total_obligation": 1.0})) == ""
    assert str(competition.ceiling_bar({"potential_value": 0.0, "total_obligation": 1.0})) == ""


def test_the_facts_are_worded_and_api_text_is_escaped_where_rendered() -> None:
    facts = dict(
        competition.facts(
            {"extent_competed": "C", "extent_competed_description": "NOT COMPETED", "number_of_offers_received": 0}
        )
    )
    assert facts == {"Competition": "not competed (C)", "Offers received": "0"}
    bar = str(competition.ceiling_bar({"potential_value": 1.0, "total_obligation": 0.5}))
    assert "<script" not in bar


def test_history_puts_linked_notices_typed_actions_and_flags_on_one_timeline(memory_db: Any) -> None:
    from watcher.site.export import history, render_history

    memory_db["awards"].insert(
        {"award_key": "K", "piid": "70CDCR21C0001", "solicitation_identifier": "70CDCR21R0001", "extent_competed": "C"}
    )
    memory_db["transactions"].insert_all(
        [
            {"transaction_key": "T0", "award_key": "K", "modification_number": "0", "action_date": "2021-04-01"},
            {"transaction_key": "T1", "award_key": "K", "modification_number": "P00001", "action_date": "2022-04-01",
             "action_type": "G", "obligation": 5000.0},
        ]
    )  # fmt: skip
    memory_db["notices"].insert_all(
        [
            {"notice_id": "sol", "type": "Solicitation", "title": "Case management", "posted_date": "2021-01-05",
             "solicitation_number": "70CDCR-21-R-0001"},
            {"notice_id": "ja", "type": "Justification", "title": "J&A: only one source", "posted_date": "2021-02-05",
             "solicitation_number": "70CDCR21R0001"},
        ]
    )  # fmt: skip
    h = history(memory_db, "K")
    assert h["flags"] == ["sole_source"]
    assert [(e["at"], e["event"]) for e in h["timeline"]] == [
        ("2021-01-05", "notice"),
        ("2021-02-05", "notice"),
        ("2021-04-01", "action"),
        ("2022-04-01", "action"),
    ]
    text = render_history(h)
    assert "flags: sole source" in text
    assert "2021-02-05  SAM.gov Justification ja: J&A: only one source (linked by solicitation number)" in text
    assert "2022-04-01  action P00001 [option exercised]: +$5,000.00" in text


def test_the_apis_trailing_full_stop_is_dropped_from_a_fact() -> None:
    said = dict(competition.facts({"type_set_aside": "NONE", "type_set_aside_description": "NO SET ASIDE USED."}))
    assert said == {"Set-aside": "no set aside used (NONE)"}
