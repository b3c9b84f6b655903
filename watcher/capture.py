"""Captures: every API response a command receives, saved so a user can send it and a test can replay it.

``--record DIR`` on ``poll``, ``backfill`` and ``check --live`` writes, per source, in the
layout of tests/fixtures (one JSON body per file, named for its endpoint):

    DIR/usaspending/0001__search_spending_by_award.json           the body, byte for byte
    DIR/usaspending/0001__search_spending_by_award.request.json   what was asked, and the status

Nothing secret is written: the SAM.gov key (a URL parameter) is replaced before the
request file is written, and a body that happens to echo a secret is redacted too (the
client passes its ``redact``). ``watcher.fakes.capture`` serves a capture back.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The parameters that carry a secret, replaced in every capture.
SECRET_PARAMS = frozenset({"api_key", "apikey", "key"})
REDACTED = "REDACTED"


def endpoint_name(path: str) -> str:
    """A file-name stem for a request path: ``/api/v2/search/spending_by_award/`` -> ``search_spending_by_award``."""
    stem = path.split("?", 1)[0].strip("/").removeprefix("api/v2/").removeprefix("prod/")
    if stem.startswith("search/"):  # tests/fixtures' own spelling: search_spending_by_award__...
        stem = "search_" + stem.removeprefix("search/")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem.replace("/", "__"))[:120] or "root"


def clean_params(params: Any) -> dict[str, Any]:
    """Query parameters with every secret replaced (the SAM.gov key travels in the URL)."""
    items = params.items() if isinstance(params, dict) else (params or [])
    return {str(k): (REDACTED if str(k).lower() in SECRET_PARAMS else v) for k, v in items}


def param_pairs(params: Any) -> list[tuple[str, str]]:
    """Parameters as sorted (name, value) pairs, a list value repeated, secrets left out: as a server sees them."""
    items = params.items() if isinstance(params, dict) else (params or [])
    pairs = []
    for name, value in items:
        if str(name).lower() in SECRET_PARAMS:
            continue
        for v in value if isinstance(value, list | tuple) else [value]:
            pairs.append((str(name), str(v)))
    return sorted(pairs)


def request_key(method: str, path: str, params: Any, body: Any) -> str:
    """How a replay finds the answer to a request: method, path, parameters (secrets aside) and JSON body."""
    return json.dumps([method.upper(), path.split("?", 1)[0], param_pairs(params), body], sort_keys=True, default=str)


class Recorder:
    """Writes each response of one source under ``root/<source>/``, numbered in the order received.

    Several clients (USAspending, SAM.gov) may share one capture directory; numbering
    continues after any files already there, so a second command adds to a capture.
    """

    def __init__(self, root: Path, source: str, redact: Callable[[str], str] = lambda s: s) -> None:
        self.dir = Path(root) / source
        self.dir.mkdir(parents=True, exist_ok=True)
        self.redact = redact
        self._lock = threading.Lock()
        existing = [int(p.name.split("__", 1)[0]) for p in self.dir.glob("*.request.json") if p.name[:4].isdigit()]
        self._numbers = itertools.count(max(existing, default=0) + 1)

    def record(
        self, method: str, path: str, params: Any, body: Any, status: int, content_type: str, content: bytes
    ) -> Path:
        """Save one response; returns the path of its body."""
        text = content.decode("utf-8", errors="surrogateescape")
        clean = self.redact(text)
        if clean != text:
            content = clean.encode("utf-8", errors="surrogateescape")
        with self._lock:
            stem = f"{next(self._numbers):04d}__{endpoint_name(path)}"
        meta = {
            "method": method.upper(),
            "path": self.redact(path.split("?", 1)[0]),
            "params": clean_params(params),
            "body": body,
            "status": status,
            "content_type": content_type,
        }
        (self.dir / f"{stem}.json").write_bytes(content)
        (self.dir / f"{stem}.request.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        return self.dir / f"{stem}.json"
