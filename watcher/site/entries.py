"""One change as a timeline or feed entry: the shape every page's timeline and every Atom feed reads.

Award, subaward and notice pages word a change differently (the digest's items), but the entry
they make of it is one shape, written here once so the timelines cannot drift apart.
"""

from __future__ import annotations

import uuid
from typing import Any

from watcher.words import KIND_LABELS


def feed_uuid(*parts: Any) -> str:
    """A stable ``urn:uuid`` for a feed or entry: the same parts give the same id in every build."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'watcher:' + ':'.join(str(p) for p in parts))}"


def timeline_entry(
    c: dict[str, Any], item: Any, page: str | None, official: str | None, url: str | None
) -> dict[str, Any]:
    """A timeline and feed entry for one change, worded by the digest's item."""
    return {
        "id": c["id"],
        "detected_at": c["detected_at"],
        "kind": c["kind"],
        "kind_label": KIND_LABELS.get(c["kind"], c["kind"]),
        "headline": item.headline,
        "facts": item.facts,
        "page": page,
        "official": official,
        "url": url,
        "atom_id": feed_uuid("change", c["id"], c["entity_key"], c["detected_at"]),
        "summary": "; ".join(item.facts) or item.headline,
    }
