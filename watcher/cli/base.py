"""The ``watcher`` command group and what every command shares: state, options, the one error handler.

Exit codes: 0 every watch succeeded; 1 some watch failed (the others still ran);
2 usage or configuration error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from watcher import __version__, store
from watcher.config import Config, load_config
from watcher.errors import ConfigError, WatcherError
from watcher.ops import logs

STARTER_CONFIG = Path(__file__).resolve().parent.parent / "default_queries.yaml"


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
