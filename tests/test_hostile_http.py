"""Hostile servers (issue 19, item 2): answers that trickle, never end or are huge, and a Retry-After of NaN.

Every case is served by the replay servers in a mode of ``watcher/fakes/hostile.py`` on
127.0.0.1 and read by the production client. A request has a total deadline (not only a
read timeout) and each endpoint a size cap, both enforced while the answer streams in;
past either, the request is a SourceError the run records, and it is not retried. The
slow tests measure what docs/reliability.md reports: the peak memory of a poll against an
endless and a 200 MB answer, and how long a poll against a server sending one byte a
second takes.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import stamina

from tests import test_sam
from tests.conftest import ROOT, awards_from
from tests.test_poll_e2e import base_rows
from tests.test_sam import KEY
from watcher.config import load_config
from watcher.errors import SourceError
from watcher.fakes import hostile
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.http import MB, ApiClient, Cap, _retry_after, _retry_hook, usaspending_client

world = test_sam.world  # the fixture: both fake APIs, a config, a database
AUTOCOMPLETE = "/api/v2/autocomplete/awarding_agency_office/"
SEARCH = "/api/v2/search/spending_by_award/"


def client(url: str, **kw: object) -> ApiClient:
    return ApiClient(url, min_interval=0, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- Retry-After


@pytest.mark.parametrize("value", ["NaN", "nan", "inf", "-inf", "soon", "Mon, 99 Foo 99999 99:99:99 GMT", "1e999"])
def test_an_unparseable_retry_after_is_ignored(value: str) -> None:
    resp = httpx.Response(429, headers={"Retry-After": value})
    assert _retry_after(resp) is None
    from watcher.errors import RetryableSourceError

    assert _retry_hook(RetryableSourceError("429", _retry_after(resp))) is True  # the usual backoff


def test_retry_after_seconds_and_dates_still_count() -> None:
    assert _retry_after(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    assert _retry_after(httpx.Response(429, headers={"Retry-After": "100000"})) == 300.0
    assert _retry_after(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0


def test_a_429_with_retry_after_nan_is_retried_and_the_request_succeeds(replay: UsaspendingReplay) -> None:
    replay.faults.append(hostile.fault(AUTOCOMPLETE, hostile.retry_after("NaN"), status=429, times=1))
    stamina.set_testing(False)  # real waits: a NaN reached time.sleep and ended the run
    try:
        with client(replay.url, attempts=2) as c:  # type: ignore[attr-defined]
            started = time.monotonic()
            body = c.request_json("POST", AUTOCOMPLETE, json_body={"search_text": "Immigration"})
    finally:
        stamina.set_testing(True, attempts=10, cap=True)
    assert body["results"]["subtier_agency"] and c.requests == 2
    assert time.monotonic() - started < 5  # the usual first backoff (about a second), not the NaN


# ---------------------------------------------------------------- the deadline


def test_a_server_sending_a_byte_at_a_time_is_cut_off_at_the_deadline(replay: UsaspendingReplay) -> None:
    # Each byte comes well within the read timeout: only a deadline on the whole request ends it.
    replay.faults.append(hostile.fault(AUTOCOMPLETE, hostile.drip(interval=0.2)))
    with client(replay.url, timeout=1.0, deadline=1.5) as c:  # type: ignore[attr-defined]
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"no complete answer within 1.5 s") as err:
            c.request_json("POST", AUTOCOMPLETE, json_body={"search_text": "Immigration"})
        took = time.monotonic() - started
    assert took < 2.5 and c.requests == 1  # not retried: the same server would drip again
    assert "stopped waiting" in str(err.value)


def test_the_deadline_defaults_to_three_read_timeouts_and_is_configurable(write_config) -> None:
    assert ApiClient("http://127.0.0.1:9", timeout=5).deadline == 15
    path = write_config()
    with usaspending_client(load_config(path)) as c:
        assert c.deadline == 180  # timeout_seconds 60
    path.write_text(
        path.read_text().replace(
            "    min_interval_seconds: 0\n", "    min_interval_seconds: 0\n    deadline_seconds: 42\n"
        )
    )
    with usaspending_client(load_config(path)) as c:
        assert c.deadline == 42


# ---------------------------------------------------------------- size caps


def test_an_endless_answer_is_cut_off_at_the_endpoints_cap(replay: UsaspendingReplay) -> None:
    replay.faults.append(hostile.fault(AUTOCOMPLETE, hostile.endless()))
    with client(replay.url, caps=[Cap("autocomplete", 2 * MB, "settings.x.other")]) as c:  # type: ignore[attr-defined]
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"larger than the 2 MB this endpoint may send \(stopped reading at 2"):
            c.request_json("POST", AUTOCOMPLETE, json_body={"search_text": "Immigration"})
    assert time.monotonic() - started < 5 and c.requests == 1


@pytest.mark.parametrize("announce", [True, False], ids=["with Content-Length", "chunked"])
def test_a_huge_answer_is_refused_without_being_read_whole(replay: UsaspendingReplay, announce: bool) -> None:
    replay.faults.append(hostile.fault(AUTOCOMPLETE, hostile.huge(200 * MB, announce=announce)))
    caps = [Cap("autocomplete", MB, "settings.x.other")]
    with client(replay.url, caps=caps) as c, pytest.raises(SourceError, match="larger than the 1 MB") as err:  # type: ignore[attr-defined]
        c.request_json("POST", AUTOCOMPLETE, json_body={"search_text": "Immigration"})
    assert ("announced 200.0 MB" if announce else "stopped reading at 1.") in str(err.value)


def test_an_answer_within_its_cap_is_read_as_before(replay: UsaspendingReplay) -> None:
    replay.faults.append(hostile.fault(AUTOCOMPLETE, hostile.huge(3 * MB, announce=False), times=1))
    with client(replay.url, caps=[Cap("autocomplete", 4 * MB, "settings.x.other")]) as c:  # type: ignore[attr-defined]
        body = c.request_json("POST", AUTOCOMPLETE, json_body={"search_text": "Immigration"})
    assert len(body["padding"]) > 2 * MB and body["results"] == []


def test_default_caps_are_generous_for_real_pages(write_config) -> None:
    """Each endpoint's default is many times its largest real page (recorded samples, scaled to a full page)."""
    samples = ROOT.parent / "shared" / "api" / "samples" / "usaspending"
    fixtures = ROOT / "tests" / "fixtures" / "usaspending"
    folder = samples if samples.is_dir() else fixtures

    def row_bytes(name: str) -> int:
        rows = json.loads(next(folder.rglob(name)).read_text())["results"]
        return max(len(json.dumps(r)) for r in rows)

    with usaspending_client(load_config(write_config())) as c:
        search = c.cap_for(SEARCH).max_bytes
        transactions = c.cap_for("/api/v2/transactions/").max_bytes
        assert c.cap_for("/api/v2/search/spending_by_transaction/").max_bytes == search
        assert c.cap_for("/api/v2/awards/CONT_AWD_X/").setting == "settings.usaspending.max_response_mb.award"
    # ten times a full page (100 search rows, 5,000 actions) of the largest recorded row
    assert 10 * 100 * row_bytes("search_spending_by_award__contracts_nasa_limit2.json") < search
    assert 10 * 5000 * row_bytes("transactions__CONT_AWD_0007_9700_FA870215D0001_9700.json") < transactions


def test_a_poll_against_an_endless_search_records_the_error_and_stores_nothing(
    replay: UsaspendingReplay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from watcher.cli import cli

    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    replay.set_awards(awards_from(base_rows()))
    replay.faults.append(hostile.fault(SEARCH, hostile.endless()))
    db = tmp_path / "w.db"
    result = CliRunner().invoke(cli, ["--config", str(write_config()), "--db", str(db), "poll"])
    assert result.exit_code == 1
    assert "larger than the 10 MB" in result.output and "max_response_mb.search" in result.output
    with sqlite3.connect(db) as conn:
        status, error = conn.execute("SELECT status, error FROM runs").fetchone()
        assert conn.execute("SELECT count(*) FROM awards").fetchone() == (0,)
    assert status == "error" and "larger than the 10 MB this endpoint may send" in error


def test_sam_answers_are_capped_too_and_the_request_is_settled_in_the_budget(world) -> None:
    w = world(sources="sam_awards")
    w.sam.faults.append(hostile.fault("/contract-awards/", hostile.endless()))
    text = (w.path.parent / "queries.yaml").read_text()
    (w.path.parent / "queries.yaml").write_text(
        text.replace(
            "sam: {min_interval_seconds: 0,", "sam: {max_response_mb: {contract_awards: 1}, min_interval_seconds: 0,"
        )
    )
    w.config = load_config(w.path.parent / "queries.yaml")
    results = w.poll(date(2026, 8, 20))
    (failed,) = [r for r in results if r.source == "sam_awards"]
    assert failed.status == "error" and "larger than the 1 MB" in (failed.error or "")
    assert "settings.sam.max_response_mb.contract_awards" in (failed.error or "")
    settled = [e for (e,) in w.q("SELECT error FROM sam_requests")]  # the contracting query and the deletions
    assert len(settled) == 2 and all("larger than the 1 MB" in e and KEY not in e for e in settled)


# ---------------------------------------------------------------- measured (slow): memory and time of a poll

RSS_LIMIT_MB = 200


def _poll_process(config: Path, db: Path, url: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    """``watcher poll`` in its own process, reporting its peak RSS on its last stderr line.

    The peak is VmHWM, which starts afresh at exec; ``ru_maxrss`` would carry over the pytest
    process the child was forked from.
    """
    runner = (
        "import re, sys\n"
        "from watcher.cli import cli\n"
        "try:\n    cli.main(sys.argv[1:], prog_name='watcher')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "peak = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
        "print('PEAK_RSS_KB', peak, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "WATCHER_USASPENDING_URL": url, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", runner, "--config", str(config), "--db", str(db), "poll"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc, time.monotonic() - started


def _peak_mb(proc: subprocess.CompletedProcess[str]) -> float:
    m = re.search(r"PEAK_RSS_KB (\d+)", proc.stderr)
    assert m, proc.stderr
    return int(m.group(1)) / 1024


@pytest.fixture
def hostile_replay(replay: UsaspendingReplay) -> Iterator[UsaspendingReplay]:
    replay.set_awards(awards_from(base_rows()))
    yield replay


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode",
    [hostile.endless(), hostile.huge(200 * MB), hostile.huge(200 * MB, announce=False)],
    ids=["endless", "200 MB", "200 MB chunked"],
)
def test_peak_memory_of_a_poll_against_endless_and_huge_answers_stays_under_200_mb(
    hostile_replay: UsaspendingReplay, write_config, tmp_path: Path, mode: hostile.Stream
) -> None:
    hostile_replay.faults.append(hostile.fault(SEARCH, mode))
    proc, took = _poll_process(write_config(), tmp_path / "w.db", hostile_replay.url, timeout=90)  # type: ignore[attr-defined]
    peak = _peak_mb(proc)
    print(f"\npeak RSS {peak:.0f} MB, {took:.1f} s")  # the numbers docs/reliability.md reports
    assert proc.returncode == 1 and "larger than the 10 MB" in proc.stdout + proc.stderr
    assert peak < RSS_LIMIT_MB
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("error",)]


@pytest.mark.slow
def test_a_poll_against_a_one_byte_a_second_server_ends_within_twice_its_deadline(
    hostile_replay: UsaspendingReplay, write_config, tmp_path: Path
) -> None:
    config = write_config()
    config.write_text(
        config.read_text().replace(
            "    min_interval_seconds: 0\n", "    min_interval_seconds: 0\n    timeout_seconds: 2\n"
        )
    )
    deadline = 3 * 2  # deadline_seconds unset: three read timeouts
    hostile_replay.faults.append(hostile.fault(SEARCH, hostile.drip(interval=1.0)))
    proc, took = _poll_process(config, tmp_path / "w.db", hostile_replay.url, timeout=60)  # type: ignore[attr-defined]
    print(f"\npoll ended after {took:.1f} s (deadline {deadline} s)")
    assert proc.returncode == 1 and f"no complete answer within {deadline} s" in proc.stdout + proc.stderr
    assert took < 2 * deadline
    with sqlite3.connect(tmp_path / "w.db") as conn:
        ((status, error),) = conn.execute("SELECT status, error FROM runs").fetchall()
    assert status == "error" and "settings.usaspending.deadline_seconds" in error
