"""The ``watcher`` command line: parse options, call the library, turn errors into messages and exit codes.

Exit codes: 0 every watch succeeded; 1 some watch failed (the others still ran);
2 usage or configuration error.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from watcher import __version__, jobs, store
from watcher.config import Config, load_config
from watcher.errors import ConfigError, WatcherError
from watcher.models import SourceName
from watcher.ops import datasette, livecheck, logs
from watcher.ops import review as review_ops
from watcher.ops import status as status_mod
from watcher.ops.daemon import run_daemon
from watcher.ops.progress import Progress
from watcher.site import export as export_mod
from watcher.sources import registry
from watcher.store import schema_doc
from watcher.values import parse_utc

STARTER_CONFIG = Path(__file__).resolve().parent / "default_queries.yaml"


class State:
    def __init__(self, config_path: Path, db_path: Path, db_explicit: bool, config_explicit: bool = True) -> None:
        self.config_path = config_path
        self.db_path = db_path
        self.db_explicit = db_explicit
        self.config_explicit = config_explicit

    def config(self) -> Config:
        """The watches file; without one here (and none named), the starter config shipped with the package."""
        if not self.config_explicit and not self.config_path.exists():
            click.echo(
                f"note: no {self.config_path} here, so the starter watches shipped with watcher are used"
                " (`watcher init` writes them here to edit)",
                err=True,
            )
            return load_config(STARTER_CONFIG, root=Path.cwd())
        return load_config(self.config_path)

    def open_db(self, path: Path | None = None) -> Any:
        return store.open_db(path or self.db_path)

    def existing_db(self, hint: str = "run `watcher poll` (or `watcher demo`)") -> Any:
        """The database, which must exist already (reading commands never create one)."""
        if not self.db_path.exists():
            raise ConfigError(f"{self.db_path}: no database yet; {hint}")
        return self.open_db()


def _require_known(state: State, what: str, asked: tuple[str, ...], known: dict[str, Any]) -> None:
    unknown = [name for name in asked if name not in known]
    if unknown:
        raise ConfigError(
            f"{state.config_path}: no {what} named {', '.join(unknown)} (have: {', '.join(known) or 'none'})"
        )


RECORD = click.option(
    "--record",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also save every API response in DIR (keys redacted): to send us, or to replay in a test.",
)


def _site_dir(flag: str, name: str, help_text: str) -> Callable[[Any], Any]:
    return click.option(
        flag, name, type=click.Path(path_type=Path), default=Path("site"), show_default=True, help=help_text
    )


class WatcherGroup(click.Group):
    """The one place a :class:`WatcherError` becomes a message on stderr and its exit code (2 config, 1 other).

    Storage faults (sqlite3 errors, OSError: a read-only folder, a full disk) become one line too, exit 1.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WatcherError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (sqlite3.Error, OSError) as exc:
            state = ctx.obj if isinstance(ctx.obj, State) else None
            click.echo(f"error: {store.explain(exc, state.db_path if state else None)}", err=True)
            ctx.exit(1)


@click.group(cls=WatcherGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="watcher")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="WATCHER_CONFIG",
    default="queries.yaml",
    show_default=True,
    help="The watches file (env WATCHER_CONFIG; without one, the starter watches shipped with watcher).",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path),
    envvar="WATCHER_DB",
    default=None,
    help="The SQLite database (env WATCHER_DB; default ./watcher.db).",
)
@click.option("-v", "--verbose", count=True, help="-v for progress, -vv for debugging.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line, for journald and log shippers.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path, db_path: Path | None, verbose: int, log_format: str) -> None:
    """Watch USAspending for DHS awards to the vendors you follow, with full change history."""
    logs.configure(verbose, log_format)
    explicit = ctx.get_parameter_source("config_path") != click.core.ParameterSource.DEFAULT
    ctx.obj = State(config_path, db_path or Path("watcher.db"), db_path is not None, explicit)


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
    for line in registry.describe(config):
        click.echo(line)
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


@cli.command()
@_site_dir("--site", "site_out", "Where to build the site.")
@click.option("--no-site", is_flag=True, help="Skip the site.")
@click.pass_obj
def run(state: State, site_out: Path, no_site: bool) -> None:
    """One full pass for cron: poll every watch, update the site, send the digests that are due.

    A failing step does not stop the next ones (the site and digests work from what is
    stored); the exit code is 1 if any of them failed.
    """
    config = state.config()
    steps: list[tuple[str, Callable[[], int]]] = [("poll", lambda: _poll(state, config))]
    if not no_site:
        steps.append(("site", lambda: _site(state, config, site_out, False)))
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


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "datasette", "queries"]),
    default="markdown",
    show_default=True,
    help="markdown: docs/schema.md; datasette: datasette/metadata.json; queries: queries.schema.json.",
)
@click.pass_obj
def schema(state: State, fmt: str) -> None:
    """Print the database reference, the Datasette metadata, or the JSON Schema of queries.yaml."""
    click.echo(schema_doc.render(fmt), nl=False)


@cli.command()
@click.argument("award")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--raw", is_flag=True, help="The API records kept for the award and its actions.")
@click.pass_obj
def history(state: State, award: str, as_json: bool, raw: bool) -> None:
    """One award's full timeline: AWARD is its award_key or its PIID."""
    db = state.existing_db()
    if raw:
        click.echo(json.dumps(export_mod.raw_records(db, award), indent=2, default=export_mod.json_default))
        return
    h = export_mod.history(db, award)
    click.echo(json.dumps(h, indent=2, default=export_mod.json_default) if as_json else export_mod.render_history(h))


@cli.command()
@click.argument("what", type=click.Choice([*export_mod.EXPORTS, *export_mod.OPERATOR_EXPORTS]))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--watch", help="Only awards matched by (review: queued for) this watch.")
@click.option("--vendor", help="Only awards matched (review: confirmed) to this vendor key (e.g. palantir).")
@click.option("--agency", help="Only this awarding or funding component (key, abbreviation or part of the name).")
@click.option("--since", help="From this ISO date (last modified, action, detection or queueing date).")
@click.option("--until", help="Up to this ISO date, inclusive.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), help="Write here instead of standard output.")
@click.pass_obj
def export(state: State, what: str, fmt: str, out_path: Path | None, **filters: str | None) -> None:
    """Export awards, transactions, changes or the review queue as CSV (spreadsheet-safe) or JSON."""
    n = export_mod.export(state.existing_db(), what, fmt, export_mod.Filters(**filters), out_path or sys.stdout)
    if out_path:
        click.echo(f"{n} {what} written to {out_path}", err=True)


@cli.group()
def review() -> None:
    """The review queue: orders from known resellers that name no watched product, for you to judge."""


@review.command("list")
@click.option("--status", type=click.Choice([*review_ops.STATUSES, "all"]), default="pending", show_default=True)
@click.option("--watch", help="Only this watch.")
@click.option("--limit", type=int, default=review_ops.DEFAULT_LIMIT, show_default=True, help="0: every order.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (every order).")
@click.pass_obj
def review_list(state: State, status: str, watch: str | None, limit: int, as_json: bool) -> None:
    """List the queue, biggest orders first (by default the ones waiting for a decision)."""
    click.echo(review_ops.listing(state.existing_db(), status, watch, limit, as_json))


def _decision(status: str, doc: str) -> Callable[..., None]:
    @click.argument("keys", nargs=-1, required=True)
    @click.option("--note", default="", help="Why: kept with the decision (and, confirmed, in the match's evidence).")
    @click.option("--by", envvar="USER", help="Who decides (default: $USER).")
    @click.option("--watch", help="The watch, when an order is queued for several.")
    @click.pass_obj
    def command(state: State, keys: tuple[str, ...], **opts: Any) -> None:
        for d in review_ops.decide(state.db_path, state.config(), list(keys), status, **opts):
            click.echo(d.line())

    command.__doc__ = doc
    return command


review.command("confirm")(
    click.option("--vendor", help="The watched vendor it is (default: the reseller's, if it carries one of them).")(
        _decision("confirmed", "It belongs to the watch: KEYS (award keys or PIIDs) join it, with reason reviewed.")
    )
)
review.command("dismiss")(_decision("dismissed", "It is not the watch's: KEYS leave the queue for good."))


@cli.command()
@click.option("--port", type=int, default=8001, show_default=True)
@click.pass_obj
def ui(state: State, port: int) -> None:
    """Open the database in Datasette, with descriptions and canned queries (pip install "watcher[ui]")."""
    state.existing_db()
    sys.exit(datasette.serve(state.db_path, port))


if __name__ == "__main__":  # pragma: no cover
    cli()
