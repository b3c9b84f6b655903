"""The one Jinja2 environment both outputs (digest e-mails and the site) render with.

The user's template folder first, the package defaults second; autoescape by extension
(``.html`` and ``.xml`` escaped, ``.txt`` not), and StrictUndefined so a typo in a
template fails loudly instead of rendering blank.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined, select_autoescape

from watcher.words import day, usd, usd_short


def _upfirst(text: str) -> str:
    return text[:1].upper() + text[1:]


def environment(user_dir: Path | None = None) -> Environment:
    """Templates from ``user_dir`` (when it exists) over the packaged ones, with the money filters."""
    loaders = [FileSystemLoader(str(user_dir))] if user_dir and user_dir.is_dir() else []
    env = Environment(
        loader=ChoiceLoader([*loaders, PackageLoader("watcher", "templates")]),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(usd=usd, usd_short=usd_short, upfirst=_upfirst, day=day)
    return env
