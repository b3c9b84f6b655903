"""Issue 19, item 1: one impossible amount (1e309, NaN, 40 digits) must stop neither the site nor any digest.

The replay sends the literal JSON number text a broken or hostile server would
(watcher/fakes/numbers.py); the row is refused with a run warning naming the award, the
rest of the run is stored, and every output formats money from finite Decimals only.
"""

from __future__ import annotations

import email
import json
import re
import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import tx_row
from tests.test_poll_e2e import FOUR, MSFT, PAL, awards_from, base_rows
from tests.test_sam import DAY
from tests.test_sam import FOUR as SAM_FOUR
from tests.test_sam import PAL as SAM_PAL
from tests.test_sam import world as sam_world  # noqa: F401 - the SAM.gov fakes' fixture, reused here
from watcher.cli import cli
from watcher.errors import ImpossibleAmount, SourceError
from watcher.fakes.numbers import HOSTILE, RawNumber, dumps
from watcher.fakes.sam_recordings import all_actions
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.http import parse_json
from watcher.sources.sam.parse import notice_amount, parse_action
from watcher.values import MAX_AMOUNT, finite_amount, to_decimal

SUBSCRIBER = "subscribers:\n  desk:\n    email: desk@example.org\n    cadence: instant\n"


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def world(replay: UsaspendingReplay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    replay.set_awards(awards_from(base_rows()))
    config = write_config(extra=SUBSCRIBER)
    db = tmp_path / "w.db"

    def cli_run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *args])

    return cli_run, db, replay, tmp_path


def _amounts(db: Path) -> list[float]:
    with sqlite3.connect(db) as conn:
        return [
            v
            for (v,) in conn.execute(
                "SELECT total_obligation FROM awards UNION ALL SELECT potential_value FROM awards"
                " UNION ALL SELECT obligation FROM transactions UNION ALL SELECT amount_delta FROM changes"
            )
            if v is not None
        ]


def _warnings(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return " ".join(w or "" for (w,) in conn.execute("SELECT warnings FROM runs"))


def _outputs_work(cli_run, db: Path, tmp: Path) -> None:
    """The site builds, the digest goes out without Infinity or NaN, the export is standard JSON."""
    site = cli_run("site", "--out", str(tmp / "site"))
    assert site.exit_code == 0, site.output
    digest = cli_run("digest")
    assert digest.exit_code == 0, digest.output
    (eml,) = (tmp / "outbox").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes())
    for part in (message["Subject"], eml.read_text(errors="replace")):
        assert not re.search(r"Infinity|NaN|\$inf", part), part[:300]
    export = cli_run("export", "awards", "--format", "json")
    assert export.exit_code == 0
    _strict_json(export.stdout)


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_an_impossible_award_amount_refuses_that_award_only(world, text: str) -> None:
    cli_run, db, replay, tmp = world
    replay.awards[PAL].row["Award Amount"] = RawNumber(text)
    replay.set_awards(list(replay.awards.values()))
    result = cli_run("poll")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        keys = {k for (k,) in conn.execute("SELECT award_key FROM awards")}
        assert conn.execute("SELECT status FROM runs").fetchall() == [("ok",)]
    assert keys == {FOUR, MSFT}  # refused, not stored with a wrong amount; the others are
    assert PAL in _warnings(db) and "Award Amount" in _warnings(db)
    assert all(abs(v) <= MAX_AMOUNT for v in _amounts(db))
    _outputs_work(cli_run, db, tmp)


@pytest.mark.parametrize("text", ["1e309", "NaN", HOSTILE["40 digits"]])
def test_an_impossible_action_amount_refuses_its_award_and_the_run_goes_on(world, text: str) -> None:
    cli_run, db, replay, tmp = world
    replay.awards[MSFT].transactions[0]["federal_action_obligation"] = RawNumber(text)
    replay.set_awards(list(replay.awards.values()))
    result = cli_run("poll")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        keys = {k for (k,) in conn.execute("SELECT award_key FROM awards")}
    assert keys == {PAL, FOUR}
    warnings = _warnings(db)
    assert MSFT in warnings and "federal_action_obligation" in warnings  # the award's own read
    assert "Transaction Amount" in warnings  # the transaction index walk saw it too
    assert all(abs(v) <= MAX_AMOUNT for v in _amounts(db))
    _outputs_work(cli_run, db, tmp)


def test_a_database_already_holding_infinity_still_builds_mails_and_exports(world) -> None:
    """A database written before the edge refused such numbers: the outputs format only finite money."""
    cli_run, db, _, tmp = world
    assert cli_run("poll").exit_code == 0
    with sqlite3.connect(db) as conn:  # what an older watcher stored from "Award Amount": 1e309
        conn.execute("UPDATE awards SET total_obligation = 9e999 WHERE award_key = ?", [PAL])
        conn.execute("UPDATE transactions SET obligation = 9e999 WHERE award_key = ?", [PAL])
        conn.execute("UPDATE changes SET amount_delta = 9e999 WHERE award_key = ?", [PAL])
    _outputs_work(cli_run, db, tmp)
    for what in ("awards", "transactions", "changes"):
        out = cli_run("export", what)
        assert out.exit_code == 0 and not re.search(r"(^|,)-?inf(inity)?(,|$)", out.stdout, re.I | re.M)
        _strict_json(cli_run("export", what, "--format", "json").stdout)
    for download in (tmp / "site").glob("downloads/*.json"):
        _strict_json(download.read_text())
    for download in (tmp / "site").glob("downloads/*.csv"):
        assert not re.search(r"(^|,)-?inf(inity)?(,|$)", download.read_text(), re.I | re.M)


def test_watcher_run_goes_on_to_the_digest_when_the_site_step_breaks(world) -> None:
    """Any exception in a step (here a broken site template, not a WatcherError) fails that step only."""
    cli_run, db, _, tmp = world
    (tmp / "templates" / "site").mkdir(parents=True)
    (tmp / "templates" / "site" / "award.html").write_text("{% if %}broken")
    result = cli_run("run", "--site", str(tmp / "site"))
    assert result.exit_code == 1
    assert "site: error: TemplateSyntaxError" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert "desk: " in result.output and len(list((tmp / "outbox").glob("*.eml"))) == 1


def test_the_fake_writes_hostile_number_text_and_the_client_reads_it_exactly() -> None:
    body = dumps({"a": RawNumber("1e309"), "b": Decimal("1E+309"), "c": RawNumber("NaN"), "d": Decimal("86271599.30")})
    assert body == b'{"a": 1e309, "b": 1E+309, "c": NaN, "d": 86271599.3}'
    forty = HOSTILE["40 digits"]
    assert dumps({"x": RawNumber(forty)}) == b'{"x": ' + forty.encode() + b"}"
    assert parse_json(dumps({"x": Decimal(forty)}), "t") == {"x": Decimal(forty)}  # no float on the way
    with pytest.raises(ValueError):
        RawNumber("1e309}, {")


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1E+309"),
        "1e309",
        float("inf"),
        float("nan"),
        "NaN",
        "-Infinity",
        HOSTILE["40 digits"],
        "10000000000000.01",
    ],
)
def test_to_decimal_refuses_what_no_award_can_carry(value: Any) -> None:
    with pytest.raises(ImpossibleAmount):
        to_decimal(value)
    assert to_decimal("10000000000000") == MAX_AMOUNT  # the bound itself is possible
    assert to_decimal("344700000000.00") == Decimal("344700000000.00")  # the largest seen live (trap 16)
    assert finite_amount(float("inf")) is None and finite_amount(float("nan")) is None


def test_sam_records_with_impossible_amounts_are_refused_by_award_and_notices_keep_the_text() -> None:
    record = {
        "contractId": {"subtier": {"code": "7012"}, "piid": "70CTD026FC0000012", "modificationNumber": "0"},
        "awardDetails": {"dollars": {"actionObligation": "1e309"}},
    }
    with pytest.raises(ImpossibleAmount, match="CONT_AWD_70CTD026FC0000012_7012"):
        parse_action(record)
    assert isinstance(ImpossibleAmount("x"), SourceError)  # the SAM walk skips such a record with a warning
    assert notice_amount("NaN") == (None, "NaN") and notice_amount("1e309") == (None, "1e309")


@pytest.mark.parametrize("text", ["1e309", "NaN", "Infinity", HOSTILE["40 digits"]])
def test_a_sam_action_with_an_impossible_amount_is_skipped_with_a_warning_naming_its_award(
    sam_world,  # noqa: F811 - the fixture imported above
    text: str,
) -> None:
    w = sam_world(sources="sam_awards")
    day = (DAY - timedelta(days=1)).isoformat()
    rows = [
        tx_row(
            "70CTD026FC0000012", SAM_PAL, "PALANTIR TECHNOLOGIES INC.", "86271599.30", day, desc="ERO CASE MANAGEMENT"
        ),
        tx_row("70CTD025FC0000024", SAM_FOUR, "FOUR POINTS TECHNOLOGY, L.L.C.", "24105505.29", day, desc="AWS HOSTING"),
    ]
    actions = all_actions(awards_from(rows), lag_days=0)
    hostile = next(a for a in actions if a["contractId"]["piid"] == "70CTD026FC0000012")
    hostile["awardDetails"]["dollars"]["actionObligation"] = text  # SAM.gov sends amounts as strings
    w.sam.set_data(actions=actions)
    (result,) = w.poll(DAY)
    assert result.status == "ok", result.error
    assert any(SAM_PAL in x and "impossible amount" in x for x in result.warnings), result.warnings
    keys = {k for (k,) in w.q("SELECT award_key FROM awards")}
    assert SAM_PAL not in keys and SAM_FOUR in keys
    assert all(v is None or abs(v) <= MAX_AMOUNT for (v,) in w.q("SELECT obligation FROM transactions"))


def test_a_daemon_job_that_raises_anything_is_logged_and_the_daemon_goes_on(tmp_path: Path, caplog) -> None:
    """The daemon's wrapper (not only `watcher run`) takes any exception: the next job still runs."""
    import decimal

    from watcher import store
    from watcher.ops.daemon import _Running, _wrap

    db = tmp_path / "w.db"
    store.open_db(db).conn.close()

    def broken() -> str:
        raise decimal.InvalidOperation([decimal.InvalidOperation])

    running = _Running()
    _wrap("site", broken, db, running)()  # must not raise
    assert not running.busy()
    assert "daemon: site failed" in caplog.text
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT job FROM daemon_jobs").fetchall() == [("site",)]


def test_a_backfill_leaves_out_an_impossible_action_and_names_it() -> None:
    """`watcher backfill` stages spending_by_transaction rows: one impossible amount is left out, the others kept."""
    from watcher.sources.usaspending.history import staged_rows

    good = {"generated_internal_id": PAL, "Mod": "0", "Action Date": "2026-01-02", "Transaction Amount": 1000.0}
    bad = {**good, "Mod": "P00001", "Transaction Amount": Decimal("1E+309")}
    refused: list[str] = []
    rows = staged_rows("ice", [(1, [good, bad, {**bad, "Transaction Amount": float("nan")}])], refused)
    assert [r[2] for r in rows] == ["0"]
    assert len(refused) == 2 and all(PAL in x and "P00001" in x for x in refused)
