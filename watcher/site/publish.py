"""Publishing the built site: to a folder over rsync, or as the only content of a gh-pages-style git branch.

Both ways are idempotent and lose nothing when they fail. rsync compares contents
(``--checksum``), so a rebuilt page that did not change is not sent again, and it moves the
new files into place only at the end (``--delay-updates``, ``--delete-delay``): a transfer
cut off halfway leaves the old site whole. The git way builds the commit in a scratch
repository kept next to the site (``.<site>-publish.git``): the built tree becomes one
commit whose parent is the branch's current head, pushed as a fast-forward; a tree equal to
the one published already makes no commit. A failed or refused push leaves the branch as it
was. Credentials in a URL (``https://user:token@host/...``) are never printed: every line
shown from rsync or git goes through :func:`redact`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path

from watcher.errors import WatcherError
from watcher.settings import GitPublish, PublishSettings, RsyncPublish

#: Files of a build that are not part of the site: the build's manifest, temporary files, staging folders.
HIDDEN = ".*"
TIMEOUT_SECONDS = 3600
_USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/@\s]+@")


class PublishError(WatcherError):
    """The site could not be published (the destination was not changed)."""


@dataclass
class PublishResult:
    how: str  # "rsync" or "git"
    target: str  # where it went, redacted
    changed: int  # files sent or deleted (rsync); files in the new commit's tree that differ (git)
    commit: str | None = None  # the commit pushed (git), None when nothing changed

    def line(self) -> str:
        if self.how == "git":
            if self.commit is None:
                return f"published to {self.target}: unchanged (no new commit)"
            return f"published to {self.target}: commit {self.commit[:12]}, {self.changed} files changed"
        if not self.changed:
            return f"published to {self.target}: unchanged"
        return f"published to {self.target}: {self.changed} files sent or deleted"


def redact(text: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://***@host``: what git or rsync says may quote the URL."""
    return _USERINFO.sub(r"\1***@", text)


def is_local(dest: str) -> bool:
    """Whether rsync and git read ``dest`` as a local path: no ``scheme://`` and no ``host:`` before a slash."""
    if "://" in dest:  # rsync://, ssh://, https://, file:// (left to git as written)
        return False
    head = dest.split("/", 1)[0]
    return ":" not in head


def resolve(dest: str, root: Path) -> str:
    """A relative local destination is relative to queries.yaml's folder (as the site folder is)."""
    if is_local(dest) and not Path(dest).is_absolute():
        return str((root / dest).absolute())
    return dest


def built_site(site: Path) -> Path:
    """The current build behind ``site`` (a symlink `watcher site` maintains), resolved once for this publish."""
    from watcher.site.build import MANIFEST  # the build module is the one that writes it

    if not site.exists():
        raise PublishError(f"{site}: no site built there yet; run `watcher site --out {site}` first")
    target = site.resolve()
    if not target.is_dir() or not (target / MANIFEST).exists():
        raise PublishError(f"{site} was not made by `watcher site`; give the folder it built (--site)")
    return target


def publish(site: Path, settings: PublishSettings, root: Path) -> PublishResult:
    """Send the built site where ``settings`` says; raises PublishError, with the tool's own words, if it fails."""
    src = built_site(site)
    if settings.rsync is not None:
        return _rsync(src, settings.rsync, root)
    assert settings.git is not None  # the settings require one of the two
    return _git_publish(src, settings.git, root, site.absolute().parent / f".{site.name}-publish.git")


# ---------------------------------------------------------------- rsync


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    tool = shutil.which(cmd[0])
    if tool is None:
        raise PublishError(f"{cmd[0]} is not installed (on Debian: apt-get install {cmd[0]})")
    try:
        done = subprocess.run(  # noqa: S603 - a fixed tool with arguments validated by the settings
            [tool, *cmd[1:]], capture_output=True, text=True, timeout=TIMEOUT_SECONDS, env=env, cwd=cwd, check=False
        )
    except subprocess.TimeoutExpired:
        raise PublishError(f"{what}: gave up after {TIMEOUT_SECONDS} s; nothing was replaced") from None
    if done.returncode != 0:
        said = redact((done.stderr or done.stdout).strip())[-800:]
        raise PublishError(f"{what} failed (exit code {done.returncode}): {said}")
    return done.stdout


def _rsync(src: Path, cfg: RsyncPublish, root: Path) -> PublishResult:
    dest = resolve(cfg.dest, root)
    if is_local(dest) and not Path(dest).parent.is_dir():
        raise PublishError(f"settings.publish.rsync.dest: {dest}: its folder {Path(dest).parent} does not exist")
    cmd = [
        "rsync",
        "--recursive",
        "--links",
        "--times",
        "--checksum",  # a page rebuilt with the same content is not sent (nor rewritten) again
        "--delete-delay",
        "--delay-updates",  # the new files are moved into place together, at the end
        "--chmod=D755,F644",  # readable by the web server whatever the umask here
        "--itemize-changes",
        f"--exclude={HIDDEN}",
    ]
    if cfg.ssh:
        cmd += ["--rsh", cfg.ssh]
    out = _run([*cmd, "--", f"{src}/", dest], f"rsync to {redact(dest)}")
    # One line per item changed: ">f" a file sent, "*deleting" one removed, "cd" a folder made, ".d..t" a folder's time.
    changed = sum(1 for line in out.splitlines() if line[:2] in (">f", "*d", "cL", ">L"))
    return PublishResult("rsync", redact(dest), changed)


# ---------------------------------------------------------------- git


def _git_env(git_dir: Path, cfg: GitPublish, index: Path | None = None) -> dict[str, str]:
    name, email = parseaddr(cfg.author)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    env = {
        **os.environ,
        "GIT_DIR": str(git_dir),
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password nobody will type
        "GIT_AUTHOR_NAME": name or "watcher",
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name or "watcher",
        "GIT_COMMITTER_EMAIL": email,
        "GIT_AUTHOR_DATE": now,
        "GIT_COMMITTER_DATE": now,
        "LC_ALL": "C",
    }
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    return env


def _git_publish(src: Path, cfg: GitPublish, root: Path, scratch: Path) -> PublishResult:
    repo = resolve(cfg.repo, root)
    shown = redact(repo)
    where = f"{shown} (branch {cfg.branch})"
    if not (scratch / "HEAD").exists():
        _run(["git", "init", "--bare", "--quiet", "--", str(scratch)], "git init (the publishing scratch repository)")
        # git packs the loose objects `git add` leaves from time to time (gc --auto): in the foreground, so no
        # process outlives the publish (and a daemon's next publish never meets one still writing).
        _run(["git", "--git-dir", str(scratch), "config", "gc.autoDetach", "false"], "git config")
    (scratch / "info").mkdir(exist_ok=True)
    (scratch / "info" / "exclude").write_text(f"{HIDDEN}\n")
    env = _git_env(scratch, cfg)
    ref = f"refs/heads/{cfg.branch}"
    heads = _run(["git", "ls-remote", "--", repo, ref], f"reading {where}", env)
    parent = next((line.split()[0] for line in heads.splitlines() if line.split()[1:] == [ref]), None)
    if parent:
        _run(["git", "fetch", "--quiet", "--no-tags", "--", repo, f"+{ref}:refs/published"], f"fetching {where}", env)
    index = scratch / "publish-index"
    index.unlink(missing_ok=True)
    ienv = _git_env(scratch, cfg, index)
    _run(["git", "--work-tree", str(src), "add", "--all", "--", "."], "git add (the built site)", ienv, cwd=src)
    empty = _run(["git", "hash-object", "-w", "--stdin"], "git hash-object", ienv).strip()
    # GitHub Pages would otherwise run Jekyll over the site (and hide its files whose names start with _).
    _run(["git", "update-index", "--add", "--cacheinfo", f"100644,{empty},.nojekyll"], "git update-index", ienv)
    tree = _run(["git", "write-tree"], "git write-tree", ienv).strip()
    index.unlink(missing_ok=True)
    if parent and _run(["git", "rev-parse", f"{parent}^{{tree}}"], "git rev-parse", env).strip() == tree:
        return PublishResult("git", where, 0)
    args = ["git", "commit-tree", tree, "-m", cfg.message]
    if parent:
        args[3:3] = ["-p", parent]
    commit = _run(args, "git commit-tree", env).strip()
    changed = _count_changes(parent, commit, env)
    _run(["git", "push", "--quiet", "--", repo, f"{commit}:{ref}"], f"pushing to {where}", env)
    return PublishResult("git", where, changed, commit)


def _count_changes(parent: str | None, commit: str, env: dict[str, str]) -> int:
    if parent is None:
        return len(_run(["git", "ls-tree", "-r", "--name-only", commit], "git ls-tree", env).splitlines())
    return len(_run(["git", "diff-tree", "-r", "--name-only", parent, commit], "git diff-tree", env).splitlines())
