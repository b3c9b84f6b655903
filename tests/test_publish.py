"""`watcher publish`, end to end: the demo's built site to a local bare git repository and to a folder over rsync.

Both are idempotent (a second publish makes no commit and rewrites no file) and a failure
says what failed, never prints a credential, and leaves the destination as it was.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import SEEDS
from tests.test_site import copy_db, site, touch_awards
from watcher.cli import cli
from watcher.config import load_config
from watcher.errors import ConfigError

pytestmark = pytest.mark.slow
PALANTIR_ICM = "CONT_AWD_70CTD022FR0000170_7012_GS35F0086U_4730"


@pytest.fixture(scope="module")
def built(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo's site, built once (the tests that rebuild it work on their own copy of the database)."""
    tmp = tmp_path_factory.mktemp("published")
    db = copy_db(demo_db, tmp / "w.db")
    site(db, tmp / "site", "--full")
    return db, tmp / "site"


def config(tmp_path: Path, publish: str) -> Path:
    """A queries.yaml in tmp_path whose settings.publish is ``publish`` (YAML, indented under it)."""
    text = (
        f"settings:\n  seeds_dir: {SEEDS}\n  publish:\n{publish}"
        "watches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n"
    )
    path = tmp_path / "queries.yaml"
    path.write_text(text)
    return path


def publish(cfg: Path, site_dir: Path, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--config", str(cfg), "publish", "--site", str(site_dir)])
    assert result.exit_code == code, result.output
    return result.output


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def site_files(root: Path) -> set[str]:
    """The files of a site as a reader gets them: no hidden file (the build's manifest, temporary files)."""
    root = root.resolve()
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def stats(root: Path) -> dict[str, tuple[int, int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")
    }


def test_git_publish_commits_the_site_as_the_branch_and_twice_changes_nothing(
    built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, site_dir = built
    subprocess.run(["git", "init", "--quiet", "--bare", str(tmp_path / "pages.git")], check=True)
    # A relative repository is relative to queries.yaml's folder, like the site folder; --site relative to here.
    cfg = config(tmp_path, "    git:\n      repo: pages.git\n      branch: gh-pages\n      message: Site update\n")
    monkeypatch.chdir(site_dir.parent)
    out = publish(cfg, Path(site_dir.name))
    assert "commit" in out and "gh-pages" in out
    repo = tmp_path / "pages.git"
    head = git(repo, "rev-parse", "gh-pages")
    tree = set(git(repo, "ls-tree", "-r", "--name-only", "gh-pages").splitlines())
    assert tree == site_files(site_dir) | {".nojekyll"}
    assert ".watcher-site.json" not in tree and f"awards/{PALANTIR_ICM}.html" in tree
    assert git(repo, "show", "gh-pages:index.html") == (site_dir / "index.html").read_text().strip()
    assert git(repo, "log", "-1", "--format=%s|%an", "gh-pages") == "Site update|watcher"

    # The same build again: no commit, the branch where it was.
    assert "unchanged (no new commit)" in publish(cfg, Path(site_dir.name))
    assert git(repo, "rev-parse", "gh-pages") == head
    assert git(repo, "rev-list", "--count", "gh-pages") == "1"
    # The commit is made in a scratch repository beside the site, whose housekeeping never outlives a publish.
    assert git(site_dir.parent / ".site-publish.git", "config", "gc.autoDetach") == "false"


def test_git_publish_after_a_rebuild_adds_one_commit_on_top(demo_db: Path, tmp_path: Path) -> None:
    db = copy_db(demo_db, tmp_path / "w.db")
    site_dir = tmp_path / "site"
    site(db, site_dir, "--full")
    subprocess.run(["git", "init", "--quiet", "--bare", str(tmp_path / "pages.git")], check=True)
    cfg = config(tmp_path, f"    git: {{repo: {tmp_path / 'pages.git'}, branch: site/live}}\n")
    publish(cfg, site_dir)
    repo = tmp_path / "pages.git"
    first = git(repo, "rev-parse", "site/live")
    touch_awards(db, [PALANTIR_ICM])
    site(db, site_dir)  # incremental: the award's page, its vendor, agency and watch pages, the home page
    assert "commit" in publish(cfg, site_dir)
    second = git(repo, "rev-parse", "site/live")
    assert git(repo, "rev-parse", "site/live^") == first  # a fast-forward on top of what was published
    changed = set(git(repo, "diff", "--name-only", first, second).splitlines())
    assert f"awards/{PALANTIR_ICM}.html" in changed and "downloads/awards.csv" not in changed
    assert "AMENDED DESCRIPTION" in git(repo, "show", f"site/live:awards/{PALANTIR_ICM}.html")


def test_rsync_publish_mirrors_the_site_and_twice_rewrites_nothing(built, tmp_path: Path) -> None:
    _, site_dir = built
    (tmp_path / "www").mkdir()
    cfg = config(tmp_path, "    rsync:\n      dest: www/watch\n")
    out = publish(cfg, site_dir)
    dest = tmp_path / "www" / "watch"
    assert "files sent or deleted" in out
    assert site_files(dest) == site_files(site_dir) and not list(dest.glob(".*"))
    src = site_dir.resolve()
    mismatched = [f for f in site_files(src) if not filecmp.cmp(src / f, dest / f, shallow=False)]
    assert mismatched == []
    assert oct((dest / "index.html").stat().st_mode & 0o777) == "0o644"

    before = stats(dest)
    assert publish(cfg, site_dir).strip().endswith(": unchanged")
    assert stats(dest) == before  # same inodes, times and sizes: nothing rewritten

    # What a reader must not see goes, what is missing comes back; the rest is left alone.
    (dest / "index.html").unlink()
    (dest / "stale.html").write_text("old")
    assert "2 files sent or deleted" in publish(cfg, site_dir)
    assert not (dest / "stale.html").exists() and filecmp.cmp(src / "index.html", dest / "index.html", shallow=False)
    assert stats(dest)["about.html"] == before["about.html"]


def test_failures_say_what_failed_and_lose_nothing(built, tmp_path: Path) -> None:
    _, site_dir = built
    # A repository that is not there: nothing made, a clear message.
    cfg = config(tmp_path, f"    git: {{repo: {tmp_path / 'missing.git'}}}\n")
    out = publish(cfg, site_dir, code=1)
    assert "error: reading" in out and "missing.git" in out and "gh-pages" in out
    assert not (tmp_path / "missing.git").exists()

    # A push the server refuses: the branch keeps what it had.
    repo = tmp_path / "pages.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(repo)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(work)], check=True)
    (work / "README").write_text("hand-written\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a"}
    env["GIT_COMMITTER_EMAIL"] = "a@b"
    for args in (["add", "README"], ["commit", "--quiet", "-m", "x"], ["push", "--quiet", str(repo), "main"]):
        subprocess.run(["git", "-C", str(work), *args], check=True, env=env)
    before = git(repo, "rev-parse", "main")
    hook = repo / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'this server takes no pushes today' >&2\nexit 1\n")
    hook.chmod(0o755)
    cfg = config(tmp_path, f"    git: {{repo: {repo}, branch: main}}\n")
    out = publish(cfg, site_dir, code=1)
    assert "error: pushing to" in out and "this server takes no pushes today" in out
    assert git(repo, "rev-parse", "main") == before

    # A credential in the URL is never printed, not even when git quotes the URL back.
    cfg = config(tmp_path, "    git: {repo: 'http://deploy:s3cr3t-t0ken@127.0.0.1:9/site.git'}\n")
    out = publish(cfg, site_dir, code=1)
    assert "s3cr3t-t0ken" not in out and "http://***@127.0.0.1:9/site.git" in out

    # rsync into a folder whose parent is missing: the key named, nothing made.
    cfg = config(tmp_path, f"    rsync: {{dest: {tmp_path / 'no' / 'such' / 'dir'}}}\n")
    out = publish(cfg, site_dir, code=1)
    assert "settings.publish.rsync.dest" in out and "does not exist" in out
    assert not (tmp_path / "no").exists()

    # rsync onto a file: rsync's own words, and the file is still there as it was.
    (tmp_path / "afile").write_text("keep me")
    cfg = config(tmp_path, f"    rsync: {{dest: {tmp_path / 'afile'}}}\n")
    out = publish(cfg, site_dir, code=1)
    assert "error: rsync to" in out and (tmp_path / "afile").read_text() == "keep me"

    # No site built yet, and no publish settings at all.
    cfg = config(tmp_path, f"    rsync: {{dest: {tmp_path / 'www2'}}}\n")
    assert "no site built there yet" in publish(cfg, tmp_path / "nosite", code=1)
    bare = tmp_path / "bare.yaml"
    bare.write_text(f"settings:\n  seeds_dir: {SEEDS}\nwatches:\n  w:\n    agencies: [ice]\n    vendors: [palantir]\n")
    result = CliRunner().invoke(cli, ["--config", str(bare), "publish", "--site", str(site_dir)])
    assert result.exit_code == 2 and "settings.publish is not set" in result.output


@pytest.mark.parametrize(
    ("yaml", "line", "key", "words"),
    [
        ("    rsync: {dest: /srv/www}\n    git: {repo: /srv/pages.git}\n", 3, "settings.publish", "exactly one"),
        ("    {}\n", 3, "settings.publish", "exactly one"),
        ("    rsync:\n      dest: --rsh=evil\n", 5, "settings.publish.rsync.dest", "cannot start with '-'"),
        ("    git:\n      repo: x.git\n      branch: a..b\n", 6, "settings.publish.git.branch", "branch name"),
        ("    git:\n      repo: x.git\n      branch: -f\n", 6, "settings.publish.git.branch", "branch name"),
        ("    git:\n      repo: x.git\n      author: nobody\n", 6, "settings.publish.git.author", "address"),
        ("    git:\n      repo: x.git\n      remote: origin\n", 6, "settings.publish.git.remote", ""),
    ],
)
def test_publish_settings_mistakes_name_file_line_and_key(
    tmp_path: Path, yaml: str, line: int, key: str, words: str
) -> None:
    cfg = config(tmp_path, yaml)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert f"{cfg}:{line}: {key}" in str(err.value) and words in str(err.value), str(err.value)


def test_the_daemons_site_job_publishes_after_each_build(demo_db: Path, tmp_path: Path) -> None:
    from watcher import jobs

    db = copy_db(demo_db, tmp_path / "w.db")
    (tmp_path / "www").mkdir()
    cfg = config(tmp_path, "    rsync: {dest: www/watch}\n").read_text()
    cfg = cfg.replace("settings:\n", "settings:\n  schedule:\n    site_dir: built\n")
    (tmp_path / "queries.yaml").write_text(cfg)
    loaded = load_config(tmp_path / "queries.yaml")
    summary = jobs.scheduled(loaded, db)["site"]()
    assert "full build" in summary and "published to" in summary and "files sent" in summary
    assert site_files(tmp_path / "www" / "watch") == site_files(tmp_path / "built")
    shutil.rmtree(tmp_path / "www" / "watch")
    off = cfg.replace("    rsync: {dest: www/watch}\n", "    rsync: {dest: www/watch}\n    after_build: false\n")
    (tmp_path / "queries.yaml").write_text(off)
    summary = jobs.scheduled(load_config(tmp_path / "queries.yaml"), db)["site"]()
    assert "published" not in summary and not (tmp_path / "www" / "watch").exists()


def test_watcher_run_publishes_after_the_site_and_no_publish_skips_it(
    replay, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_poll_e2e import awards_from, base_rows

    monkeypatch.setenv("WATCHER_USASPENDING_URL", replay.url)
    replay.set_awards(awards_from(base_rows()))
    cfg = write_config()
    cfg.write_text(cfg.read_text().replace("settings:\n", "settings:\n  publish:\n    rsync: {dest: www/watch}\n", 1))
    (tmp_path / "www").mkdir()
    db, site_dir, dest = tmp_path / "w.db", tmp_path / "site", tmp_path / "www" / "watch"

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", str(db), "run", "--site", str(site_dir), *args])
        assert result.exit_code == 0, result.output
        return result.output

    out = run()
    assert out.index("full build") < out.index("published to") and "files sent or deleted" in out
    assert site_files(dest) == site_files(site_dir)
    shutil.rmtree(dest)
    out = run("--no-publish")
    assert "published" not in out and not dest.exists()


@pytest.mark.parametrize(
    ("dest", "local"),
    [
        ("/var/www/watch", True),
        ("www/watch", True),
        ("deploy@host:/var/www", False),
        ("host:www", False),
        ("rsync://host/module", False),
        ("https://github.com/o/r.git", False),
        ("git@github.com:o/r.git", False),
        ("./a:b", True),  # a colon after a slash is part of a local name
    ],
)
def test_local_or_remote_as_rsync_and_git_read_it(dest: str, local: bool, tmp_path: Path) -> None:
    from watcher.site.publish import is_local, resolve

    assert is_local(dest) is local
    assert resolve(dest, tmp_path) == (str(tmp_path / dest) if local and not dest.startswith("/") else dest)


def test_redact_hides_credentials_in_any_url() -> None:
    from watcher.site.publish import redact

    said = "fatal: unable to access 'https://x-access-token:ghp_abc123@github.com/o/r.git/': 403; ssh://me:pw@h/x"
    assert redact(said) == "fatal: unable to access 'https://***@github.com/o/r.git/': 403; ssh://***@h/x"


def test_check_says_where_the_site_goes_without_the_credential(tmp_path: Path) -> None:
    cfg = config(tmp_path, "    git: {repo: 'https://deploy:s3cr3t@example.org/site.git', branch: pages}\n")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "check"])
    assert result.exit_code == 0, result.output
    assert "publish: git branch pages of https://***@example.org/site.git, after each site build" in result.output
    assert "s3cr3t" not in result.output and "settings.site_url is not set" in result.output
