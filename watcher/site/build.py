"""Building the static site: full builds swapped in atomically, incremental builds, and the search index.

A full build writes a new directory and swaps it in with one rename: ``--out DIR`` is a
symlink to the current build under ``.DIR-builds/``. Two forked workers render the award
pages and index their share for search while the main process writes the rest. Later
builds are incremental: only the pages that changes since the last build touch are
rewritten (each file replaced atomically), and the awards changed since the last full
build get a small search index of their own, merged with the main ones in the browser.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment
from sqlite_utils import Database

from watcher import links
from watcher.config import Config
from watcher.site import coming_up as coming_up_page
from watcher.site import front
from watcher.site import notices as notice_pages
from watcher.site.files import SiteError, Writer
from watcher.site.pages import Site
from watcher.templating import environment

log = logging.getLogger(__name__)
MANIFEST = ".watcher-site.json"
#: Processes rendering award pages in a full build (the machine this is sized for has 2 cores).
WORKERS = max(1, min(2, os.cpu_count() or 1))


@dataclass
class BuildResult:
    out: Path
    full: bool
    files: int = 0
    awards: int = 0
    seconds: float = 0.0
    search: str = ""
    touched: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- search


def _pagefind() -> str:
    try:
        import pagefind_bin  # type: ignore[import-untyped]

        return str(pagefind_bin.get_executable())
    except ImportError:
        found = shutil.which("pagefind")
        if not found:
            raise SiteError('the search indexer is missing: pip install "pagefind[bin]"') from None
        return found


def index_search(site_dir: Path, output: Path | None = None) -> None:
    """Index ``site_dir`` with pagefind.

    On a full disk pagefind exits 0 leaving empty files (or hangs): so it only starts with room
    for an index about the size of its input, and an index with an empty file is refused.
    """
    out = output or site_dir / "pagefind"
    need = sum(f.stat().st_size for f in site_dir.rglob("*") if f.is_file()) + SEARCH_SPARE_BYTES
    free = shutil.disk_usage(out.parent if out.parent.exists() else site_dir).free
    if free < need:
        raise SiteError(
            f"{out.parent}: no space left for the search index ({free >> 20} MB free, {need >> 20} MB needed)"
        )
    cmd = [_pagefind(), "--site", str(site_dir), "--quiet"]
    if output is not None:
        cmd += ["--output-path", str(output)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)  # noqa: S603 - our own binary
    if done.returncode != 0:
        raise SiteError(f"pagefind failed: {done.stderr.strip()[:500]}")
    if any(f.is_file() and f.stat().st_size == 0 for f in out.rglob("*")):
        raise SiteError(f"{out}: the search index was written incomplete (is the disk full?)")


#: Room kept beyond the pages' own size for pagefind's fixed files (its scripts and styles: about 0.6 MB).
SEARCH_SPARE_BYTES = 4 << 20


# ---------------------------------------------------------------- the build


def _builds_dir(out: Path) -> Path:
    return out.parent / f".{out.name}-builds"


def _current(out: Path) -> tuple[Path | None, dict[str, Any]]:
    if out.is_symlink() and out.resolve().is_dir():
        target = out.resolve()
        manifest = target / MANIFEST
        if manifest.exists():
            return target, json.loads(manifest.read_text())
    return None, {}


def build(db: Database, config: Config, out: Path, *, now: str, full: bool = False, search: bool = True) -> BuildResult:
    """Build the site into ``out``: a full build when asked or when there is none yet, else incremental."""
    started = time.monotonic()
    env = environment(config.templates_dir())
    current, manifest = _current(out)
    (last_change,) = db.execute("SELECT coalesce(max(id), 0) FROM changes").fetchone()
    if out.exists() and not out.is_symlink():
        raise SiteError(f"{out} exists and was not made by `watcher site`; choose another --out or remove it")
    if full or current is None:
        result = _full_build(db, config, env, out, now, last_change, search)
    else:
        result = _incremental(db, config, env, out, current, manifest, now, last_change, search)
    result.seconds = time.monotonic() - started
    return result


def _full_build(
    db: Database, config: Config, env: Environment, out: Path, now: str, last_change: int, search: bool
) -> BuildResult:
    builds = _builds_dir(out)
    builds.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(dir=builds, prefix=now.replace(":", "").replace("-", "") + "-"))
    target.chmod(0o755)  # mkdtemp makes it private; a web server must read it
    # Award pages (and their search index) are most of the work: one forked worker per core renders
    # its share of them and indexes it, while this process writes everything else.
    started = time.monotonic()
    parts = _key_ranges(db, WORKERS)
    workers = [_start_part(db, config, target, now, i, r, search) for i, r in enumerate(parts)]
    try:
        w = Writer(target, atomic=False)
        site = Site(db, config, env, w, now)
        for vendor in [r[0] for r in db.execute("SELECT DISTINCT vendor FROM matches WHERE vendor != ''")]:
            site.vendor_page(vendor)
        for agency in site.held_agencies():
            site.agency_page_write(agency)
        for name in config.watches:
            site.watch_page(name)
        front.write_home(site)
        site.notices_page()
        coming_up_page.write(site)
        notice_pages.write_pages(site)
        log.info("site: listings written after %.1f s", time.monotonic() - started)
        site.downloads()
        log.info("site: downloads written after %.1f s", time.monotonic() - started)
        n, bundles = 0, []
        for i, (proc, counter) in enumerate(workers):
            proc.join()
            if proc.exitcode != 0:
                shutil.rmtree(target, ignore_errors=True)
                raise SiteError(f"a site worker failed (exit code {proc.exitcode}); see the log above")
            n += counter.value
            if search and counter.value:  # a worker with no awards has no index
                bundles.append(f"pagefind-{i}/")
        site.static_pages(bundles=bundles)
        (target / MANIFEST).write_text(
            json.dumps(
                {
                    "last_change": last_change,
                    "full_built_at": now,
                    "recent": [],
                    "bundles": bundles,
                    "coming_up_day": now[:10],
                }
            )
        )
    except BaseException:  # a full disk, a template error, Ctrl-C: no worker outlives the build, nothing of it stays
        for proc, _ in workers:
            proc.kill()
            proc.join()
        shutil.rmtree(target, ignore_errors=True)
        raise
    _swap(out, target)
    return BuildResult(out, True, files=w.count + n, awards=n, search="full index" if search else "off")


def _key_ranges(db: Database, n: int) -> list[tuple[str | None, str | None]]:
    """Split the watched awards into n contiguous key ranges of about equal size."""
    (count,) = db.execute("SELECT count(*) FROM awards WHERE award_key IN (SELECT entity_key FROM matches)").fetchone()
    if count < 2000 or n < 2:
        return [(None, None)]
    cuts = [
        db.execute(
            "SELECT award_key FROM awards WHERE award_key IN (SELECT entity_key FROM matches)"
            " ORDER BY award_key LIMIT 1 OFFSET ?",
            [count * i // n],
        ).fetchone()[0]
        for i in range(1, n)
    ]
    bounds: list[str | None] = [None, *cuts, None]
    return [(bounds[i], bounds[i + 1]) for i in range(n)]


def _db_path(db: Database) -> str:
    return next(row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main")


def _start_part(
    db: Database, config: Config, target: Path, now: str, i: int, key_range: tuple[str | None, str | None], search: bool
) -> tuple[Any, Any]:
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("i", 0)
    proc = ctx.Process(
        target=_worker, args=(_award_share, _db_path(db), config, target, now, i, key_range, search, counter)
    )
    proc.start()
    return proc, counter


def _worker(job: Callable[..., None], *args: Any) -> None:
    """The body of a forked worker: its own signals, the job, one line if it fails, then a hard exit."""
    _default_signals()
    try:
        job(*args)
    except Exception as exc:  # the parent reports the exit code; one line here says why
        log.error("site worker (%s) failed: %s", job.__name__, exc)
        _exit(1)
    _exit(0)


def _award_share(
    db_path: str,
    config: Config,
    target: Path,
    now: str,
    i: int,
    key_range: tuple[str | None, str | None],
    search: bool,
    counter: Any,
) -> None:
    db = Database(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True))
    site = Site(db, config, environment(config.templates_dir()), Writer(target, atomic=False), now)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target.parent) as stage:
        stubs = Writer(Path(stage), atomic=False) if search else None
        counter.value = site.award_pages(key_range=key_range, stubs=stubs)
        log.info("site worker %d: %d award pages in %.1f s", i, counter.value, time.monotonic() - started)
        if search and counter.value:
            index_search(Path(stage), target / f"pagefind-{i}")
            log.info("site worker %d: search index done after %.1f s", i, time.monotonic() - started)


def _listings_part(
    db_path: str, config: Config, target: Path, now: str, agencies: list[str], watches: list[str]
) -> None:
    db = Database(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True))
    site = Site(db, config, environment(config.templates_dir()), Writer(target, atomic=True), now)
    for agency in agencies:
        site.agency_page_write(agency)
    for name in watches:
        site.watch_page(name)


def _coming_up_part(db_path: str, config: Config, target: Path, now: str) -> None:
    """The Coming up page and its feeds, in a worker of their own (a new day's incremental build rewrites them)."""
    db = Database(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True))
    coming_up_page.write(Site(db, config, environment(config.templates_dir()), Writer(target, atomic=True), now))


def _exit(code: int) -> None:
    """End a forked worker at once: its work is on disk, and the interpreter's normal shutdown can
    fail in a child forked from a thread (the daemon runs builds in its worker thread)."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _default_signals() -> None:
    """A forked worker must not run its parent's handlers (the daemon's SIGTERM handler stops a scheduler)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stage_awards(build: Path, stage: Path, keys: Iterable[str]) -> None:
    """Hard links to some award pages under the same relative paths, so an index of them has the right URLs.

    Every key given must have its page: the caller passes only watched awards (see ``_watched``).
    """
    (stage / "awards").mkdir(parents=True, exist_ok=True)
    for key in keys:
        name = f"{links.safe_name(key)}.html"
        os.link(build / "awards" / name, stage / "awards" / name)


def _watched(db: Database, keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` some watch holds: only they have a page (a change can touch an award no watch holds,
    one that left its watch when the rules were edited: its history is kept, its page is not)."""
    wanted, out = sorted(set(keys)), set()
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT DISTINCT entity_key FROM matches WHERE entity_key IN ({marks})"
        out |= {r[0] for r in db.execute(sql, chunk)}
    return out


def _swap(out: Path, target: Path) -> None:
    """Point ``out`` at the new build in one rename, then drop builds older than the previous one."""
    old = out.resolve() if out.is_symlink() else None
    link = out.parent / f".{out.name}.{os.getpid()}.link"
    link.unlink(missing_ok=True)
    link.symlink_to(os.path.relpath(target, out.parent))
    os.replace(link, out)
    keep = {target.resolve(), old}  # the previous build stays for readers still inside it
    for d in _builds_dir(out).iterdir():
        if d.resolve() not in keep and d.is_dir():
            shutil.rmtree(d, ignore_errors=True)


def _touched(db: Database, since: int) -> tuple[list[str], set[str], set[str], set[str]]:
    keys = [
        r[0]
        for r in db.execute("SELECT DISTINCT award_key FROM changes WHERE id > ? AND award_key IS NOT NULL", [since])
    ]
    vendors: set[str] = set()
    watches: set[str] = set()
    agencies: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for watch, vendor in db.execute(f"SELECT watch, vendor FROM matches WHERE entity_key IN ({marks})", chunk):
            watches.add(watch)
            if vendor:
                vendors.add(vendor)
        agencies |= {
            r[0]
            for r in db.execute(f"SELECT DISTINCT awarding_subagency FROM awards WHERE award_key IN ({marks})", chunk)
            if r[0]
        }
    return keys, vendors, agencies, watches


def _incremental(
    db: Database,
    config: Config,
    env: Environment,
    out: Path,
    current: Path,
    manifest: dict[str, Any],
    now: str,
    last_change: int,
    search: bool,
) -> BuildResult:
    keys, vendors, agencies, watches = _touched(db, manifest["last_change"])
    result = BuildResult(out, False, touched=keys)
    # The Coming up page's dates count from today: rewritten on a new day's first build, or when they move.
    coming_due = manifest.get("coming_up_day") != now[:10] or coming_up_page.dates_changed(db, manifest["last_change"])
    notice_ids = notice_pages.touched(db, manifest["last_change"])
    if not keys and not notice_ids:
        if coming_due:
            coming = Writer(current, atomic=True)
            coming_up_page.write(Site(db, config, env, coming, now))
            manifest["coming_up_day"] = now[:10]
            coming.write(MANIFEST, json.dumps(manifest))
        result.search = "unchanged"
        return result
    index = notice_pages.Notices(db, config)  # a changed notice's vendor and agency pages list it
    notice_vendors, notice_agencies = index.affected(notice_ids)
    held = "SELECT DISTINCT awarding_subagency FROM awards WHERE award_key IN (SELECT entity_key FROM matches)"
    agencies |= notice_agencies & {r[0] for r in db.execute(held)}  # only agencies a full build gives a page
    vendors |= notice_vendors
    # The listing pages are the slow part at scale (each reads thousands of awards): agencies and
    # watches are written by a forked worker while this process writes the rest.
    ctx = multiprocessing.get_context("fork")
    worker = ctx.Process(
        target=_worker,
        args=(
            _listings_part,
            _db_path(db),
            config,
            current,
            now,
            sorted(agencies),
            sorted(watches & set(config.watches)),
        ),
    )
    worker.start()
    coming_worker = None
    if coming_due:  # in parallel too: at 100k awards it is about a second (bench/RESULTS.md)
        coming_worker = ctx.Process(target=_worker, args=(_coming_up_part, _db_path(db), config, current, now))
        coming_worker.start()
    w = Writer(current, atomic=True)
    site = Site(db, config, env, w, now)
    site.notices = index
    result.awards = site.award_pages(keys)
    changed = set(manifest.get("recent", [])) | set(keys)
    watched = _watched(db, changed)
    for key in sorted(set(keys) - watched):  # it left every watch: no page, as a full build would have it
        (current / "awards" / f"{links.safe_name(key)}.html").unlink(missing_ok=True)
    for vendor in sorted(vendors):
        site.vendor_page(vendor)
    notice_pages.write_pages(site, notice_ids)
    front.write_home(site)
    site.notices_page()
    recent_keys = sorted(changed & watched)
    recent = recent_keys
    recent_bundle: list[str] = []
    if search and recent_keys:
        # The main index knows the awards as of the last full build; the ones changed since get
        # a small index of their own, merged in the browser (a full build folds them back in).
        with tempfile.TemporaryDirectory(dir=current.parent) as tmp:
            _stage_awards(current, Path(tmp), recent_keys)
            staging = current / ".pagefind-recent-new"
            shutil.rmtree(staging, ignore_errors=True)
            index_search(Path(tmp), staging)
            old = current / "pagefind-recent"
            if old.exists():
                shutil.rmtree(old)
            os.replace(staging, old)
        recent_bundle = ["pagefind-recent/"]
        result.search = f"{len(recent)} recently changed awards indexed"
    elif search:
        result.search = "no recently changed award has a page"
    site.static_pages(bundles=[*manifest.get("bundles", []), *recent_bundle] if search else [])
    if search and not recent_bundle:  # the pages no longer name it: an index of nothing goes (pagefind makes none)
        shutil.rmtree(current / "pagefind-recent", ignore_errors=True)
    for proc in (worker, coming_worker):
        if proc is None:
            continue
        proc.join()
        if proc.exitcode != 0:
            raise SiteError(f"a site worker failed (exit code {proc.exitcode}); run `watcher site --full`")
    if coming_worker is not None:
        manifest["coming_up_day"] = now[:10]
    manifest.update(last_change=last_change, recent=recent, built_at=now)
    w.write(MANIFEST, json.dumps(manifest))
    result.files = w.count
    return result
