"""Render a digest into a subject, a plain-text part and an HTML part with its CSS inlined.

One Jinja2 environment: the user's template folder first, the package defaults second;
autoescape by extension (``.html`` escaped, ``.txt`` not), and StrictUndefined so a
typo in a template fails loudly instead of rendering blank. API text is never marked
safe. The HTML part is kept under Gmail's clipping size by listing fewer items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import css_inline
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined, select_autoescape

from .digest import Digest, usd, usd_short

#: Gmail clips messages over about 102 KB; stay clearly below.
HTML_LIMIT_BYTES = 100_000
KIND_WORDS = {"new": "New", "modified": "Modified", "changed": "Changed", "deleted": "Deleted", "notice": "Notice"}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _upfirst(text: str) -> str:
    return text[:1].upper() + text[1:]


def environment(user_dir: Path | None = None) -> Environment:
    loaders = [FileSystemLoader(str(user_dir))] if user_dir and user_dir.is_dir() else []
    env = Environment(
        loader=ChoiceLoader([*loaders, PackageLoader("watcher", "templates")]),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(usd=usd, usd_short=usd_short, upfirst=_upfirst)
    return env


_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)


def render(env: Environment, digest: Digest) -> Rendered:
    ctx = {"digest": digest, "kind_words": KIND_WORDS}
    subject = " ".join(env.get_template("email/subject.txt").render(ctx).split())
    text = env.get_template("email/digest.txt").render(ctx)
    html = _INLINER.inline(env.get_template("email/digest.html").render(ctx))
    return Rendered(subject=subject, text=text, html=html)


def render_within(
    env: Environment, make: Callable[[int | None], Digest], limit: int = HTML_LIMIT_BYTES
) -> tuple[Digest, Rendered]:
    """Render, listing fewer items until the HTML part fits (the rest are summarized with a link)."""
    digest = make(None)
    out = render(env, digest)
    listed = sum(len(g.items) for s in digest.sections for g in s.groups)
    while len(out.html.encode("utf-8")) > limit and listed > 1:
        listed = max(1, listed // 2)
        digest = make(listed)
        out = render(env, digest)
    return digest, out
