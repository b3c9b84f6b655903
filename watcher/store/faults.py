"""Storage faults in plain words, and the refusal to write a database from a newer watcher.

A read-only file or folder, a full disk, a truncated file or a zeroed header all reach us as
``sqlite3`` errors or ``OSError``: :func:`explain` turns each into the one line a user can act
on (the CLI prints it and exits 1). SQLite's transactions make sure that nothing of the
interrupted work was kept; the message only has to say so.

A database migrated by a newer watcher has migrations this code does not know: it may mean
other things by the same columns, so :func:`refuse_newer` stops before anything is written,
naming the watcher version that wrote it (``schema_versions``).
"""

from __future__ import annotations

import errno
import re
import sqlite3
from pathlib import Path

from sqlite_utils import Database, Migrations

from watcher import __version__
from watcher.errors import WatcherError


class StoreError(WatcherError):
    """The database cannot be opened or written (permissions, a full disk, damage, a newer schema)."""


def explain(exc: BaseException, db_path: str | Path | None = None) -> str:
    """One line for a storage fault: what happened, where, and what to do."""
    if isinstance(exc, sqlite3.Error):
        return _sqlite(exc, f"{db_path}: " if db_path else "the database: ")
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        what = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"{where}no space left on the device ({what}); nothing half-written was kept: free some space"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"{where}cannot write here ({what}): check the permissions of the file and its folder"
        if exc.errno == errno.ENOENT:
            return f"{where}no such file or folder"
        return f"{where}{what}"
    return str(exc)


def _sqlite(exc: sqlite3.Error, where: str) -> str:
    code = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if code.startswith("SQLITE_READONLY") or "readonly" in text:
        return (
            f"{where}the database is read-only for this user ({text}): watcher writes to it, and to the -wal,"
            " -shm and lock files beside it, so the file and its folder must be writable"
        )
    if code.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return f"{where}cannot open the database ({text}): its folder must exist and be writable by this user"
    if code.startswith("SQLITE_FULL") or "is full" in text:
        return f"{where}the disk is full ({text}); the interrupted work was rolled back: free some space, run it again"
    if code.startswith("SQLITE_NOTADB") or "not a database" in text:
        return (
            f"{where}not a watcher database, or its header is damaged ({text}): restore it from a backup,"
            " or give another file with --db"
        )
    if code.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return (
            f"{where}the database is damaged ({text}): restore it from a backup"
            " (sqlite3's .recover command may save what is left)"
        )
    if code.startswith("SQLITE_IOERR") or "I/O error" in text:
        return f"{where}the disk failed a read or a write ({text}): check the disk and the file's size"
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return f"{where}the database stayed locked by another process ({text})"
    return f"{where}database error: {text}"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version)[:3])


def refuse_newer(db: Database, migrations: Migrations, db_path: str | Path) -> None:
    """Raise StoreError, before any write, if the database has migrations this watcher does not know."""
    applied = [m.name for m in migrations.applied(db)]
    if not applied:
        return
    known = {m.name for m in migrations.pending(Database(memory=True))}
    unknown = [name for name in applied if name not in known]
    if not unknown:
        return
    versions = []
    if db["schema_versions"].exists():
        marks = ",".join("?" * len(unknown))
        versions = [
            v
            for (v,) in db.execute(
                f"SELECT DISTINCT watcher_version FROM schema_versions WHERE migration IN ({marks})", unknown
            )
            if v
        ]
    needed = f"watcher {max(versions, key=_version_key)} or later" if versions else "a newer watcher"
    raise StoreError(
        f"{db_path}: this database was written by a newer watcher; it needs {needed} (this is watcher"
        f" {__version__}, which does not know its schema changes {', '.join(unknown)}). Nothing was written:"
        " upgrade watcher, or give another file with --db"
    )


def record_versions(db: Database, migrations: Migrations, now: str) -> None:
    """Note the watcher version that applied each migration, so an older watcher can say which one it needs.

    Writes only when a migration is not noted yet (after migrating): opening a database to read
    it writes nothing, so a read-only file can still be read.
    """
    noted = {m for (m,) in db.execute("SELECT migration FROM schema_versions")}
    missing = [m.name for m in migrations.applied(db) if m.name not in noted]
    if missing:
        with db.atomic():
            db.conn.executemany(
                "INSERT OR IGNORE INTO schema_versions (migration, watcher_version, recorded_at) VALUES (?, ?, ?)",
                [(name, __version__, now) for name in missing],
            )
