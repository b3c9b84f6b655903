"""The optional second channel: a short digest notice to chat and push services through Apprise.

Apprise URLs embed tokens, so they live in an environment variable the subscriber's
``apprise_env`` names, never in queries.yaml or the database; messages say "entry 2",
never the URL. Install with ``pip install "watcher[apprise]"``.
"""

from __future__ import annotations

import logging
import os

from watcher.digest.build import Digest
from watcher.digest.mailer import DeliveryError

MAX_LINES = 10


def message(digest: Digest) -> tuple[str, str]:
    """Title and plain-text body: the summary, the biggest items, and where to read the rest."""
    lines = [digest.period]
    listed = [i for s in digest.sections for g in s.groups for i in g.items]
    for item in listed[:MAX_LINES]:
        lines.append(f"- {item.headline}")
    more = len(digest.items) - min(len(listed), MAX_LINES)
    if more > 0:
        lines.append(
            f"...and {more} more in the e-mail digest" + (f" and on {digest.site_url}" if digest.site_url else "")
        )
    return digest.subject, "\n".join(lines)


def send(env_name: str, title: str, body: str) -> None:
    """Notify every URL in ``$env_name``; raises DeliveryError (without any URL) if one is refused."""
    urls = os.environ.get(env_name, "").replace(",", " ").split()
    if not urls:
        raise DeliveryError(f"{env_name} is not set (it should hold the subscriber's Apprise URLs)")
    try:
        import apprise
    except ImportError:
        raise DeliveryError('Apprise is not installed: pip install "watcher[apprise]"') from None
    logging.getLogger("apprise").setLevel(logging.CRITICAL)  # its own messages can quote the URL
    for i, url in enumerate(urls, 1):
        target = apprise.Apprise()
        if not target.add(url):
            raise DeliveryError(f"{env_name}: entry {i} is not an Apprise URL Apprise can use")
        if not target.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT):
            raise DeliveryError(f"{env_name}: entry {i} did not accept the notification")
