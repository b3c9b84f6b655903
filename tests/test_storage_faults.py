"""Issue 19, items 6 and 7: storage faults and a database from a newer watcher, each one clear line and exit 1.

Real faults, no mocks: a read-only file or folder is read-only for the process (the CLI runs
as an unprivileged user when the tests run as root, for whom permissions do not apply); a
zeroed header and a truncated file are real damage; a full disk is SQLite's own
``SQLITE_FULL`` (``PRAGMA max_page_count``), a full tmpfs when root may mount one, and
``/dev/full``. Each time the database is left as it was (integrity and content).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import CONFIG, SEEDS, awards_from
from tests.test_poll_e2e import base_rows
from watcher import __version__, jobs, store
from watcher.cli import cli
from watcher.config import load_config
from watcher.digest.deliveries import run_digests
from watcher.http import usaspending_client
from watcher.sources.usaspending.poll import run_watch

SUBSCRIBER = "subscribers:\n  desk:\n    email: desk@example.org\n    cadence: instant\n"
COMMANDS = {
    "status": ["status"],
    "init": ["init"],
    "poll": ["poll"],
    "digest": ["digest"],
    "site": ["site", "--out", "site"],
    "export": ["export", "awards"],
    "history": ["history", "70CTD026FC0000012"],
}
NOBODY = 65534


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_error_line(stderr: str, *words: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("note: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def place() -> Iterator[Path]:
    """A folder the unprivileged user can reach (pytest's tmp_path is private to root), with a config and a database."""
    top = Path(tempfile.mkdtemp(prefix="watcher-faults-", dir="/tmp"))
    top.chmod(0o777)
    (top / "queries.yaml").write_text(CONFIG.format(seeds=SEEDS, page_size=100, extra=SUBSCRIBER))
    # In a process of its own, which closes the database as an operator's would (no -wal or -shm left).
    init = [sys.executable, "-m", "watcher", "--config", "queries.yaml", "--db", "w.db", "init"]
    subprocess.run(init, cwd=top, check=True, capture_output=True, timeout=60, env={**os.environ})
    for p in top.iterdir():
        p.chmod(0o777 if p.is_dir() else 0o644)
    yield top
    top.chmod(0o777)
    shutil.rmtree(top, ignore_errors=True)


def _as_user(place: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``watcher ARGS`` in ``place`` as a user for whom file permissions apply (nobody, when we are root).

    ``setpriv`` drops root's capabilities only once the interpreter is executed, so the
    interpreter may live under root's private home (pyenv) and watcher still runs as nobody.
    """
    drop: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: file permissions cannot be made to apply")
        drop = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run(
        [*drop, sys.executable, "-m", "watcher", "--config", "queries.yaml", "--db", "w.db", *args],
        cwd=place,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "WATCHER_USASPENDING_URL": "http://127.0.0.1:9",  # nothing listens there: no test reaches the internet
            "HOME": "/tmp",
        },
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("command", ["poll", "digest", "init"])
def test_a_read_only_database_file_is_one_line_for_every_writer(place: Path, command: str) -> None:
    (place / "w.db").chmod(0o444)
    before = _digest(place / "w.db")
    done = _as_user(place, COMMANDS[command])
    assert done.returncode == 1, done.stderr
    _one_error_line(done.stderr, "w.db", "read-only")
    assert _digest(place / "w.db") == before


@pytest.mark.slow
def test_a_read_only_database_file_can_still_be_read(place: Path) -> None:
    (place / "w.db").chmod(0o444)
    for command in ("status", "export"):
        done = _as_user(place, COMMANDS[command])
        assert done.returncode == 0, done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_read_only_folder_is_one_line_for_every_command(place: Path, command: str) -> None:
    """SQLite must create the -wal and -shm files beside a database, even to read it: every command says so."""
    before = _digest(place / "w.db")
    place.chmod(0o555)
    try:
        done = _as_user(place, COMMANDS[command])
    finally:
        place.chmod(0o777)
    assert done.returncode == 1, done.stderr
    line = _one_error_line(done.stderr)
    assert "folder" in line and ("read-only" in line or "cannot" in line), line
    assert _digest(place / "w.db") == before


def _damage(db: Path, how: str) -> None:
    if how == "zeroed header":
        with db.open("r+b") as fh:
            fh.write(b"\0" * 100)
    else:  # truncated in the middle of its pages
        os.truncate(db, db.stat().st_size // 3)


@pytest.mark.parametrize("how", ["zeroed header", "truncated"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_damaged_database_is_one_line_for_every_command(
    tmp_path: Path, how: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_USASPENDING_URL", "http://127.0.0.1:9")
    config = tmp_path / "queries.yaml"
    config.write_text(CONFIG.format(seeds=SEEDS, page_size=100, extra=SUBSCRIBER))
    db = tmp_path / "w.db"
    store.open_db(db).conn.close()
    conn = sqlite3.connect(db)  # a few more pages, so a truncation cuts into tables
    conn.execute("CREATE TABLE padding (x)")
    conn.executemany("INSERT INTO padding VALUES (?)", [("x" * 2000,) for _ in range(200)])
    conn.commit()
    conn.execute("PRAGMA journal_mode = DELETE")  # everything in the one file we damage
    conn.close()
    _damage(db, how)
    before = _digest(db)
    args = ["site", "--out", str(tmp_path / "site")] if command == "site" else COMMANDS[command]
    result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *args])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    line = _one_error_line(result.stderr, str(db))
    assert ("damaged" in line) or ("not a watcher database" in line)
    assert _digest(db) == before


def _poll_world(replay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)
    replay.set_awards(awards_from(base_rows()))
    config = tmp_path / "queries.yaml"
    config.write_text(CONFIG.format(seeds=SEEDS, page_size=100, extra=SUBSCRIBER))
    return config, tmp_path / "w.db"


def test_a_full_database_fails_the_poll_cleanly_and_a_rerun_completes_it(replay, tmp_path, monkeypatch) -> None:
    """SQLITE_FULL in the middle of a poll: the run is an error in words, nothing of it is kept, the rerun is whole."""
    config_path, db_path = _poll_world(replay, tmp_path, monkeypatch)
    config = load_config(config_path)
    db = jobs.open_db(config, db_path)
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    db.execute(f"PRAGMA max_page_count = {pages}")  # no room for one more page: the disk is full
    with usaspending_client(config) as client:
        result = run_watch(db, config, config.watches["ice-vendors"], client)
    assert result.status == "error" and "the disk is full" in (result.error or "")
    assert db.execute("SELECT count(*) FROM awards").fetchone() == (0,)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.execute("PRAGMA max_page_count = 1073741823")
    with usaspending_client(config) as client:
        assert run_watch(db, config, config.watches["ice-vendors"], client).status == "ok"
    assert db.execute("SELECT count(*) FROM awards").fetchone() == (3,)


def test_a_full_database_stops_the_digest_before_anything_is_marked_sent(replay, tmp_path, monkeypatch) -> None:
    config_path, db_path = _poll_world(replay, tmp_path, monkeypatch)
    assert CliRunner().invoke(cli, ["--config", str(config_path), "--db", str(db_path), "poll"]).exit_code == 0
    config = load_config(config_path)
    db = store.open_db(db_path)
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(sqlite3.OperationalError) as caught:
        run_digests(db, config, now=datetime.now(UTC), outbox=tmp_path / "outbox")
    assert "the disk is full" in jobs.describe(caught.value)  # the line `watcher digest` prints
    assert db.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone() == (0,)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.conn.close()
    result = CliRunner().invoke(cli, ["--config", str(config_path), "--db", str(db_path), "digest"])
    assert result.exit_code == 0 and "desk: " in result.output  # with room again, it goes out


def test_an_export_to_a_full_device_is_one_line(replay, tmp_path: Path, monkeypatch) -> None:
    config, db = _poll_world(replay, tmp_path, monkeypatch)
    assert CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), "poll"]).exit_code == 0
    args = ["--config", str(config), "--db", str(db), "export", "awards", "--out", "/dev/full"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    _one_error_line(result.stderr, "/dev/full", "no space left")


@pytest.fixture
def tiny_disk() -> Iterator[Path]:
    """A 16 MB tmpfs: a real full disk. Needs root and a kernel that lets us mount; skipped (saying so) otherwise."""
    where = Path(tempfile.mkdtemp(prefix="watcher-tiny-", dir="/tmp"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


def _fill(disk: Path, leave: int) -> None:
    """Fill the disk to the last byte, then free ``leave`` bytes."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (1 << 16, 1 << 12, 1 << 8, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                continue
    finally:
        os.close(fd)
    size = (disk / "filler").stat().st_size
    os.truncate(disk / "filler", max(0, size - leave))


@pytest.mark.slow
@pytest.mark.parametrize("command", ["poll", "site", "digest", "export"])
def test_a_full_disk_is_one_line_and_keeps_what_was_there(
    tiny_disk: Path, replay, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    config, db = _poll_world(replay, tiny_disk, monkeypatch)
    site, out = tiny_disk / "site", tiny_disk / "awards.csv"
    store.open_db(db).conn.close()

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *args])

    if command != "poll":
        assert invoke("poll").exit_code == 0
        assert invoke("site", "--out", str(site)).exit_code == 0
        out.write_text("the previous export\n")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        awards_before = conn.execute("SELECT count(*) FROM awards").fetchone()
    live_before = site.resolve() if site.exists() else None
    _fill(tiny_disk, 12 * 1024 if command == "poll" else 0)
    args = {
        "poll": ["poll"],
        "site": ["site", "--out", str(site), "--full"],
        "digest": ["digest"],
        "export": ["export", "awards", "--out", str(out)],
    }[command]
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert "full" in result.output or "no space left" in result.output, result.output
    (tiny_disk / "filler").unlink()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM awards").fetchone() == awards_before
        assert conn.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone() == (0,)
    if live_before is not None:
        assert site.resolve() == live_before and (site / "index.html").exists()  # the live site is whole
    if command == "export":
        assert out.read_text() == "the previous export\n"  # nothing half-written in its place
        assert not [p for p in tiny_disk.iterdir() if p.name.startswith(".awards.csv")]


@pytest.mark.parametrize("command", ["poll", "init", "digest", "status"])
def test_a_database_from_a_newer_watcher_is_refused_before_any_write(
    tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_USASPENDING_URL", "http://127.0.0.1:9")
    config = tmp_path / "queries.yaml"
    config.write_text(CONFIG.format(seeds=SEEDS, page_size=100, extra=SUBSCRIBER))
    db = tmp_path / "w.db"
    store.open_db(db).conn.close()
    conn = sqlite3.connect(db)  # what a newer watcher leaves: a migration this one does not know
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('watcher', 'm099_future', 'now')"
    )
    conn.execute("INSERT INTO schema_versions (migration, watcher_version) VALUES ('m099_future', '9.1.0')")
    conn.commit()
    conn.execute("PRAGMA journal_mode = DELETE")  # one file to compare
    conn.close()
    before = _digest(db)
    result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *COMMANDS[command]])
    assert result.exit_code == 1, result.output
    line = _one_error_line(result.stderr, str(db), "watcher 9.1.0 or later", "m099_future", __version__)
    assert "newer watcher" in line
    assert _digest(db) == before and not Path(f"{db}-wal").exists()
