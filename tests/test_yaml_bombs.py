"""Issue 19, item 3: YAML that would eat the machine (alias bombs, deep nesting, endless seeds) is a clear error.

Each case runs ``watcher check`` as its own process, with its peak memory measured
(``ru_maxrss``) and its time taken, so the bounds docs/reliability.md gives are measured here.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import SEEDS
from watcher.cli import cli

#: What `watcher check` may use on hostile YAML: its measured peak is about 55 MB (as much as a
#: plain `check`: the import of watcher itself), in about a second.
MAX_RSS_MB = 150
MAX_SECONDS = 10

WATCH = "watches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n"


def billion_laughs(levels: int = 9, width: int = 10) -> str:
    """The classic: each level an anchored list of ``width`` aliases to the level below (width**levels values)."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int = 30) -> str:
    """Merge keys doubling at each level: a loader that copies merged pairs builds 2**levels of them."""
    lines = ["m0: &m0 {k: v}"]
    for i in range(1, levels + 1):
        lines.append(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: v}}")
    return "\n".join(lines) + "\n"


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def _limits() -> None:
    # Ceilings so a regression fails this test instead of the machine (the alias bomb took 5 GB before the fix).
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (60, 60))


#: Runs the CLI and, at exit, writes the process's own peak memory (VmHWM: this program's, from its exec on;
#: ``ru_maxrss`` would count the pytest process it was forked from).
_PEAK = """
import atexit, sys
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("\\npeak-kb " + line.split()[1] + "\\n")
atexit.register(_peak)
from watcher.cli import cli
cli(prog_name="watcher")
"""


def _check(tmp_path: Path, config: Path) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """``watcher --config CONFIG check`` in its own process: (result, seconds, peak MB of that process)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, "--config", str(config), "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=_limits,
    )
    seconds = time.monotonic() - started
    peaks = re.findall(r"^peak-kb (\d+)$", done.stderr, re.MULTILINE)
    assert peaks, done.stderr[-2000:]
    return done, seconds, int(peaks[-1]) / 1024


def _assert_refused(done: subprocess.CompletedProcess[str], where: str, *words: str) -> None:
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr, done.stderr[-2000:]
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("error: ")]
    assert line.startswith(f"error: {where}:"), line
    for word in words:
        assert word in line, line


@pytest.mark.slow
@pytest.mark.parametrize("bomb", ["billion laughs", "merge keys"])
def test_an_alias_bomb_in_queries_yaml_is_refused_quickly_naming_the_line(tmp_path: Path, bomb: str) -> None:
    config = tmp_path / "queries.yaml"
    text = billion_laughs() if bomb == "billion laughs" else merge_bomb()
    config.write_text(
        f"settings:\n  seeds_dir: {SEEDS}\n" + WATCH + "x-bomb:\n" + "".join(f"  {ln}\n" for ln in text.splitlines())
    )
    done, seconds, peak = _check(tmp_path, config)
    _assert_refused(done, str(config))
    assert seconds < MAX_SECONDS and peak < MAX_RSS_MB, (seconds, peak)


@pytest.mark.slow
def test_an_alias_bomb_in_a_seeds_file_is_refused_naming_that_file(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds, ignore=shutil.ignore_patterns("ice"))
    vendors = seeds / "vendors.yaml"
    vendors.write_text(
        vendors.read_text() + "\nx-bomb:\n" + "".join(f"  {ln}\n" for ln in billion_laughs().splitlines())
    )
    config = tmp_path / "queries.yaml"
    config.write_text(f"settings:\n  seeds_dir: {seeds}\n" + WATCH)
    done, seconds, peak = _check(tmp_path, config)
    _assert_refused(done, str(vendors), "alias")
    assert seconds < MAX_SECONDS and peak < MAX_RSS_MB, (seconds, peak)


@pytest.mark.parametrize("style", ["block", "flow"])
def test_yaml_nested_5000_deep_is_refused_naming_the_line(tmp_path: Path, style: str) -> None:
    config = tmp_path / "queries.yaml"
    flow = "x-deep: " + "[" * 5000 + "]" * 5000 + "\n"
    block = "x-deep:\n  " + "- " * 5000 + "end\n"  # block sequences, each inside the one before
    deep = flow if style == "flow" else block
    config.write_text(f"settings:\n  seeds_dir: {SEEDS}\n" + WATCH + deep)
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # not a RecursionError
    line = 7 if style == "flow" else 8
    assert f"error: {config}:{line}: " in result.stderr and "nested deeper than 64" in result.stderr, result.stderr


def test_too_many_aliases_are_refused_at_the_first_one_past_the_cap(tmp_path: Path) -> None:
    config = tmp_path / "queries.yaml"
    many = "x-list: &x [1]\nx-many: [" + ", ".join(["*x"] * 101) + "]\n"
    config.write_text(f"settings:\n  seeds_dir: {SEEDS}\n" + WATCH + many)
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 2 and f"{config}:8:" in result.stderr and "aliases" in result.stderr, result.output


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "queries.yaml"
    config.write_text(f"settings:\n  seeds_dir: {SEEDS}\n" + WATCH + "x-loop: &loop [*loop]\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 2 and f"{config}:7:" in result.stderr and "itself" in result.stderr, result.output


def test_a_few_aliases_keep_working(tmp_path: Path) -> None:
    """Anchors are handy (one agency list for several watches): a handful stays allowed."""
    config = tmp_path / "queries.yaml"
    config.write_text(
        f"settings:\n  seeds_dir: {SEEDS}\nwatches:\n"
        "  a:\n    agencies: &dhs [ice, cbp]\n    vendors: [palantir]\n"
        "  b:\n    agencies: *dhs\n    vendors: [microsoft]\n"
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 0, result.output
    assert "a: ICE, CBP" in result.output and "b: ICE, CBP" in result.output


@pytest.mark.parametrize("target", ["/dev/zero", "a folder", "a fifo"])
def test_a_seeds_file_that_is_not_a_regular_file_is_refused(tmp_path: Path, target: str) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds, ignore=shutil.ignore_patterns("ice"))
    (seeds / "agencies.yaml").unlink()
    if target == "/dev/zero":
        (seeds / "agencies.yaml").symlink_to("/dev/zero")
    elif target == "a folder":
        (seeds / "agencies.yaml").mkdir()
    else:
        os.mkfifo(seeds / "agencies.yaml")  # reading one would wait forever
    config = tmp_path / "queries.yaml"
    config.write_text(f"settings:\n  seeds_dir: {seeds}\n" + WATCH)
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert time.monotonic() - started < 5
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"error: {seeds / 'agencies.yaml'}: " in result.stderr and "not a regular file" in result.stderr


def test_a_seeds_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds, ignore=shutil.ignore_patterns("ice"))
    vendors = seeds / "vendors.yaml"
    vendors.write_text(vendors.read_text() + ("# padding\n" * 120_000))  # 1.2 MB of comments
    config = tmp_path / "queries.yaml"
    config.write_text(f"settings:\n  seeds_dir: {seeds}\n" + WATCH)
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 2 and f"error: {vendors}: " in result.stderr and "1 MiB" in result.stderr, result.output


def test_a_nul_in_seeds_dir_is_refused_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "queries.yaml"
    config.write_text('settings:\n  seeds_dir: "\\0"\n' + WATCH)
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"{config}:2: settings.seeds_dir: " in result.stderr
