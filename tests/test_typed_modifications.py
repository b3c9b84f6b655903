"""End to end: a new modification that exercises an option is reported as "option exercised", with its money.

The CLI polls the replay server (real HTTP on 127.0.0.1) twice; between the polls the award
gains a modification whose FPDS action type is G (exercise an option). Digests then go through a
real SMTP server (aiosmtpd): a subscriber filtering on ``option_exercised`` gets it, one filtering
on ``terminated`` does not; the award page names what each action did and how it was competed.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import SEEDS, SmtpServer, awards_from, tx_row
from watcher.cli import cli
from watcher.fakes.usaspending import UsaspendingReplay

pytestmark = pytest.mark.slow

TODAY = date.today()
PIID = "70CTD026FC0000012"
KEY = f"CONT_AWD_{PIID}_7012_70RTAC26A00000001_7001"
PALANTIR = "PALANTIR TECHNOLOGIES INC."

CONFIG = """\
settings:
  seeds_dir: {seeds}
  site_url: https://watch.example.org
  usaspending:
    min_interval_seconds: 0
  email:
    from: "ICE watch <digests@watch.example.org>"
    outbox: {outbox}
    smtp:
      host: 127.0.0.1
      port: {port}
      security: none
watches:
  ice-vendors:
    agencies: [ice]
    agency_roles: [awarding]
    vendors: [palantir]
    award_types: [contracts]
    lookback_days: 30
subscribers:
  options:
    email: options@example.org
    cadence: instant
    kinds: [option_exercised]
  terminations:
    email: terminations@example.org
    cadence: instant
    kinds: [terminated, novation]
"""


def day(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def rows(with_option: bool) -> list[dict[str, str]]:
    out = [
        tx_row(PIID, KEY, PALANTIR, "1000000.00", day(20), desc="ERO CASE MANAGEMENT"),
        tx_row(PIID, KEY, PALANTIR, "0.00", day(15), "P00001", "ADMINISTRATIVE CHANGE OF COR"),
    ]
    if with_option:
        out.append(tx_row(PIID, KEY, PALANTIR, "2500000.00", day(2), "P00002", "EXERCISE OPTION PERIOD 1"))
    return out


def serve(replay: UsaspendingReplay, with_option: bool) -> None:
    """The replay's awards, each action with its FPDS action type as the real transactions list gives it."""
    awards = awards_from(rows(with_option))
    types = {"0": (None, None), "P00001": ("M", "OTHER ADMINISTRATIVE ACTION"), "P00002": ("G", "EXERCISE AN OPTION")}
    for a in awards:
        for t in a.transactions:
            t["action_type"], t["action_type_description"] = types[t["modification_number"]]
        a.detail["latest_transaction_contract_data"] = {
            "extent_competed": "C",
            "extent_competed_description": "NOT COMPETED",
            "number_of_offers_received": "1",
            "solicitation_procedures": "SSS",
            "solicitation_procedures_description": "ONLY ONE SOURCE",
        }
        a.detail["base_and_all_options"] = 4000000
    replay.set_awards(awards)


@pytest.fixture
def env(replay: UsaspendingReplay, smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    smtp.start()
    config = tmp_path / "queries.yaml"
    config.write_text(CONFIG.format(seeds=SEEDS, outbox=tmp_path / "outbox", port=smtp.port))
    db = tmp_path / "w.db"

    def run(*args: str) -> Result:
        result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *args])
        assert result.exit_code == 0, result.output
        return result

    return run, db, replay, smtp


def q(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_an_exercised_option_is_reported_as_option_exercised_with_its_money(env, tmp_path: Path) -> None:
    run, db, replay, smtp = env
    serve(replay, with_option=False)
    run("poll")
    run("digest")  # the new award is neither subscriber's kind: nothing to send
    assert smtp.inbox.messages == []

    serve(replay, with_option=True)
    run("poll")
    [(kind, action_type)] = q(
        db,
        "SELECT c.kind, t.action_type FROM changes c JOIN transactions t ON t.transaction_key = c.entity_key"
        " WHERE c.kind = 'new_transaction'",
    )
    assert (kind, action_type) == ("new_transaction", "G")
    out = run("digest").output
    assert "terminations: nothing new" in out, out

    [(_, rcpts, _)] = smtp.inbox.messages
    assert rcpts == ["options@example.org"]
    [msg] = smtp.inbox.parsed()
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    headline = f"{PALANTIR}: modification P00002 to ICE BPA call {PIID}: option exercised, added $2,500,000.00"
    assert headline in text, text
    assert "option exercised" in html and "$2,500,000.00" in html

    # The award page says what each action did, how it was competed, and draws the ceiling.
    run("site", "--out", str(tmp_path / "site"))
    page = next((tmp_path / "site" / "awards").glob(f"*{PIID}*.html")).read_text()
    assert "<td>option exercised</td>" in page and "<td>administrative change</td>" in page
    assert "Single offer" in page and "Sole source" in page
    assert "$3,500,000.00 obligated of $4,000,000.00 ceiling (88%)" in page and "<svg" in page
    vendor = (tmp_path / "site" / "vendors" / "palantir.html").read_text()
    assert "Single offer: 1 award, $3,500,000.00 obligated" in vendor
    assert "Sole source: 1 award, $3,500,000.00 obligated" in vendor
