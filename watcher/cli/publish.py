"""``watcher publish``: send the built site to its web server (rsync) or to a gh-pages-style git branch."""

from __future__ import annotations

from pathlib import Path

import click

from watcher import jobs
from watcher.cli.base import State, cli


@cli.command()
@click.option(
    "--site",
    "site",
    type=click.Path(path_type=Path),
    default=None,
    help="The built site folder (default: settings.schedule.site_dir, where the daemon builds it).",
)
@click.pass_obj
def publish(state: State, site: Path | None) -> None:
    """Publish the built site as settings.publish says: rsync to a folder, or push a gh-pages-style branch.

    Publishing what is already published changes nothing (no file rewritten, no new commit);
    a failure leaves the destination as it was.
    """
    config = state.config()
    click.echo(jobs.publish_site(config, site or config.site_dir()).line())
