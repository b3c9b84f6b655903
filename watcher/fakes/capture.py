"""A capture served back: each request answered with the response recorded for it (``--record DIR``).

A user who runs ``watcher poll --record DIR`` against the real APIs can send us DIR; a
test then points the watcher at this server instead of the API and sees exactly what
the user's watcher saw. A request that is not in the capture is answered 404 with a
body that says so (a changed request, not a changed API). The same request recorded
several times (a walk re-read the next day) is answered in the order it was recorded.
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl

from watcher.capture import request_key
from watcher.fakes import server as localserver


class CaptureReplay(localserver.Served):
    """The recorded responses of one source (``DIR/<source>/``), by request."""

    def __init__(self, root: Path, source: str) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, list[tuple[int, bytes, str]]] = {}
        self._served: dict[str, int] = {}
        self.misses: list[str] = []
        for meta_path in sorted((Path(root) / source).glob("*.request.json")):
            meta = json.loads(meta_path.read_text(), parse_float=Decimal)
            body_path = meta_path.with_name(meta_path.name.removesuffix(".request.json") + ".json")
            key = request_key(meta["method"], meta["path"], meta.get("params"), meta.get("body"))
            answer = (int(meta["status"]), body_path.read_bytes(), meta.get("content_type") or "application/json")
            self._answers.setdefault(key, []).append(answer)

    def __len__(self) -> int:
        return sum(len(v) for v in self._answers.values())

    def answer(self, method: str, target: str, body: bytes) -> tuple[int, bytes, str]:
        path, _, query = target.partition("?")
        try:
            sent = json.loads(body, parse_float=Decimal) if body else None
        except ValueError:
            sent = body.decode("utf-8", "replace")
        key = request_key(method, path, parse_qsl(query, keep_blank_values=True), sent)
        with self._lock:
            answers = self._answers.get(key)
            if not answers:
                self.misses.append(key)
                return 404, json.dumps({"detail": f"not in the capture: {key[:300]}"}).encode(), "application/json"
            n = self._served.get(key, 0)
            self._served[key] = n + 1
        return answers[min(n, len(answers) - 1)]
