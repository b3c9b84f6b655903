"""``watcher vendors suggest`` and ``watcher vendors add``: find a company's recipients, then add it to your
own vendors file (vendorfile.py), an overlay on the shipped map that survives package upgrades."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from watcher import vendorfile, yamlpos
from watcher.cli.base import STARTER_CONFIG, State, cli
from watcher.config import Config, load_config
from watcher.errors import ConfigError
from watcher.http import usaspending_client
from watcher.names import normalize_name
from watcher.sources.usaspending import recipients
from watcher.values import to_decimal


def origin_lines(config: Config) -> list[str]:
    """Where each vendor a watch uses (and each one of your own file) is defined: for ``watcher check``.

    Shipped definitions are listed together on one line; yours, and shipped ones you extend, one per line."""
    used = {k for w in config.watches.values() for k in w.vendors}
    mine = {k.split(".", 1)[1] for k, o in config.origins.items() if k.startswith("vendors.") and o != "shipped"}
    keys = [k for k in config.vendors if k in used | mine]
    shipped = [k for k in keys if config.origins.get(f"vendors.{k}", "shipped") == "shipped"]
    lines = ["  vendor definitions:"] if keys else []
    if shipped:
        lines.append(f"    {config.origin('vendors', shipped[0])}: {', '.join(shipped)}")
    for key in (k for k in keys if k not in shipped):
        v = config.vendors[key]
        ueis = f", {len(v.ueis)} UEI(s)" if v.ueis else ""
        lines.append(f"    {key} ({v.name}{ueis}): {config.origin('vendors', key)}")
    return lines


@cli.group()
def vendors() -> None:
    """Find a company's USAspending recipients, and add vendors in your own vendors.yaml."""


def _describe(c: recipients.Candidate, indent: str = "  ", first: str = "") -> list[str]:
    level = {"P": "parent", "C": "child", "R": "recipient"}.get(c.level or "", "name only")
    lines = [f"{indent}{first}{c.name}  [{level}]  UEI {c.uei or '-'}" + (f"  DUNS {c.duns}" if c.duns else "")]
    indent += " " * len(first)
    lines.append(f"{indent}  normalized: {c.normalized}; found by: {c.found_by}")
    if c.parent_name or c.parent_uei:
        lines.append(f"{indent}  parent: {c.parent_name or '?'} (UEI {c.parent_uei or '-'})")
    if c.alternate_names:
        lines.append(f"{indent}  also published as: {'; '.join(c.alternate_names)}")
    if c.dhs is not None:
        lines.append(f"{indent}  DHS: {c.dhs.words()}")
        ex = c.dhs.example
        if ex:
            desc = str(ex.get("Description") or "")[:90]
            amount = to_decimal(ex.get("Award Amount"))
            lines.append(
                f"{indent}  e.g. {ex.get('Award ID')} ({ex.get('Awarding Sub Agency') or 'DHS'}),"
                f" ${amount or 0:,.2f}: {desc}"
            )
    return lines


@vendors.command()
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 50), default=10, show_default=True, help="Candidates to check.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def suggest(state: State, name: str, limit: int, as_json: bool) -> None:
    """Ask USAspending which recipients NAME may be: UEIs, parents, children and DHS awards. Adds nothing."""
    config = state.config()
    today = datetime.now(UTC).date()
    with usaspending_client(config) as client:
        found = recipients.suggest(client, name, today, limit)
    if as_json:
        click.echo(json.dumps([asdict(c) for c in found], indent=2, default=str))
        return
    if not found:
        click.echo(f"USAspending knows no recipient named like {name!r}.")
        return
    click.echo(f"Recipients USAspending knows for {name!r} (check each; nothing was added):")
    for c in found:
        click.echo("")
        click.echo("\n".join(_describe(c)))
        for child in c.children:
            click.echo("\n".join(_describe(child, indent="    ", first="child: ")))
    ueis = [u for c in found for u in [c.uei, *(ch.uei for ch in c.children)] if u]
    key = "_".join(normalize_name(name).lower().split()[:2]) or "vendor"
    click.echo("\nTo watch it, choose the aliases and UEIs that are the company, then for example:")
    alias = f'--alias "{found[0].normalized}"'
    uei = f" --uei {ueis[0]}" if ueis else ""
    click.echo(f'  watcher vendors add {key} --name "{name}" {alias}{uei} --evidence "what shows it"')


@vendors.command()
@click.argument("key")
@click.option("--name", help="The vendor's name (required for a new vendor).")
@click.option("--alias", "aliases", multiple=True, help="A recipient-name prefix (repeatable).")
@click.option("--uei", "ueis", multiple=True, help="A recipient UEI that is the vendor (repeatable).")
@click.option("--parent-uei", "parent_ueis", multiple=True, help="A parent UEI: its children match (repeatable).")
@click.option("--mention", "mentions", multiple=True, help="A product word to find in descriptions (repeatable).")
@click.option("--evidence", required=True, help="Why: the record that shows it (kept with every UEI and the vendor).")
@click.option("--file", "path", type=click.Path(path_type=Path), help="Your vendors file (default: the one in use).")
@click.pass_obj
def add(state: State, key: str, path: Path | None, evidence: str, **given: Any) -> None:
    """Add vendor KEY (or extend a shipped one) in your own vendors file, then check the config with it."""
    if not key.replace("_", "").isalnum() or not key.islower():
        raise ConfigError(f"vendor key {key!r}: use lower-case letters, digits and _ (e.g. babel_street)")
    folder = Path.cwd() if state.config_path == STARTER_CONFIG or not state.config_path.exists() else None
    config = state.config()
    folder = folder or config.path.parent
    target = path or vendorfile.target(folder, config.settings.vendors_file)
    if key not in config.vendors and not given.get("name"):
        raise ConfigError(f"vendor {key!r} is new (neither shipped nor in {target}): give its --name")
    entry: dict[str, Any] = {}
    if given.get("name"):
        entry["name"] = given["name"]
    for field in ("aliases", "mentions"):
        if given.get(field):
            entry[field] = list(given[field])
    for field in ("ueis", "parent_ueis"):
        if given.get(field):
            entry[field] = [{"uei": u.strip().upper(), "evidence": evidence} for u in given[field]]
    entry["evidence"] = [evidence]
    before = target.read_bytes() if target.exists() else None
    written = vendorfile.add(target, "vendors", key, entry, yamlpos.load)
    try:
        checked = load_config(config.path, root=config.root) if path is None else None
    except ConfigError:
        if before is None:
            target.unlink()
        else:
            target.write_bytes(before)
        raise
    click.echo(f"{target}: vendor {key} ({written.get('name') or key}) written")
    if checked is not None:
        click.echo(f"  {checked.origin('vendors', key)}")
        using = [w for w, spec in checked.watches.items() if key in spec.vendors]
        if not using:
            click.echo(f"  no watch uses it yet: add {key} to a watch's vendors in {config.path}, then `watcher poll`")
