"""queries.yaml validation: every mistake names the file, the line and the key; exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from watcher.cli import cli
from watcher.config import load_config
from watcher.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "watcher" / "seeds"


def test_shipped_config_watches_dhs_big_tech() -> None:
    config = load_config(ROOT / "queries.yaml")
    watch = config.watches["dhs-big-tech"]
    names = {a.name for a in watch.agencies}
    assert names == {
        "U.S. Immigration and Customs Enforcement",
        "U.S. Customs and Border Protection",
        "U.S. Citizenship and Immigration Services",
        "Office of Procurement Operations",
    }
    assert set(watch.vendors) == {"amazon", "palantir", "microsoft"}
    assert "four_points" in config.resellers and "amazon" in config.resellers["four_points"].vendors


def test_every_seed_uei_cites_evidence() -> None:
    config = load_config(ROOT / "queries.yaml")
    for vendor in config.vendors.values():
        for uei in [*vendor.ueis, *vendor.parent_ueis]:
            assert uei.evidence.strip()


BROKEN = {
    "unknown key": (
        "watches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n    agencys: [cbp]\n",
        5,
        "watches.w.agencys",
        "unknown key",
    ),
    "wrong type": (
        "watches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n    lookback_days: soon\n",
        5,
        "watches.w.lookback_days",
        "integer",
    ),
    "unknown agency": (
        "watches:\n  w:\n    agencies:\n      - ice\n      - ICE HQ\n    vendors: [palantir]\n",
        5,
        "watches.w.agencies.1",
        "unknown agency 'ICE HQ'",
    ),
    "unknown vendor": (
        "watches:\n  w:\n    agencies: [ice]\n    vendors:\n      - palantr\n",
        5,
        "watches.w.vendors.0",
        "unknown vendor 'palantr'",
    ),
    "bad award type": (
        "watches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n    award_types: [grants]\n",
        5,
        "watches.w.award_types.0",
        "contracts",
    ),
    "short keyword": (
        "watches:\n  w:\n    agencies: [ice]\n    keywords: [AI]\n",
        4,
        "watches.w.keywords.0",
        "'AI' is too short",
    ),
    "duplicate watch": (
        "watches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n  w:\n    agencies: [cbp]\n",
        5,
        "watches.w",
        "duplicate key",
    ),
    "yaml syntax": ("watches:\n  w:\n    agencies: [ice\n    vendors: [palantir]\n", 4, "", "YAML syntax error"),
    "no watches": ("settings: {}\n", 1, "watches", "Field required"),
    "page size": (
        "settings:\n  usaspending:\n    page_size: 500\nwatches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n",
        3,
        "settings.usaspending.page_size",
        "less than or equal to 100",
    ),
    "unknown source": (
        "watches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n    sources: [usaspending, sam]\n",
        5,
        "watches.w.sources.1",
        "sam_awards",
    ),
    "bad notice type": (
        "settings:\n  sam:\n    notice_types: [a, z]\nwatches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n",
        3,
        "settings.sam.notice_types.1",
        "'a'",
    ),
    "zero budget": (
        "settings:\n  sam:\n    daily_budget: 0\nwatches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n",
        3,
        "settings.sam.daily_budget",
        "greater than or equal to 1",
    ),
    "bad subscriber cadence": (
        "watches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n"
        "subscribers:\n  s:\n    email: s@example.org\n    cadence: hourly\n",
        8,
        "subscribers.s.cadence",
        "instant",
    ),
    "nothing to match": ("watches:\n  w:\n    agencies: [ice]\n", 2, "watches.w", "at least one vendor or keyword"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_config_names_file_line_and_key(tmp_path: Path, case: str) -> None:
    text, line, key, words = BROKEN[case]
    path = tmp_path / "queries.yaml"
    path.write_text(f"settings:\n  seeds_dir: {SEEDS}\n" + text if not text.startswith("settings") else text)
    if not text.startswith("settings"):
        line += 2
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert key in message and words in message, message


def test_check_command_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["--config", str(ROOT / "queries.yaml"), "check"])
    assert ok.exit_code == 0, ok.output
    assert "dhs-big-tech" in ok.output and "8 search walks" in ok.output
    bad = tmp_path / "queries.yaml"
    bad.write_text("watches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n    typo: 1\n")
    result = runner.invoke(cli, ["--config", str(bad), "check"])
    assert result.exit_code == 2
    assert f"{bad}:5: watches.w.typo: unknown key" in result.output


def test_missing_config_file_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "nope.yaml"), "check"])
    assert result.exit_code == 2 and "file not found" in result.output


def test_inline_vendor_and_exact_agency_name(tmp_path: Path) -> None:
    path = tmp_path / "queries.yaml"
    path.write_text(
        "watches:\n  w:\n    agencies:\n      - U.S. Customs and Border Protection\n"
        "      - {name: U.S. Secret Service, tier: subtier}\n"
        "    vendors:\n      - {name: Anduril Industries, aliases: [ANDURIL INDUSTRIES], mentions: [LATTICE OS]}\n"
    )
    config = load_config(path)
    w = config.watches["w"]
    assert [a.name for a in w.agencies] == ["U.S. Customs and Border Protection", "U.S. Secret Service"]
    assert list(w.vendors) == ["anduril_industries"]


def test_the_shipped_config_validates_against_its_json_schema() -> None:
    import json

    import yaml

    schema = json.loads((ROOT / "queries.schema.json").read_text())
    assert schema["additionalProperties"] is False and "watches" in schema["required"]
    watch = schema["$defs"]["WatchSpec"]
    assert watch["additionalProperties"] is False
    data = yaml.safe_load((ROOT / "queries.yaml").read_text())
    assert set(data["watches"]["dhs-big-tech"]) <= set(watch["properties"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('poll: "15 * * * 1-5"', "write weekdays as names"),
        ('poll: "15 * *"', "use 5 cron fields"),
        ('digest: "99 * * * *"', "99"),
        ("timezone: Mars/Base", "not a time zone"),
    ],
)
def test_schedule_mistakes_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    from tests.conftest import SEEDS

    cfg = tmp_path / "queries.yaml"
    cfg.write_text(
        f"settings:\n  seeds_dir: {SEEDS}\n  schedule:\n    {line}\n"
        "watches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    key = line.split(":")[0]
    assert f"{cfg}:4: settings.schedule.{key}: " in str(err.value) and message in str(err.value)
