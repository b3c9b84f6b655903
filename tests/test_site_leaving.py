"""An award that leaves every watch and then changes: the incremental site build goes on working (issue 19, item 4).

Through the CLI: poll, site, edit the watch so the award no longer matches, poll (and, in one
case, the nightly full build), change the award in the replay, poll, site. The change is
recorded (history is never deleted), but the award has no page any more, so the incremental
build must neither stage its page for the search index (it raised FileNotFoundError on every
build until ``--full``) nor leave the old page on the site.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import awards_from
from tests.test_poll_e2e import NOISE, base_rows, day, edit
from watcher.cli import cli
from watcher.fakes.usaspending import UsaspendingReplay
from watcher.links import safe_name

pytestmark = pytest.mark.slow  # pagefind runs at every build


@pytest.mark.parametrize("full_build_after_leaving", [False, True], ids=["incremental only", "full build between"])
def test_an_award_that_left_the_watch_and_changed_keeps_incremental_builds_working(
    replay: UsaspendingReplay,
    write_config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    full_build_after_leaving: bool,
) -> None:
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)  # type: ignore[attr-defined]
    replay.set_awards(awards_from(base_rows()))
    # The watch also follows SHELVING: the "AWSOME BRAND SHELVING" award (which the AWS keyword
    # search keeps returning) belongs to it by that keyword.
    config = write_config(page_size=2)
    text = config.read_text()
    config.write_text(text.replace("    lookback_days: 30\n", "    lookback_days: 30\n    keywords: [SHELVING]\n", 1))
    db, out = tmp_path / "w.db", tmp_path / "site"

    def run(*args: str) -> Result:
        result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *args])
        assert result.exit_code == 0, result.output
        return result

    run("poll")
    run("site", "--out", str(out))
    page = out / "awards" / f"{safe_name(NOISE)}.html"
    assert page.is_file()
    config.write_text(text)  # no more SHELVING: the award leaves the watch
    run("poll")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM matches WHERE entity_key = ?", [NOISE]).fetchone() == (0,)
    if full_build_after_leaving:  # the daemon's nightly full build: the award's page is gone
        run("site", "--out", str(out), "--full")
    edit(replay, NOISE, {"Description": "AWSOME BRAND SHELVING, AMENDED", "Last Modified Date": day(1)})
    run("poll")
    with sqlite3.connect(db) as conn:
        kinds = [r[0] for r in conn.execute("SELECT kind FROM changes WHERE award_key = ?", [NOISE])]
    assert "award_changed" in kinds  # the change is recorded, though no watch holds the award
    built = run("site", "--out", str(out))
    assert "incremental" in built.output
    assert not page.exists()  # no watch holds it: its page leaves the site, as a full build would have it
    again = run("site", "--out", str(out))  # and the next build works too
    assert "incremental" in again.output
    full = tmp_path / "full"
    run("site", "--out", str(full), "--full")
    assert sorted(p.name for p in (full / "awards").glob("*.html")) == sorted(
        p.name for p in (out / "awards").glob("*.html")
    )
