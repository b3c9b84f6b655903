"""``watcher ui``: the database in Datasette, with our descriptions and canned queries."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from watcher.errors import ConfigError
from watcher.store import schema_doc


def serve(db_path: Path, port: int) -> int:
    """Run ``datasette serve`` on 127.0.0.1 until it exits; its exit code.

    Datasette is an optional extra (``watcher[ui]``): looked up on PATH, then beside this Python.
    """
    datasette = shutil.which("datasette") or str(Path(sys.executable).parent / "datasette")
    if not Path(datasette).exists():
        raise ConfigError('Datasette is not installed: pip install "watcher[ui]"')
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        fh.write(schema_doc.datasette_json(db_path.stem))
    cmd = [datasette, "serve", str(db_path), "-m", fh.name, "--port", str(port), "--host", "127.0.0.1"]
    return subprocess.call(cmd)  # noqa: S603 - our own paths and flags, no shell
