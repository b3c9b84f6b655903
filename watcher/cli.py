"""The ``watcher`` command line: parse options, call the library, turn errors into messages and exit codes.

Exit codes: 0 every watch succeeded; 1 some watch failed (the others still ran);
2 usage or configuration error.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from . import __version__, logs, store
from .config import Config, load_config
from .errors import ConfigError, WatcherError
from .http import usaspending_client
from .lock import writer_lock


class State:
    def __init__(self, config_path: Path, db_path: Path, db_explicit: bool) -> None:
        self.config_path = config_path
        self.db_path = db_path
        self.db_explicit = db_explicit

    def config(self) -> Config:
        return load_config(self.config_path)

    def open_db(self, path: Path | None = None) -> Any:
        return store.open_db(path or self.db_path)


def _json_default(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else str(value)


def _require_known(state: State, what: str, asked: tuple[str, ...], known: dict[str, Any]) -> None:
    unknown = [name for name in asked if name not in known]
    if unknown:
        raise ConfigError(
            f"{state.config_path}: no {what} named {', '.join(unknown)} (have: {', '.join(known) or 'none'})"
        )


def _fail(exc: WatcherError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="watcher")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="WATCHER_CONFIG",
    default="queries.yaml",
    show_default=True,
    help="The watches file (env WATCHER_CONFIG).",
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
    ctx.obj = State(config_path, db_path or Path("watcher.db"), db_path is not None)


@cli.command()
@click.pass_obj
def init(state: State) -> None:
    """Create or migrate the database and load the seed maps (vendors, resellers, agencies)."""
    try:
        config = state.config()
        db = state.open_db()
        store.load_seeds(db, config.vendors, config.resellers, config.agencies)
    except WatcherError as exc:
        _fail(exc)
    click.echo(f"database ready: {state.db_path}")


@cli.command()
@click.pass_obj
def check(state: State) -> None:
    """Validate the config and seeds without touching the network."""
    try:
        config = state.config()
    except ConfigError as exc:
        _fail(exc)
    from .sources.usaspending import plan

    click.echo(f"{state.config_path}: ok, {len(config.watches)} watch(es)")
    for w in config.watches.values():
        agencies = ", ".join(a.abbreviation or a.name for a in w.agencies)
        click.echo(f"  {w.name}: {agencies} x {', '.join(w.vendors) or '-'}; keywords: {', '.join(w.keywords) or '-'}")
        if "usaspending" in w.sources:
            click.echo(f"    usaspending: {len(plan(w))} search walks per poll, lookback {w.lookback_days} days")
    from .sam_poll import request_plan

    for line in request_plan(config):
        click.echo(line)


@cli.command()
@click.option("--watch", "watches", multiple=True, help="Only this watch (repeatable).")
@click.option(
    "--source",
    type=click.Choice(["usaspending", "sam_awards", "sam_opportunities"]),
    default=None,
    help="Only this source.",
)
@click.pass_obj
def poll(state: State, watches: tuple[str, ...], source: str | None) -> None:
    """Fetch, diff and store once."""
    try:
        config = state.config()
        _require_known(state, "watch", watches, config.watches)
        failed = _poll(state, config, watches, source)
    except WatcherError as exc:
        _fail(exc)
    sys.exit(1 if failed else 0)


@cli.command()
@click.option("--since", "since_text", required=True, help="Start of the history to fetch (YYYY-MM-DD).")
@click.option("--until", "until_text", default=None, help="End of the history (YYYY-MM-DD; default today).")
@click.option("--watch", "watches", multiple=True, help="Only this watch (repeatable).")
@click.pass_obj
def backfill(state: State, since_text: str, until_text: str | None, watches: tuple[str, ...]) -> None:
    """Fetch a watch's history since a date: resumable, with progress; it records no changes (history is not news)."""
    from datetime import date

    from .backfill import run_backfill

    try:
        config = state.config()
        _require_known(state, "watch", watches, config.watches)
        try:
            since = date.fromisoformat(since_text)
            until = date.fromisoformat(until_text) if until_text else None
        except ValueError:
            raise ConfigError(
                f"--since/--until: use a date like 2024-10-01 (got {since_text!r}, {until_text!r})"
            ) from None
        if since < date(2007, 10, 1):
            raise ConfigError("--since: USAspending's search starts at 2007-10-01")
        with writer_lock(state.db_path):
            db = state.open_db()
            store.load_seeds(db, config.vendors, config.resellers, config.agencies)
            with usaspending_client(config) as client, _Progress() as progress:
                results = run_backfill(
                    db, config, client, since, until, watch_names=list(watches) or None, progress=progress
                )
    except WatcherError as exc:
        _fail(exc)
    failed = 0
    for r in results:
        line = (
            f"{r.watch}: {r.since}..{r.until}: {r.awards} awards read ({r.awards - r.rejected} kept),"
            f" {r.transactions} actions, {r.requests} requests, {r.slices} slices"
            + (f" ({r.slices_skipped} done before)" if r.slices_skipped else "")
        )
        if r.errors:
            failed += 1
            click.echo(f"{line}; FAILED: {r.errors[0]} (run the same command again to resume)", err=True)
        else:
            click.echo(line)
    sys.exit(1 if failed else 0)


class _Progress:
    """A progress bar on a terminal (items, rate, time left); a log line every 10 seconds otherwise."""

    def __enter__(self) -> Any:
        import time

        self.bar: Any = None
        self.phase = ""
        self.last = 0.0
        tty = sys.stderr.isatty()

        def update(phase: str, done: int, total: int) -> None:
            if tty:
                if phase != self.phase:
                    if self.bar is not None:
                        self.bar.render_finish()
                    self.phase = phase
                    self.bar = click.progressbar(
                        length=max(total, 1), label=f"backfill {phase}", show_pos=True, show_eta=True, file=sys.stderr
                    )
                    self.bar.render_progress()
                self.bar.update(max(0, min(done, self.bar.length) - self.bar.pos))
            elif time.monotonic() - self.last >= 10:
                self.last = time.monotonic()
                click.echo(f"backfill {phase}: {done} of ~{total}", err=True)

        return update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.render_finish()


def _poll(state: State, config: Config, watches: tuple[str, ...] = (), source: str | None = None) -> int:
    """Poll under the writer lock, print a line per watch and source; returns how many runs failed."""
    from .pipeline import run_all
    from .sam_client import sam_client_for

    with writer_lock(state.db_path):
        db = state.open_db()
        store.load_seeds(db, config.vendors, config.resellers, config.agencies)
        with usaspending_client(config) as client, sam_client_for(config, db) as sam:
            results = run_all(db, config, client, watch_names=list(watches) or None, sam=sam, sources=source)
        from datetime import UTC, datetime

        from . import health

        for line in health.notify_admins(db, config, datetime.now(UTC)):
            click.echo(line, err=line.startswith("alert not sent"))
    failed = 0
    for r in results:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(r.kinds.items())) or "no changes"
        if r.status == "ok":
            what = "notices" if r.source == "sam_opportunities" else "awards"
            click.echo(f"{r.watch} / {r.source}: {r.records} {what}, {r.requests} requests, {kinds}")
        elif r.status == "skipped":
            click.echo(f"{r.watch} / {r.source}: skipped: {r.error}")
        else:
            failed += 1
            click.echo(f"{r.watch} / {r.source}: FAILED after {r.requests} requests: {r.error}", err=True)
    return failed


def _parse_now(text: str | None) -> Any:
    from datetime import UTC, datetime

    from .schedule import parse_utc

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
    try:
        config = state.config()
        _require_known(state, "subscriber", subscribers, config.subscribers)
        if not state.db_path.exists():
            raise ConfigError(f"{state.db_path}: no database yet; run `watcher poll` first")
        failed = _digests(state, config, _parse_now(now_text), outbox, dry_run, subscribers)
    except WatcherError as exc:
        _fail(exc)
    sys.exit(1 if failed else 0)


def _digests(
    state: State, config: Config, now: Any, outbox: Path | None, dry_run: bool, subscribers: tuple[str, ...] = ()
) -> int:
    """Send (or write) the due digests, print a line per subscriber; returns how many failed."""
    from .deliveries import run_digests

    if not config.subscribers:
        click.echo(f"{state.config_path}: no subscribers configured; nothing to send")
        return 0
    with writer_lock(state.db_path, "digest"):
        db = state.open_db()
        results = run_digests(db, config, now=now, outbox=outbox, dry_run=dry_run, only=list(subscribers) or None)
    for r in results:
        head = f"{r.subscriber}: {r.status}"
        if r.subject:
            head += f": {r.subject} ({r.changes} changes)"
        click.echo(head + (f" -> {r.detail}" if r.detail else ""), err=r.failed)
    return sum(r.failed for r in results)


@cli.command()
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=Path("site"),
    show_default=True,
    help="The site folder (a symlink to the current build).",
)
@click.option("--full", is_flag=True, help="Rebuild everything (default: only what changed since the last build).")
@click.pass_obj
def site(state: State, out: Path, full: bool) -> None:
    """Build the static site: pages, Atom feeds, downloads and the search index."""
    if not state.db_path.exists():
        _fail(ConfigError(f"{state.db_path}: no database yet; run `watcher poll` (or `watcher demo`)"))
    try:
        _site(state, state.config(), out, full)
    except WatcherError as exc:
        _fail(exc)
    click.echo(f"serve it:  python3 -m http.server --directory {out} 8000   then open http://127.0.0.1:8000/")


def _site(state: State, config: Config, out: Path, full: bool) -> None:
    from . import site_build
    from .schedule import iso_utc

    with writer_lock(out.parent / out.name, "site"):
        db = state.open_db()
        result = site_build.build(db, config, out, now=iso_utc(_parse_now(None)), full=full)
    kind = "full build" if result.full else f"incremental: {len(result.touched)} changed awards"
    click.echo(
        f"{out}: {kind}, {result.files} files, {result.awards} award pages, search: {result.search},"
        f" {result.seconds:.1f} s"
    )


@cli.command()
@click.option(
    "--site",
    "site_out",
    type=click.Path(path_type=Path),
    default=Path("site"),
    show_default=True,
    help="Where to build the site.",
)
@click.option("--no-site", is_flag=True, help="Skip the site.")
@click.pass_obj
def run(state: State, site_out: Path, no_site: bool) -> None:
    """One full pass for cron: poll every watch, update the site, send the digests that are due.

    A failing step does not stop the next ones (the site and digests work from what is
    stored); the exit code is 1 if any of them failed.
    """
    try:
        config = state.config()
    except WatcherError as exc:
        _fail(exc)
    steps: list[tuple[str, Any]] = [("poll", lambda: _poll(state, config))]
    if not no_site:
        steps.append(("site", lambda: _site(state, config, site_out, False)))
    steps.append(("digest", lambda: _digests(state, config, _parse_now(None), None, False)))
    failed = 0
    for name, step in steps:
        try:
            failed += step() or 0  # poll and digest return how many failed; the site raises
        except WatcherError as exc:
            click.echo(f"{name}: error: {exc}", err=True)
            failed += 1
    sys.exit(1 if failed else 0)


@cli.command("test-email")
@click.argument("address")
@click.option("--outbox", type=click.Path(path_type=Path, file_okay=False), help="Write it here instead of sending.")
@click.pass_obj
def test_email(state: State, address: str, outbox: Path | None) -> None:
    """Send one test message to ADDRESS through the configured SMTP server, to check the settings."""
    from datetime import UTC, datetime
    from email.utils import make_msgid

    from markupsafe import escape

    from . import mailer
    from .config import email_address
    from .schedule import iso_utc

    try:
        config = state.config()
        try:
            address = email_address(address)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        email = config.settings.email
        now = datetime.now(UTC)
        text = (
            "This is a test message from watcher.\n\nIf you can read it, digests can reach this address.\n"
            f"Sent {iso_utc(now)} via {email.smtp.host if email.smtp else 'the outbox (no SMTP server configured)'}.\n"
        )
        message = mailer.build_message(
            sender=email.from_,
            to=address,
            subject="watcher: test message",
            text=text,
            html=f"<p>{str(escape(text)).replace(chr(10), '<br>')}</p>",
            message_id=make_msgid(idstring="test", domain=mailer.domain_of(email.from_)),
            date=iso_utc(now),
            list_id=f'"watcher test" <test.{mailer.domain_of(email.from_)}>',
            unsubscribe=f"mailto:{mailer.parseaddr(email.from_)[1]}",
        )
        if outbox is not None or email.smtp is None:
            path = mailer.write_eml(outbox or config.outbox(), f"test-{now:%Y%m%dT%H%M%S}.eml", message)
            click.echo(f"no SMTP server used: written to {path}")
        else:
            mailer.send(email.smtp, email.from_, address, message)
            click.echo(f"sent to {address} via {email.smtp.host}")
    except WatcherError as exc:
        _fail(exc)


@cli.command()
@click.pass_obj
def daemon(state: State) -> None:
    """Run the schedule in queries.yaml (settings.schedule) until SIGTERM or Ctrl-C."""
    from .daemon import run_daemon

    try:
        config = state.config()
        code = run_daemon(config, state.db_path)
    except WatcherError as exc:
        _fail(exc)
    sys.exit(code)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(state: State, as_json: bool) -> None:
    """Last runs, errors and table sizes."""
    from . import status as status_mod

    if not state.db_path.exists():
        _fail(ConfigError(f"{state.db_path}: no database yet; run `watcher init` or `watcher poll`"))
    db = state.open_db()
    data = status_mod.report(db, state.db_path)
    try:
        from .daemon import next_runs
        from .sam_client import budget_report

        config = state.config()
        data["next_runs"] = next_runs(config)
        data["sam"] = budget_report(db, config)
    except WatcherError:
        data["next_runs"] = {}  # status still works without a valid config
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
    from .config import default_seeds_dir
    from .demo import run_demo

    db_path = state.db_path if state.db_explicit else Path("demo.db")
    if db_path.exists():
        if state.db_explicit and not replace:
            _fail(ConfigError(f"{db_path} exists; the demo writes a fresh database (pass --replace to overwrite it)"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    outbox = db_path.parent / "demo-outbox"
    for old in outbox.glob("*.eml"):  # the previous demo's digests
        old.unlink()
    try:
        config = state.config()
        seeds = Path(config.settings.seeds_dir) if config.settings.seeds_dir else default_seeds_dir()
        if not (seeds / "ice").exists():
            seeds = default_seeds_dir()
        with writer_lock(db_path):
            db = state.open_db(db_path)
            store.load_seeds(db, config.vendors, config.resellers, config.agencies)
            results = run_demo(db, config, seeds, echo=click.echo, outbox=outbox)
    except WatcherError as exc:
        _fail(exc)
    from . import site_build as site_mod
    from . import status as status_mod

    site_dir = db_path.parent / "demo-site"
    if site_dir.exists() and not site_dir.is_symlink():
        _fail(ConfigError(f"{site_dir} exists and was not made by watcher; remove it to let the demo build its site"))
    try:
        built = site_mod.build(db, config, site_dir, now="2026-08-22T12:00:00Z", full=True)
    except WatcherError as exc:
        _fail(exc)
    click.echo(f"\nsite: {built.files} files in {site_dir} ({built.seconds:.1f} s)")
    click.echo("")
    click.echo(status_mod.render(status_mod.report(db, db_path)))
    click.echo(
        f'\nExplore it:  sqlite3 {db_path} "SELECT kind, entity_key, diff FROM changes ORDER BY id DESC LIMIT 10"'
        f"\n             watcher --db {db_path} status"
        f"\n             ls {outbox}   (the digests, as .eml files; open one in a mail client)"
        f"\n             python3 -m http.server --directory {site_dir} 8000   (the site: http://127.0.0.1:8000/)"
    )
    sys.exit(1 if any(r.status != "ok" for r in results) else 0)


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
    import tempfile

    from . import schema_doc
    from .config import QueriesFile

    if fmt == "datasette":
        click.echo(schema_doc.datasette_json(), nl=False)
        return
    if fmt == "queries":  # for editors: the YAML language server autocompletes and checks queries.yaml
        click.echo(json.dumps(QueriesFile.model_json_schema(), indent=2, sort_keys=True))
        return
    with tempfile.TemporaryDirectory() as tmp:  # the schema as the code creates it, whatever --db holds
        click.echo(schema_doc.markdown(store.open_db(Path(tmp) / "schema.db")), nl=False)


@cli.command()
@click.argument("award")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--raw", is_flag=True, help="The API records kept for the award and its actions.")
@click.pass_obj
def history(state: State, award: str, as_json: bool, raw: bool) -> None:
    """One award's full timeline: AWARD is its award_key or its PIID."""
    from . import export as export_mod

    if not state.db_path.exists():
        _fail(ConfigError(f"{state.db_path}: no database yet; run `watcher poll` (or `watcher demo`)"))
    db = state.open_db()
    try:
        if raw:
            click.echo(json.dumps(export_mod.raw_records(db, award), indent=2, default=_json_default))
            return
        h = export_mod.history(db, award)
    except WatcherError as exc:
        _fail(exc)
    click.echo(json.dumps(h, indent=2, default=_json_default) if as_json else export_mod.render_history(h))


@cli.command()
@click.argument("what", type=click.Choice(["awards", "transactions", "changes"]))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--watch", help="Only awards matched by this watch.")
@click.option("--vendor", help="Only awards matched to this vendor key (e.g. palantir).")
@click.option("--agency", help="Only this awarding or funding component (key, abbreviation or part of the name).")
@click.option("--since", help="From this ISO date (last modified, action or detection date).")
@click.option("--until", help="Up to this ISO date, inclusive.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), help="Write here instead of standard output.")
@click.pass_obj
def export(
    state: State,
    what: str,
    fmt: str,
    watch: str | None,
    vendor: str | None,
    agency: str | None,
    since: str | None,
    until: str | None,
    out_path: Path | None,
) -> None:
    """Export awards, transactions or changes as CSV (spreadsheet-safe) or JSON."""
    from . import export as export_mod

    if not state.db_path.exists():
        _fail(ConfigError(f"{state.db_path}: no database yet; run `watcher poll` (or `watcher demo`)"))
    db = state.open_db()
    filters = export_mod.Filters(watch=watch, vendor=vendor, agency=agency, since=since, until=until)
    write = export_mod.write_csv if fmt == "csv" else export_mod.write_json
    records = export_mod.rows(db, what, filters)
    if out_path:
        with out_path.open("w", encoding="utf-8", newline="") as fh:
            n = write(records, fh)
        click.echo(f"{n} {what} written to {out_path}", err=True)
    else:
        write(records, sys.stdout)


@cli.command()
@click.option("--port", type=int, default=8001, show_default=True)
@click.pass_obj
def ui(state: State, port: int) -> None:
    """Open the database in Datasette, with descriptions and canned queries (pip install "watcher[ui]")."""
    import shutil
    import subprocess
    import tempfile

    from . import schema_doc

    datasette = shutil.which("datasette") or str(Path(sys.executable).parent / "datasette")
    if not Path(datasette).exists():
        _fail(ConfigError('Datasette is not installed: pip install "watcher[ui]"'))
    if not state.db_path.exists():
        _fail(ConfigError(f"{state.db_path}: no database yet; run `watcher poll` (or `watcher demo`)"))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        fh.write(schema_doc.datasette_json(state.db_path.stem))
    cmd = [datasette, "serve", str(state.db_path), "-m", fh.name, "--port", str(port), "--host", "127.0.0.1"]
    sys.exit(subprocess.call(cmd))  # noqa: S603 - our own paths and flags, no shell


if __name__ == "__main__":  # pragma: no cover
    cli()
