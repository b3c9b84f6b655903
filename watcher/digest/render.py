"""Render a digest into a subject, a plain-text part and an HTML part with its CSS inlined.

Templates come from the shared environment (``watcher.templating``). API text is never
marked safe. The HTML part is kept under Gmail's clipping size by listing fewer items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import css_inline
from jinja2 import Environment

from watcher.digest.build import Digest

#: Gmail clips messages over about 102 KB; stay clearly below.
HTML_LIMIT_BYTES = 100_000
KIND_WORDS = {
    "new": "New",
    "modified": "Modified",
    "changed": "Changed",
    "subaward": "Subaward",
    "deleted": "Deleted",
    "notice": "Notice",
    "ending": "Ending soon",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


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
