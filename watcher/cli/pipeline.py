"""The pipeline commands: set up, check, poll, backfill, digest, site, run, daemon, status, demo."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click

from watcher import jobs
from watcher.cli import vendors as vendors_cli
from watcher.cli.base import RECORD, STARTER_CONFIG, State, _require_known, _site_dir, cli
from watcher.config import Config
from watcher.errors import ConfigError
from watcher.models import SourceName
from watcher.ops import livecheck
from watcher.ops import status as status_mod
from watcher.ops.daemon import run_daemon
from watcher.ops.progress import Progress
from watcher.sources import registry
from watcher.values import parse_utc


@cli.command()
@click.pass_obj
def init(state: State) -> None:
    """Create or migrate the database and load the seed maps; write a starter queries.yaml if there is none."""
    if not state.config_path.exists():
        if not state.config_path.parent.is_dir():
            raise ConfigError(f"{state.config_path}: its folder does not exist")
        state.config_path.write_bytes(STARTER_CONFIG.read_bytes())
        click.echo(f"wrote the starter watches to {state.config_path}: edit them, then `watcher check`")
        state.config_explicit = True
    jobs.open_db(state.config(), state.db_path)
    click.echo(f"database ready: {state.db_path}")


@cli.command()
@click.option(
    "--live", is_flag=True, help="Also test, with a few real requests (3 at most to SAM.gov), what we assume."
)
@RECORD
@click.pass_obj
def check(state: State, live: bool, record: Path | None) -> None:
    """Validate the config and seeds (no network); with --live, test the APIs' behaviour we rely on."""
    config = state.config()
    click.echo(f"{config.path}: ok, {len(config.watches)} watch(es)")
    for w in config.watches.values():
        agencies = ", ".join(a.abbreviation or a.name for a in w.agencies)
        click.echo(f"  {w.name}: {agencies} x {', '.join(w.vendors) or '-'}; keywords: {', '.join(w.keywords) or '-'}")
    for line in vendors_cli.origin_lines(config):
        click.echo(line)
    for line in registry.describe(config):
        click.echo(line)
    if config.settings.publish is not None:
        click.echo(jobs.describe_publish(config))
    if live:
        findings = jobs.live_check(config, state.db_path, record)
        click.echo("\n".join(["", *(f.line() for f in findings), "", livecheck.WHAT_TO_SEND]))
        sys.exit(1 if any(f.ok is False for f in findings) else 0)


@cli.command()
@click.option("--watch", "watches", multiple=True, help="Only this watch (repeatable).")
@click.option("--source", type=click.Choice([s.value for s in SourceName]), default=None, help="Only this source.")
@RECORD
@click.pass_obj
def poll(state: State, watches: tuple[str, ...], source: str | None, record: Path | None) -> None:
    """Fetch, diff and store once."""
    config = state.config()
    _require_known(state, "watch", watches, config.watches)
    sys.exit(1 if _poll(state, config, watches, source, record) else 0)


@cli.command()
@click.option("--since", "since_text", required=True, help="Start of the history to fetch (YYYY-MM-DD).")
@click.option("--until", "until_text", default=None, help="End of the history (YYYY-MM-DD; default today).")
@click.option("--watch", "watches", multiple=True, help="Only this watch (repeatable).")
@RECORD
@click.pass_obj
def backfill(
    state: State, since_text: str, until_text: str | None, watches: tuple[str, ...], record: Path | None
) -> None:
    """Fetch a watch's history since a date: resumable, with progress; it records no changes (history is not news)."""
    config = state.config()
    _require_known(state, "watch", watches, config.watches)
    since, until = jobs.backfill_window(since_text, until_text)
    with Progress() as progress:
        results = jobs.backfill(
            config, state.db_path, since, until, watches=list(watches) or None, progress=progress, record=record
        )
    for r in results:
        click.echo(r.summary(), err=bool(r.errors))
    failed = sum(1 for r in results if r.errors)
    sys.exit(1 if failed else 0)


def _poll(
    state: State, config: Config, watches: tuple[str, ...] = (), source: str | None = None, record: Path | None = None
) -> int:
    """Poll, print a line per watch and source and per admin alert; returns how many runs failed."""
    report = jobs.poll(config, state.db_path, watches=list(watches) or None, source=source, record=record)
    for line, is_error in report.lines():
        click.echo(line, err=is_error)
    return report.failed


def _parse_now(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        return parse_utc(text)
    except ValueError:
        raise ConfigError(f"--now {text!r}: use an ISO timestamp like 2026-07-08T12:00:00Z") from None


@cli.command()
@click.option("--dry-run", is_flag=True, help="Write the digests that are due as .eml files; record nothing.")
@click.option(
    "--outbox",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write .eml files to this folder instead of sending (counts as delivered).",
)
@click.option("--subscriber", "subscribers", multiple=True, help="Only this subscriber (repeatable).")
@click.option("--now", "now_text", help="Pretend it is this UTC time (ISO), to replay schedules.")
@click.pass_obj
def digest(
    state: State, dry_run: bool, outbox: Path | None, subscribers: tuple[str, ...], now_text: str | None
) -> None:
    """Send the digests that are due (or write .eml files when no SMTP server is configured)."""
    config = state.config()
    _require_known(state, "subscriber", subscribers, config.subscribers)
    if not state.db_path.exists():
        raise ConfigError(f"{state.db_path}: no database yet; run `watcher poll` first")
    sys.exit(1 if _digests(state, config, _parse_now(now_text), outbox, dry_run, subscribers) else 0)


def _digests(
    state: State,
    config: Config,
    now: datetime | None,
    outbox: Path | None = None,
    dry_run: bool = False,
    subscribers: tuple[str, ...] = (),
) -> int:
    """Send (or write) the due digests, print a line per subscriber; returns how many failed."""
    if not config.subscribers:
        click.echo(f"{config.path}: no subscribers configured; nothing to send")
        return 0
    results = jobs.send_digests(
        config, state.db_path, now=now, outbox=outbox, dry_run=dry_run, only=list(subscribers) or None
    )
    for r in results:
        click.echo(r.line(), err=r.failed)
    return sum(r.failed for r in results)


@cli.command()
@_site_dir("--out", "out", "The site folder (a symlink to the current build).")
@click.option("--full", is_flag=True, help="Rebuild everything (default: only what changed since the last build).")
@click.pass_obj
def site(state: State, out: Path, full: bool) -> None:
    """Build the static site: pages, Atom feeds, downloads and the search index."""
    if not state.db_path.exists():
        raise ConfigError(f"{state.db_path}: no database yet; run `watcher poll` (or `watcher demo`)")
    _site(state, state.config(), out, full)
    click.echo(f"serve it:  python3 -m http.server --directory {out} 8000   then open http://127.0.0.1:8000/")


def _site(state: State, config: Config, out: Path, full: bool) -> int:
    result = jobs.build_site(config, state.db_path, out, full=full)
    kind = "full build" if result.full else f"incremental: {len(result.touched)} changed awards"
    click.echo(
        f"{out}: {kind}, {result.files} files, {result.awards} award pages, search: {result.search},"
        f" {result.seconds:.1f} s"
    )
    return 0


def _publish(config: Config, site: Path) -> int:
    click.echo(jobs.publish_site(config, site).line())
    return 0


@cli.command()
@_site_dir("--site", "site_out", "Where to build the site.")
@click.option("--no-site", is_flag=True, help="Skip the site (and publishing it).")
@click.option("--no-publish", is_flag=True, help="Build the site but do not publish it (settings.publish).")
@click.pass_obj
def run(state: State, site_out: Path, no_site: bool, no_publish: bool) -> None:
    """One full pass for cron: poll every watch, update the site (and publish it), send the digests that are due.

    A failing step does not stop the next ones (the site and digests work from what is
    stored); the exit code is 1 if any of them failed.
    """
    config = state.config()
    steps: list[tuple[str, Callable[[], int]]] = [("poll", lambda: _poll(state, config))]
    if not no_site:
        steps.append(("site", lambda: _site(state, config, site_out, False)))
        if jobs.publishes_after_build(config) and not no_publish:
            steps.append(("publish", lambda: _publish(config, site_out)))
    steps.append(("digest", lambda: _digests(state, config, None)))
    sys.exit(1 if jobs.run_steps(steps, lambda line: click.echo(line, err=True)) else 0)


@cli.command("test-email")
@click.argument("address")
@click.option("--outbox", type=click.Path(path_type=Path, file_okay=False), help="Write it here instead of sending.")
@click.pass_obj
def test_email(state: State, address: str, outbox: Path | None) -> None:
    """Send one test message to ADDRESS through the configured SMTP server, to check the settings."""
    click.echo(jobs.send_test_email(state.config(), address, outbox))


@cli.command()
@click.pass_obj
def daemon(state: State) -> None:
    """Run the schedule in queries.yaml (settings.schedule) until SIGTERM or Ctrl-C."""
    config = state.config()
    sys.exit(run_daemon(config, state.db_path, jobs.scheduled(config, state.db_path)))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(state: State, as_json: bool) -> None:
    """Last runs, errors and table sizes."""
    data = jobs.status(state.existing_db("run `watcher init` or `watcher poll`"), state.db_path, state.config)
    click.echo(json.dumps(data, indent=2, default=str) if as_json else status_mod.render(data))


@cli.command()
@click.option("--replace", is_flag=True, help="Overwrite an existing database given with --db.")
@click.pass_obj
def demo(state: State, replace: bool) -> None:
    """A full offline pass over real ICE/CBP records (seeds/ice) replayed on 127.0.0.1.

    Writes a fresh ./demo.db (or the --db path, which must not exist unless --replace
    is given), the digests the config's subscribers would have received as .eml files
    in ./demo-outbox and the static site in ./demo-site next to it; needs no network.
    """
    from watcher.fakes import demo as demo_mod

    db_path = state.db_path if state.db_explicit else Path("demo.db")
    report = demo_mod.demo(state.config(), db_path, echo=click.echo, replace=replace or not state.db_explicit)
    click.echo(report.epilogue(status_mod.render(status_mod.report(report.db, db_path))))
    sys.exit(1 if report.failed else 0)
