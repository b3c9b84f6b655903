"""The wheel installs like any Python CLI: from an empty folder, `watcher check`, `init` and `demo` work.

The wheel is built from this checkout and installed (without its dependencies, which come
from the test environment's site-packages, so nothing is downloaded) into a fresh venv;
the commands then run from an empty directory with no source checkout on the path.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the built wheel; returns its ``watcher`` executable."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("watcher-*.whl")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    # The dependencies: the test environment's site-packages, appended after the venv's own (a .pth
    # line adds a path, and the editable install's own .pth files there are not processed).
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir / "bin" / "watcher"


def _run(exe: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WATCHER_CONFIG", "WATCHER_DB")}
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_installed_package_is_the_wheel_not_this_checkout(installed: Path, tmp_path: Path) -> None:
    python = installed.parent / "python"
    out = subprocess.run(
        [str(python), "-c", "import watcher; print(watcher.__file__)"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(installed.parent.parent) in out and str(ROOT) not in out


def test_check_and_init_work_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    checked = _run(installed, tmp_path, "check")
    assert checked.returncode == 0, checked.stderr
    assert "dhs-big-tech" in checked.stdout and "search walks per poll" in checked.stdout
    assert "starter watches shipped with watcher" in checked.stderr  # says which config it used
    assert list(tmp_path.iterdir()) == []  # checking writes nothing

    init = _run(installed, tmp_path, "init")
    assert init.returncode == 0, init.stderr
    starter = (tmp_path / "queries.yaml").read_text()
    assert "dhs-big-tech" in starter and starter.startswith("# ")  # the commented starter file
    assert (tmp_path / "watcher.db").exists()

    # An edited queries.yaml is never overwritten by a second init.
    (tmp_path / "queries.yaml").write_text(starter.replace("lookback_days: 30", "lookback_days: 45"))
    again = _run(installed, tmp_path, "init")
    assert again.returncode == 0, again.stderr
    assert "lookback_days: 45" in (tmp_path / "queries.yaml").read_text()
    assert "lookback 45 days" in _run(installed, tmp_path, "check").stdout


def test_demo_works_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    result = _run(installed, tmp_path, "demo")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "demo.db").exists()
    assert list((tmp_path / "demo-outbox").glob("*.eml"))
    assert (tmp_path / "demo-site" / "index.html").exists()
    with sqlite3.connect(tmp_path / "demo.db") as conn:  # the README's example: Palantir's ERO order, found new
        kinds = {
            k
            for (k,) in conn.execute(
                "SELECT c.kind FROM changes c JOIN awards a ON a.award_key = c.award_key"
                " WHERE a.piid = '70CTD026FC0000012'"
            )
        }
    assert "new_award" in kinds


def test_your_vendors_file_survives_reinstalling_the_package(installed: Path, tmp_path: Path) -> None:
    """`vendors add` writes ./vendors.yaml, an overlay on the packaged seeds; reinstalling the package
    rewrites the packaged seeds (a line planted there is gone) and the overlay is still applied."""
    python = installed.parent / "python"
    added = _run(installed, tmp_path, "vendors", "add", "acme_data", "--name", "Acme Data", "--alias", "ACME DATA",
                 "--uei", "TESTACME0001", "--evidence", "made up for the test")  # fmt: skip
    assert added.returncode == 0, added.stderr
    extended = _run(installed, tmp_path, "vendors", "add", "babel_street", "--alias", "BABEL STREET FEDERAL",
                    "--evidence", "made up for the test")  # fmt: skip
    assert extended.returncode == 0, extended.stderr
    lines = ("acme_data (Acme Data, 1 UEI(s)): yours (", "babel_street (Babel Street): shipped + yours (")

    def check() -> str:
        out = _run(installed, tmp_path, "check")
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert all(line in check() for line in lines)
    seeds = Path(
        subprocess.run(
            [str(python), "-c", "import watcher.config as c; print(c.default_seeds_dir())"],
            cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip(),
        "vendors.yaml",
    )
    assert str(installed.parent.parent) in str(seeds)  # the installed package's own seeds
    seeds.write_text(seeds.read_text() + "\n# planted by the test\n")
    (wheel,) = (installed.parent.parent.parent / "dist").glob("watcher-*.whl")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall", str(wheel)],
        check=True,
        capture_output=True,
    )
    assert "planted by the test" not in seeds.read_text()  # the package was replaced...
    assert (tmp_path / "vendors.yaml").exists()  # ...and your file was not touched
    after = check()
    assert all(line in after for line in lines)
    assert "ACME DATA" in (tmp_path / "vendors.yaml").read_text()
