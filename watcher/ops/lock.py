"""One writer per database: an advisory file lock next to it, naming the process that holds it."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from watcher.errors import ConfigError


class Locked(ConfigError):
    """Another watcher process is writing to this database."""


@contextmanager
def writer_lock(db_path: Path, role: str = "") -> Iterator[None]:
    """Hold ``<db>.lock`` (or ``<db>.<role>.lock``) for the duration; a second holder fails at once, saying who."""
    path = Path(f"{db_path}.{role}.lock" if role else f"{db_path}.lock")
    fh = path.open("a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise Locked(
                f"{db_path}: another watcher {role or 'writer'} process (pid {holder}) is using it; try again later"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the lock
