"""The site's files and sources: an atomic file writer, the public copy of the database, grouped row streams."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import zlib
from collections.abc import Iterable
from itertools import groupby
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from watcher.errors import WatcherError
from watcher.http import redact_bytes
from watcher.store import keep_latest_only


class SiteError(WatcherError):
    """The output folder cannot be used, or the search indexer failed."""


class Writer:
    """Writes files under one build directory; atomically (temp file + rename) when replacing live files."""

    def __init__(self, root: Path, atomic: bool) -> None:
        self.root, self.atomic, self.count = root, atomic, 0
        self._dirs: set[Path] = set()

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        if path.parent not in self._dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(path.parent)
        self.count += 1
        if not self.atomic:
            path.write_text(text, encoding="utf-8")
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)


def public_copy(db: Database, dest: Path) -> None:
    """A consistent snapshot of the database without the subscribers' addresses and digests, the review
    queue (the operator's notes on orders that are not matches), and no secret.

    Each record's raw answers are in their latest version only (the database keeps a few).

    SAM.gov answers stored before their redaction at receipt are redacted here (the key as the
    environment has it): an answer that echoed the key is published without it.
    """
    dest.unlink(missing_ok=True)
    target = sqlite3.connect(dest)
    try:
        db.conn.backup(target)
        # secure_delete overwrites what is deleted, so no address survives in a free page (cheaper than VACUUM).
        target.executescript(
            "PRAGMA secure_delete = ON; DELETE FROM delivery_items; DELETE FROM deliveries; DELETE FROM subscribers;"
            " DELETE FROM review; PRAGMA journal_mode = DELETE;"
        )
        _redact_sam_responses(target)
        keep_latest_only(target)  # one version of each record's raw answers, not every one kept
        pages, free = (target.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count"))
        if free * 4 > pages:  # what was dropped is a large part of the file: make the download small
            target.execute("VACUUM")
        target.executescript("PRAGMA journal_mode = DELETE;")
    finally:
        target.close()


def _redact_sam_responses(conn: sqlite3.Connection) -> None:
    changed = []
    for rid, content in conn.execute("SELECT id, content FROM responses WHERE source LIKE 'sam%'"):
        body = zlib.decompress(content)
        clean = redact_bytes(body)
        if clean is not body:
            changed.append((zlib.compress(clean, 1), rid))
    with conn:
        conn.executemany("UPDATE responses SET content = ? WHERE id = ?", changed)


class _Grouped:
    """Rows from a query ordered by award_key, taken group by group as the award pages advance."""

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self._groups = groupby(rows, key=lambda r: r["award_key"])
        self._key: str | None = None
        self._rows: list[dict[str, Any]] = []
        self._advance()

    def _advance(self) -> None:
        try:
            k, rows = next(self._groups)
            self._key, self._rows = k, list(rows)
        except StopIteration:
            self._key, self._rows = None, []

    def take(self, key: str) -> list[dict[str, Any]]:
        while self._key is not None and self._key < key:
            self._advance()
        if self._key == key:
            rows = self._rows
            self._advance()
            return rows
        return []


def grouped(db: Database, sql: str, args: list[Any]) -> _Grouped:
    """Each stream is its own cursor: the award pages walk several ordered scans side by side."""
    return _Grouped(db.query(sql, args))
