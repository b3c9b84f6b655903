"""A process-wide request to stop: long jobs check it at safe points and end early, keeping their work.

The daemon sets it on SIGTERM/SIGINT. A poll then stops after the page (or award) it is
processing, commits what it has, and records the run as stopped; SAM.gov walks stop at a
page boundary and resume there; a backfill stops between slices. Nothing is half-written,
and nothing waits for the next request to time out.
"""

from __future__ import annotations

import threading

_STOP = threading.Event()


def request() -> None:
    _STOP.set()


def requested() -> bool:
    return _STOP.is_set()


def reset() -> None:
    """For tests and for a process that starts a new job after a stop was handled."""
    _STOP.clear()


MESSAGE = "stopped early (SIGTERM/SIGINT) after the page in progress; what was read is kept, the rest is read next poll"
