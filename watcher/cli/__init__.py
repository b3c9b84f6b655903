"""The ``watcher`` command line: parse options, call the library, turn errors into messages and exit codes.

Exit codes: 0 every watch succeeded; 1 some watch failed (the others still ran);
2 usage or configuration error.

The group and its shared state live in :mod:`watcher.cli.base`; each module beside it
registers one family of commands on that group when imported here.
"""

from __future__ import annotations

from watcher.cli import pipeline, publish, reading, vendors  # noqa: F401  (importing registers their commands)
from watcher.cli.base import cli

__all__ = ["cli"]

if __name__ == "__main__":  # pragma: no cover
    cli()
