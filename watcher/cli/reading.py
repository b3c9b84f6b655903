"""The reading commands: schema, history, export, the review queue and the Datasette UI."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from watcher.cli.base import State, cli
from watcher.ops import datasette
from watcher.ops import review as review_ops
from watcher.site import export as export_mod
from watcher.store import schema_doc


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
